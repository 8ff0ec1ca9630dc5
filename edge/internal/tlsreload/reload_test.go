package tlsreload

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/edgecache/edgecache/internal/testcert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// A key pair is loaded again when its files change, at most once a second
// of its clock, and a change that does not load keeps the last good one.
func TestKeyPairReloads(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	install := func(name string) { ca.Install(t, name, certFile, keyFile) }
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	install("first")
	kp, err := KeyPair(slog.New(slog.DiscardHandler), clock, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	name := func() string { return kp.Get().Leaf.Subject.CommonName }
	if got := name(); got != "first" {
		t.Fatalf("loaded %q, want first", got)
	}
	install("second")
	// A later modification time than the first files', whatever the file
	// system's resolution.
	later := time.Now().Add(time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := name(); got != "first" {
		t.Errorf("within a second of the last look: %q, want first", got)
	}
	now = now.Add(recheckFiles)
	if got := name(); got != "second" {
		t.Errorf("a second later: %q, want second", got)
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(recheckFiles)
	if got := name(); got != "second" {
		t.Errorf("after files that do not load: %q, want the last good one", got)
	}
	if _, err := KeyPair(slog.New(slog.DiscardHandler), clock, certFile, keyFile); err == nil {
		t.Error("a first load of files that do not load succeeded")
	}
}
