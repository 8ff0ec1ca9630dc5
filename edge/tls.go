package edge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// nodeTLS holds the TLS configurations of a node's listeners and of its
// peer client; a nil field means plain HTTP there.
type nodeTLS struct {
	client     *tls.Config // client listener
	peerServer *tls.Config // peer listener: requires a client certificate the cluster CA signed
	peerClient *tls.Config // peer client: presents this node's certificate, accepts the CA's
}

// validateTLS reports the TLS settings of cfg that cannot work together.
func (c *Config) validateTLS() []error {
	var errs []error
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("client TLS needs both a certificate and a key file"))
	}
	set := 0
	for _, f := range []string{c.PeerTLSCertFile, c.PeerTLSKeyFile, c.PeerTLSCAFile} {
		if f != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		errs = append(errs, errors.New("peer TLS needs a certificate, a key and a CA file, all three"))
	}
	return errs
}

// loadTLS reads the certificates cfg names. They are read again when
// their files change (see reloading): a rotated certificate or CA is used
// for the next handshakes without a restart. refused observes a peer
// connection refused for its certificate, with the remote address.
func loadTLS(cfg *Config, refused func(remote string, err error)) (nodeTLS, error) {
	var t nodeTLS
	if cfg.TLSCertFile != "" {
		cert, err := keyPair(cfg.Logger, cfg.Now, cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return t, fmt.Errorf("client TLS: %w", err)
		}
		t.client = &tls.Config{
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.get(), nil },
			MinVersion:     tls.VersionTLS12, // players include older devices
			NextProtos:     []string{"http/1.1"},
		}
	}
	if cfg.PeerTLSCertFile != "" {
		cert, err := keyPair(cfg.Logger, cfg.Now, cfg.PeerTLSCertFile, cfg.PeerTLSKeyFile)
		if err != nil {
			return t, fmt.Errorf("peer TLS: %w", err)
		}
		pool, err := caPool(cfg.Logger, cfg.Now, cfg.PeerTLSCAFile)
		if err != nil {
			return t, fmt.Errorf("peer TLS: %w", err)
		}
		t.peerServer, t.peerClient = peerTLS(cert, pool, refused)
	}
	return t, nil
}

// peerTLS builds mutual TLS between edges: both ends present a certificate
// the cluster CA signed and accept only such certificates. Names and
// addresses in the certificates are not checked: peers are addressed by the
// IP they advertise, which a platform such as Kubernetes assigns only when
// the pod starts, so the CA must be the cluster's own: whatever it signs is
// a member. The certificates need the serverAuth and clientAuth extended key
// usages (or none). TLS 1.3 only: every member is an edgecache. A client
// certificate the CA did not sign is reported to refused before the
// handshake fails.
func peerTLS(cert *reloading[*tls.Certificate], pool *reloading[*x509.CertPool], refused func(remote string, err error)) (server, client *tls.Config) {
	base := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.get(), nil },
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
				err := verifyChain(cs.PeerCertificates, pool.get(), x509.ExtKeyUsageClientAuth)
				if err != nil {
					refused(remote, err)
				}
				return err
			}
			return c, nil
		},
	}
	client = &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert.get(), nil },
		MinVersion:           tls.VersionTLS13,
		// The standard verification would also match the server's name
		// or IP against the certificate, which peers cannot have (see
		// above). It is turned off only to be replaced: VerifyConnection
		// checks the chain against the cluster CA on every handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, pool.get(), x509.ExtKeyUsageServerAuth)
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

// tlsListener returns ln as a server should serve it: ln itself, or TLS over it. The
// tracking listener stays underneath, so that Close still cuts every
// connection.
func tlsListener(ln net.Listener, cfg *tls.Config) net.Listener {
	if cfg == nil {
		return ln
	}
	return tls.NewListener(ln, cfg)
}
