package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/internal/testutil"
	"github.com/edgecache/edgecache/origin"
)

// startOrigin runs the origin command with env added to the environment
// until the test ends, and returns the URL it logged. The log is JSON so
// that the URL is read, not scraped.
func startOrigin(t *testing.T, args []string, env map[string]string) string {
	t.Helper()
	setenv(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runOrigin(ctx, append([]string{"--listen", "127.0.0.1:0", "--log-format", "json"}, args...), io.Discard, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		cancel()
		t.Fatalf("origin exited before logging: %v", <-done)
	}
	var start struct{ Msg, URL string }
	if err := json.Unmarshal(lines.Bytes(), &start); err != nil || start.URL == "" {
		t.Fatalf("first log line %q: %v", lines.Text(), err)
	}
	go func() { // keep draining, or logging would block the server
		for lines.Scan() {
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runOrigin after cancel = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("runOrigin did not stop after its context was cancelled")
		}
	})
	return start.URL
}

func TestRunOriginServesSynthetic(t *testing.T) {
	base := startOrigin(t, []string{"--synthetic"}, nil)
	const size = 3 << 20
	want := make([]byte, size)
	origin.SyntheticFill(want, size, "v.mp4", 0)
	res, body := testutil.Get(t, base+origin.SyntheticPath(size, "v.mp4"), "bytes=1000000-2000000")
	if code := res.StatusCode; code != http.StatusPartialContent || !bytes.Equal(body, want[1000000:2000001]) {
		t.Fatalf("ranged GET: status %d, %d bytes", res.StatusCode, len(body))
	}
	res, body = testutil.Get(t, base+origin.StatsPath, "")
	var st origin.ServerStats
	if err := json.Unmarshal(body, &st); res.StatusCode != 200 || err != nil || st.Requests != 1 || st.BodyBytes != 1000001 {
		t.Errorf("stats: status %d, %s (%v)", res.StatusCode, body, err)
	}
}

func TestRunOriginServesDirFromEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.ts"), []byte("segment"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := startOrigin(t, nil, map[string]string{"EDGECACHE_DIR": dir})
	if res, body := testutil.Get(t, base+"/a.ts", "bytes=3-"); res.StatusCode != 206 || string(body) != "ment" {
		t.Errorf("GET /a.ts: status %d, %q", res.StatusCode, body)
	}
	if res, _ := testutil.Get(t, base+origin.SyntheticPath(10, "x"), ""); res.StatusCode != 404 {
		t.Errorf("synthetic without --synthetic: status %d, want 404", res.StatusCode)
	}
}

func TestRunOriginUsageErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		names string // the flag the message must name
	}{
		{[]string{"--nope"}, "nope"},
		{nil, "--dir"},
		{[]string{"--synthetic", "--log-format", "xml"}, "--log-format"},
		{[]string{"--synthetic", "--log-level", "loud"}, "--log-level"},
		{[]string{"--dir", filepath.Join(file, "missing")}, "--dir"},
		{[]string{"--dir", file}, "--dir"},
		{[]string{"--synthetic", "extra"}, "extra"},
	} {
		err := runOrigin(context.Background(), tc.args, io.Discard, io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(ue.msg, tc.names) {
			t.Errorf("runOrigin(%q) = %v, want a usage error naming %s", tc.args, err, tc.names)
		}
	}
}

// An address that cannot be bound is a runtime failure (exit 1), not a
// usage error: nothing on the command line was malformed.
func TestRunOriginListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = runOrigin(context.Background(), []string{"--synthetic", "--listen", ln.Addr().String()}, io.Discard, io.Discard)
	var ue *usageError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("listen address in use: err = %v, want a runtime error naming --listen", err)
	}
}

func TestRunOriginHelp(t *testing.T) {
	var out bytes.Buffer
	err := runOrigin(context.Background(), []string{"--help"}, &out, io.Discard)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "EDGECACHE_SYNTHETIC") {
		t.Errorf("--help: %v, %q", err, out.String())
	}
}
