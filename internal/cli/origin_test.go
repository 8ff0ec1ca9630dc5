package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// startOrigin runs the origin command until the test ends and returns the
// URL it logged. The log is JSON so that the URL is read, not scraped.
func startOrigin(t *testing.T, args []string, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runOrigin(ctx, append([]string{"--listen", "127.0.0.1:0", "--log-format", "json"}, args...),
			func(k string) string { return env[k] }, io.Discard, pw)
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

func httpGet(t *testing.T, url, rng string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestRunOriginServesSynthetic(t *testing.T) {
	base := startOrigin(t, []string{"--synthetic"}, nil)
	const size = 3 << 20
	want := make([]byte, size)
	origin.SyntheticFill(want, size, "v.mp4", 0)
	code, body := httpGet(t, base+origin.SyntheticPath(size, "v.mp4"), "bytes=1000000-2000000")
	if code != http.StatusPartialContent || !bytes.Equal(body, want[1000000:2000001]) {
		t.Fatalf("ranged GET: status %d, %d bytes", code, len(body))
	}
	code, body = httpGet(t, base+origin.StatsPath, "")
	var st origin.ServerStats
	if err := json.Unmarshal(body, &st); code != 200 || err != nil || st.Requests != 1 || st.BodyBytes != 1000001 {
		t.Errorf("stats: status %d, %s (%v)", code, body, err)
	}
}

func TestRunOriginServesDirFromEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.ts"), []byte("segment"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := startOrigin(t, nil, map[string]string{"EDGECACHE_DIR": dir})
	if code, body := httpGet(t, base+"/a.ts", "bytes=3-"); code != 206 || string(body) != "ment" {
		t.Errorf("GET /a.ts: status %d, %q", code, body)
	}
	if code, _ := httpGet(t, base+origin.SyntheticPath(10, "x"), ""); code != 404 {
		t.Errorf("synthetic without --synthetic: status %d, want 404", code)
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
		err := runOrigin(context.Background(), tc.args, func(string) string { return "" }, io.Discard, io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(ue.msg, tc.names) {
			t.Errorf("runOrigin(%q) = %v, want a usage error naming %s", tc.args, err, tc.names)
		}
	}
}

func TestRunOriginListenError(t *testing.T) {
	err := runOrigin(context.Background(), []string{"--synthetic", "--listen", "127.0.0.1:-1"},
		func(string) string { return "" }, io.Discard, io.Discard)
	var ue *usageError
	if err == nil || errors.As(err, &ue) {
		t.Errorf("bad listen address: err = %v, want a runtime error", err)
	}
}

func TestRunOriginHelp(t *testing.T) {
	var out bytes.Buffer
	err := runOrigin(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, io.Discard)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "EDGECACHE_SYNTHETIC") {
		t.Errorf("--help: %v, %q", err, out.String())
	}
}
