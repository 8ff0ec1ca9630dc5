package edge

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/edgecache/edgecache/edge/internal/tlsreload"
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
// their files change (see tlsreload): a rotated certificate or CA is used
// for the next handshakes without a restart. refused observes a peer
// connection refused for its certificate, with the remote address.
func loadTLS(cfg *Config, refused func(remote string, err error)) (nodeTLS, error) {
	var t nodeTLS
	if cfg.TLSCertFile != "" {
		cert, err := tlsreload.KeyPair(cfg.Logger, cfg.Now, cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return t, fmt.Errorf("client TLS: %w", err)
		}
		t.client = tlsreload.Players(cert)
	}
	if cfg.PeerTLSCertFile != "" {
		cert, err := tlsreload.KeyPair(cfg.Logger, cfg.Now, cfg.PeerTLSCertFile, cfg.PeerTLSKeyFile)
		if err != nil {
			return t, fmt.Errorf("peer TLS: %w", err)
		}
		pool, err := tlsreload.CAPool(cfg.Logger, cfg.Now, cfg.PeerTLSCAFile)
		if err != nil {
			return t, fmt.Errorf("peer TLS: %w", err)
		}
		t.peerServer, t.peerClient = tlsreload.Mutual(cert, pool, refused)
	}
	return t, nil
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
