package edge

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
	"github.com/edgecache/edgecache/internal/testcert"
)

func TestTLSConfigValidation(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	cert, key := ca.Leaf(t, "edge")
	for name, c := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"cert without key":      {func(c *Config) { c.TLSCertFile = cert }, "both a certificate and a key"},
		"key without cert":      {func(c *Config) { c.TLSKeyFile = key }, "both a certificate and a key"},
		"peer cert without CA":  {func(c *Config) { c.PeerTLSCertFile, c.PeerTLSKeyFile = cert, key }, "all three"},
		"peer CA alone":         {func(c *Config) { c.PeerTLSCAFile = ca.File }, "all three"},
		"missing cert file":     {func(c *Config) { c.TLSCertFile, c.TLSKeyFile = cert+".missing", key }, "client TLS"},
		"key of another cert":   {func(c *Config) { _, other := ca.Leaf(t, "other"); c.TLSCertFile, c.TLSKeyFile = cert, other }, "client TLS"},
		"CA file without a PEM": {func(c *Config) { c.PeerTLSCertFile, c.PeerTLSKeyFile, c.PeerTLSCAFile = cert, key, key }, "no PEM certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1")
			c.mutate(&cfg)
			n, err := New(cfg)
			if err == nil {
				n.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// A player over HTTPS gets the same bytes as over HTTP; a plain HTTP
// request to the TLS listener is not served.
func TestTLSClientListener(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	cert, key := ca.Leaf(t, "edge")
	org := newTestOrigin(t)
	data := randomBytes(mrand.New(mrand.NewPCG(4, 4)), 300<<10)
	org.put("/tls.mp4", &testObject{data: data, etag: `"t"`, modTime: confModTime})
	n := startNode(t, org.URL(), func(cfg *Config) { cfg.TLSCertFile, cfg.TLSKeyFile = cert, key })
	hc := ca.Client()
	defer hc.CloseIdleConnections()
	for _, rng := range []string{"", "bytes=1000-200000", "bytes=-5"} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+n.Addr()+"/tls.mp4", nil)
		want, status := data, http.StatusOK
		if rng != "" {
			req.Header.Set("Range", rng)
			status = http.StatusPartialContent
			if rng == "bytes=-5" {
				want = data[len(data)-5:]
			} else {
				want = data[1000:200001]
			}
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != status || !bytes.Equal(body, want) || res.TLS == nil {
			t.Fatalf("%q: %v status %d identical=%v tls=%v", rng, err, res.StatusCode, bytes.Equal(body, want), res.TLS != nil)
		}
	}
	rc := dialRaw(t, n.Addr())
	rc.send(t, get("/tls.mp4"))
	if out := rc.rest(t); bytes.Contains(out, data[:64]) || bytes.HasPrefix(out, []byte("HTTP/1.1 200")) {
		t.Errorf("plain HTTP on the TLS listener was served: %q", trunc(out))
	}
}

// A ring with peer TLS fills and rebuilds over mutual TLS: the origin
// serves each chunk once and edges serve chunks rebuilt from peers. The
// peer listener serves no plain HTTP.
func TestTLSPeerRing(t *testing.T) {
	ca := testcert.NewCA(t, "cluster-ca")
	org := newTestOrigin(t)
	const chunks = 8
	data := putMovie(org, "/ptls.mp4", chunks)
	c := &testCluster{}
	for i := range 3 {
		cert, key := ca.Leaf(t, fmt.Sprintf("edge%d", i))
		c.addNode(t, org.URL(), func(cfg *Config) {
			cfg.PeerTLSCertFile, cfg.PeerTLSKeyFile, cfg.PeerTLSCAFile = cert, key, ca.File
		})
	}
	c.sync(t)
	c.warm(t, c.nodes[0], "/ptls.mp4", data, chunks)
	for _, n := range c.nodes {
		n.eng.Store().RemoveFunc(func(k engine.StoreKey) bool { return k.Shard == engine.WholeChunk })
	}
	for _, n := range c.nodes[1:] {
		for idx := range chunks {
			readChunk(t, n, "/ptls.mp4", data, idx)
		}
	}
	if got, per := originChunkGets(org, "/ptls.mp4"); got != chunks {
		t.Errorf("origin chunk reads %d, want %d: %v", got, chunks, per)
	}
	var peer int64
	for _, n := range c.nodes {
		st := n.Stats()
		peer += st.SentPeer
		if st.PeerRefused != 0 || st.Suspects != 0 {
			t.Errorf("%s: %d refused, %d suspects", n.Advertise(), st.PeerRefused, st.Suspects)
		}
	}
	if peer == 0 {
		t.Error("no chunk was rebuilt from peers")
	}
	rc := dialRaw(t, c.nodes[0].PeerAddr())
	rc.send(t, "GET "+peerwire.PingPath+" HTTP/1.1\r\nHost: p\r\n\r\n")
	if out := rc.rest(t); bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
		t.Errorf("plain HTTP on the peer TLS listener was answered: %q", trunc(out))
	}
}

// A node whose certificate another CA signed cannot talk to the ring,
// though it has the cluster secret: members refuse its connections (counted
// and logged) and it refuses theirs. Its players still get the right bytes,
// from the origin.
func TestTLSPeerFromAnotherCA(t *testing.T) {
	ca, other := testcert.NewCA(t, "cluster-ca"), testcert.NewCA(t, "other-ca")
	org := newTestOrigin(t)
	data := putMovie(org, "/ca.mp4", 4)
	logs := &logCapture{}
	c := &testCluster{}
	for i := range 2 {
		cert, key := ca.Leaf(t, fmt.Sprintf("edge%d", i))
		c.addNode(t, org.URL(), func(cfg *Config) {
			cfg.PeerTLSCertFile, cfg.PeerTLSKeyFile, cfg.PeerTLSCAFile = cert, key, ca.File
			cfg.Logger = slog.New(logs)
		})
	}
	cert, key := other.Leaf(t, "intruder")
	foreignLogs := &logCapture{}
	intruder := c.addNode(t, org.URL(), func(cfg *Config) {
		// It trusts the cluster's CA, so only its own certificate is
		// wrong: the members must be the ones that refuse it.
		cfg.PeerTLSCertFile, cfg.PeerTLSKeyFile, cfg.PeerTLSCAFile = cert, key, ca.File
		cfg.Logger = slog.New(foreignLogs)
	})
	c.sync(t)
	for idx := range 4 {
		readChunk(t, intruder, "/ca.mp4", data, idx)
	}
	var refused int64
	for _, n := range c.nodes[:2] {
		refused += n.Stats().PeerRefused
	}
	if refused == 0 {
		t.Error("no member refused the intruder's certificate")
	}
	if !logs.has(slog.LevelWarn, "peer connection refused") {
		t.Error("the refusal was not logged")
	}
	if !foreignLogs.has(slog.LevelWarn, "peer failed") {
		t.Error("the intruder did not log its failed peer requests")
	}
	if s := scrape(t, c.nodes[0]).sum(t, "edgecache_peer_refused_total"); s == 0 {
		t.Error("edgecache_peer_refused_total did not count the refusal")
	}
	// The members serve as before.
	readChunk(t, c.nodes[0], "/ca.mp4", data, 0)
}

// A certificate rotated in place (as cert-manager or a renewed Kubernetes
// Secret does) is served from the next handshakes on, without a restart;
// a rotation that leaves files which do not load keeps the last good
// certificate and says so. Peer certificates and the CA reload the same way
// (tlsreload is shared).
func TestTLSCertificateRotation(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	install := func(name string) { ca.Install(t, name, certFile, keyFile) }
	install("first")
	logs := &logCapture{}
	org := newTestOrigin(t)
	n := startNode(t, org.URL(), func(cfg *Config) {
		cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
		cfg.Logger = slog.New(logs)
	})
	served := func() string {
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		c, err := tls.Dial("tcp", n.Addr(), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	install("second")
	waitFor(t, "the rotated certificate to be served", func() bool { return served() == "second" })
	if !logs.has(slog.LevelInfo, "TLS files reloaded") {
		t.Error("the reload was not logged")
	}

	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Handshakes look at the files; each must still get the last good
	// certificate.
	waitFor(t, "the broken rotation to be noticed", func() bool {
		if got := served(); got != "second" {
			t.Fatalf("after a broken rotation served %q, want the last good one", got)
		}
		return logs.has(slog.LevelWarn, "TLS files changed but do not load")
	})
}
