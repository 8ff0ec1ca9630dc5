package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

func TestBadFlagsAreOneLineAndExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"edge", "--cache-size", "12XB"}, nil, "--cache-size"},
		{[]string{"edge", "--chunk-size", "-1"}, nil, "--chunk-size"},
		{[]string{"edge", "--no-such-flag"}, nil, "--no-such-flag"},
		{[]string{"edge", "--readahead", "many"}, nil, "--readahead"},
		{[]string{"edge", "--log-level", "loud"}, nil, "--log-level"},
		{[]string{"edge", "--access-log", "/nonexistent-dir/access.log"}, nil, "--access-log"},
		{[]string{"edge"}, map[string]string{"EDGECACHE_CACHE_SIZE": "lots"}, "EDGECACHE_CACHE_SIZE"},
		{[]string{"origin"}, nil, "--dir"},
		{[]string{"nonsense"}, nil, "unknown command"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, func(k string) string { return c.env[k] }, &stdout, &stderr)
		msg := stderr.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want exit 2 and one line naming %s", c.args, c.env, code, msg, c.want)
		}
	}
}

func TestHelpListsEveryFlagWithItsEnvTwin(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"edge", "--help"}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"--cache-size", "EDGECACHE_CACHE_SIZE", "default 512MiB", "--origin", "EDGECACHE_ORIGIN"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512MiB": 512 << 20, "1GiB": 1 << 30, "1.5GiB": 3 << 29, "4k": 4 << 10, "10MB": 10e6, " 2 MiB ": 2 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1XB", "-1", "1e3", "9999999TiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// The edge command, configured through flags and env twins, serves an
// origin's bytes, and logs the request to its access log.
func TestEdgeCommandServes(t *testing.T) {
	originURL := startOrigin(t, []string{"--synthetic"}, nil)
	accessLog := filepath.Join(t.TempDir(), "access.log")
	// GOMEMLIMIT set: the edge must not set the test process's limit.
	env := map[string]string{"EDGECACHE_ORIGIN": originURL, "EDGECACHE_CHUNK_SIZE": "64KiB", "GOMEMLIMIT": "off",
		"EDGECACHE_ACCESS_LOG": accessLog}
	start, stop := startEdgeCommand(t, env)
	defer func() {
		if !stop() {
			return
		}
		// Stopping wrote the access log out: one line, the one request.
		b, err := os.ReadFile(accessLog)
		var line struct {
			URI    string `json:"uri"`
			Status int    `json:"status"`
			Bytes  int64  `json:"bytes"`
			Cache  string `json:"cache"`
		}
		if err != nil || bytes.Count(b, []byte("\n")) != 1 || json.Unmarshal(b, &line) != nil {
			t.Fatalf("access log: %v\n%s", err, b)
		}
		if line.URI != origin.SyntheticPath(300<<10, "cli.mp4") || line.Status != 206 || line.Bytes != 200001-65000 || line.Cache != "miss" {
			t.Errorf("access log line %+v", line)
		}
	}()

	const size = 300 << 10
	path := origin.SyntheticPath(size, "cli.mp4")
	want := make([]byte, size)
	origin.SyntheticFill(want, size, "cli.mp4", 0)
	req, _ := http.NewRequest(http.MethodGet, "http://"+start.Client+path, nil)
	req.Header.Set("Range", "bytes=65000-200000")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[65000:200001]) {
		t.Fatalf("status %d, %d bytes, identical=%v", res.StatusCode, len(body), bytes.Equal(body, want[65000:200001]))
	}
	if res.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("Content-Type %q", res.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		res, err := http.Get("http://" + start.Admin + p)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("%s: %v %v", p, res, err)
		}
		if res != nil {
			res.Body.Close()
		}
	}
}

func TestMemoryLimitCoversCacheAndOverhead(t *testing.T) {
	for _, cache := range []int64{16 << 20, 1 << 30, 8 << 30} {
		if got := memoryLimit(cache); got <= cache+memoryOverhead {
			t.Errorf("memoryLimit(%d) = %d leaves no room for garbage", cache, got)
		}
	}
}

// edgeAddrs are the listener addresses an edge logs when it starts.
type edgeAddrs struct{ Client, Admin, Peer string }

// startEdgeCommand runs `edgecache edge` in process on loopback ports with
// env and the extra args, and returns its addresses once it logs them.
// stop ends it and reports whether it exited cleanly within 30 s (failing
// the test otherwise).
func startEdgeCommand(t *testing.T, env map[string]string, args ...string) (edgeAddrs, func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runEdge(ctx, append([]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
			"--log-format", "json", "--cache-size", "16MiB"}, args...),
			func(k string) string { return env[k] }, io.Discard, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var start edgeAddrs
	for lines.Scan() {
		if json.Unmarshal(lines.Bytes(), &start) == nil && start.Client != "" {
			break
		}
	}
	if start.Client == "" {
		cancel()
		t.Fatalf("edge exited before logging its address: %v", <-done)
	}
	go func() {
		for lines.Scan() {
		}
	}()
	stop := func() bool {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runEdge = %v", err)
			}
			return true
		case <-time.After(30 * time.Second):
			t.Error("edge did not stop")
			return false
		}
	}
	return start, stop
}
