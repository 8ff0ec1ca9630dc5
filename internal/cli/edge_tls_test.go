package cli

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/internal/testcert"
	"github.com/edgecache/edgecache/origin"
)

// The edge command takes its client TLS from the env twins and its peer
// TLS from flags: players get the origin's bytes over HTTPS, and the peer
// listener answers no plain HTTP.
func TestEdgeCommandTLS(t *testing.T) {
	originURL := startOrigin(t, []string{"--synthetic"}, nil)
	ca := testcert.NewCA(t, "ca")
	cert, key := ca.Leaf(t, "edge")
	peerCert, peerKey := ca.Leaf(t, "peer")
	setenv(t, map[string]string{"EDGECACHE_ORIGIN": originURL, "EDGECACHE_CHUNK_SIZE": "64KiB", "GOMEMLIMIT": "off",
		"EDGECACHE_TLS_CERT": cert, "EDGECACHE_TLS_KEY": key})
	start, stop := startEdgeCommand(t, "--peer-tls-cert", peerCert, "--peer-tls-key", peerKey, "--peer-tls-ca", ca.File)
	defer stop()

	hc := ca.Client()
	defer hc.CloseIdleConnections()
	const size = 200 << 10
	path := origin.SyntheticPath(size, "tls.mp4")
	want := make([]byte, size)
	origin.SyntheticFill(want, size, "tls.mp4", 0)
	res, err := hc.Get("https://" + start.Client + path)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("over HTTPS: %v status %d identical=%v", err, res.StatusCode, bytes.Equal(body, want))
	}
	c, err := net.DialTimeout("tcp", start.Peer, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /peer/v1/ping HTTP/1.1\r\nHost: p\r\n\r\n")
	if out, _ := io.ReadAll(c); strings.HasPrefix(string(out), "HTTP/1.1 ") {
		t.Errorf("plain HTTP on the peer TLS listener was answered: %q", out)
	}
}

func TestEdgeCommandTLSNeedsPairs(t *testing.T) {
	for _, args := range [][]string{
		{"edge", "--tls-cert", "c.pem"},
		{"edge", "--peer-tls-cert", "c.pem", "--peer-tls-key", "k.pem"},
	} {
		code, _, stderr := runCmd(t, args, withOrigin)
		if code == 0 || !strings.Contains(stderr, "TLS") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
