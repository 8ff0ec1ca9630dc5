package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// Players is the TLS of a listener for players: TLS 1.2 or later (players
// include older devices), HTTP/1.1, with cert's current certificate.
func Players(cert *Reloading[*tls.Certificate]) *tls.Config {
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.Get(), nil },
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
	}
}

// Mutual builds mutual TLS between edges: both ends present a certificate
// the cluster CA signed and accept only such certificates. Names and
// addresses in the certificates are not checked: peers are addressed by the
// IP they advertise, which a platform such as Kubernetes assigns only when
// the pod starts, so the CA must be the cluster's own: whatever it signs is
// a member. The certificates need the serverAuth and clientAuth extended key
// usages (or none). TLS 1.3 only: every member is an edgecache. A client
// certificate the CA did not sign is reported to refused before the
// handshake fails.
func Mutual(cert *Reloading[*tls.Certificate], pool *Reloading[*x509.CertPool], refused func(remote string, err error)) (server, client *tls.Config) {
	base := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.Get(), nil },
		// Any certificate is required here, and VerifyConnection checks it
		// as RequireAndVerifyClientCert would, so that a refusal can be
		// counted and logged with the address it came from.
		ClientAuth: tls.RequireAnyClientCert,
		MinVersion: tls.VersionTLS13,
	}
	server = &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			remote := hello.Conn.RemoteAddr().String()
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				err := verifyChain(cs.PeerCertificates, pool.Get(), x509.ExtKeyUsageClientAuth)
				if err != nil {
					refused(remote, err)
				}
				return err
			}
			return c, nil
		},
	}
	client = &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert.Get(), nil },
		MinVersion:           tls.VersionTLS13,
		// The standard verification would also match the server's name
		// or IP against the certificate, which peers cannot have (see
		// above). It is turned off only to be replaced: VerifyConnection
		// checks the chain against the cluster CA on every handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, pool.Get(), x509.ExtKeyUsageServerAuth)
		},
	}
	return server, client
}

// verifyChain checks that certs (leaf first) chain up to a root of pool
// for the given usage.
func verifyChain(certs []*x509.Certificate, pool *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("the peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("peer certificate not signed by the cluster CA: %w", err)
	}
	return nil
}
