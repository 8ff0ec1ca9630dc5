package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1, usable
// by servers and clients and as its own CA, and returns its files and
// parsed certificate.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	for path, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// The edge command takes its client TLS from the env twins and its peer
// TLS from flags: players get the origin's bytes over HTTPS, and the peer
// listener answers no plain HTTP.
func TestEdgeCommandTLS(t *testing.T) {
	originURL := startOrigin(t, []string{"--synthetic"}, nil)
	dir := t.TempDir()
	cert, key, parsed := selfSigned(t, dir, "edge")
	peerCert, peerKey, _ := selfSigned(t, dir, "peer")
	env := map[string]string{"EDGECACHE_ORIGIN": originURL, "EDGECACHE_CHUNK_SIZE": "64KiB", "GOMEMLIMIT": "off",
		"EDGECACHE_TLS_CERT": cert, "EDGECACHE_TLS_KEY": key}
	start, stop := startEdgeCommand(t, env, "--peer-tls-cert", peerCert, "--peer-tls-key", peerKey, "--peer-tls-ca", peerCert)
	defer stop()

	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	const size = 200 << 10
	path := origin.SyntheticPath(size, "tls.mp4")
	want := make([]byte, size)
	origin.SyntheticFill(want, size, "tls.mp4", 0)
	res, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get("https://" + start.Client + path)
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
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), "TLS") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}
