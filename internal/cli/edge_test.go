package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/testutil"
	"github.com/edgecache/edgecache/origin"
)

func TestBadFlagsAreOneLineAndExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"edge", "--cache-size", "12XB"}, withOrigin, "--cache-size"},
		{[]string{"edge", "--chunk-size", "-1"}, withOrigin, "--chunk-size"},
		{[]string{"edge", "--no-such-flag"}, withOrigin, "--no-such-flag"},
		{[]string{"edge", "--readahead", "many"}, withOrigin, "--readahead"},
		{[]string{"edge", "--log-level", "loud"}, withOrigin, "--log-level"},
		{[]string{"edge", "--access-log", "/nonexistent-dir/access.log"}, withOrigin, "--access-log"},
		{[]string{"edge"}, map[string]string{"EDGECACHE_CACHE_SIZE": "lots", "EDGECACHE_ORIGIN": testOrigin}, "EDGECACHE_CACHE_SIZE"},
		{[]string{"origin"}, nil, "--dir"},
		{[]string{"nonsense"}, nil, "unknown command"},
	} {
		code, _, msg := runCmd(t, c.args, c.env)
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want exit 2 and one line naming %s", c.args, c.env, code, msg, c.want)
		}
	}
}

// withOrigin is the environment of an edge that has its one required flag.
var withOrigin = map[string]string{"EDGECACHE_ORIGIN": testOrigin}

// A value that is almost right (a URL without its scheme, a duration
// without its unit, a bare port) is one line that says what to write
// instead, exit 2; and an edge without an origin says which flag it
// needs instead of fetching from a made-up one.
func TestAlmostRightValuesSayWhatToWrite(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"edge"}, nil, "--origin is required"},
		{[]string{"edge", "--origin", "127.0.0.1:9000"}, nil, `invalid value "127.0.0.1:9000" for --origin: a URL needs its scheme: write http://127.0.0.1:9000`},
		{[]string{"edge"}, map[string]string{"EDGECACHE_ORIGIN": "origin:9000"}, "for EDGECACHE_ORIGIN: a URL needs its scheme: write http://origin:9000"},
		{[]string{"edge", "--listen", "8080"}, withOrigin, "write 127.0.0.1:8080 (this machine only) or :8080 (every interface)"},
		{[]string{"edge", "--peers", "10.0.0.1:8081,8081"}, withOrigin, "--peers"},
		{[]string{"edge", "--hedge-delay", "25"}, withOrigin, "write 25s"},
		{[]string{"bench", "--target", "http://127.0.0.1:1", "--duration", "10"}, nil, `invalid value "10" for --duration: a duration needs a unit: write 10s`},
		{[]string{"bench", "--target", "edge.example:8080"}, nil, "write http://edge.example:8080"},
		{[]string{"bench", "--target", "http://127.0.0.1:1", "--bitrate", "5"}, nil, "write 5Mbps"},
		{[]string{"demo", "--listen", "8080"}, nil, `invalid value "8080" for --listen: a bare port: write 127.0.0.1:8080`},
		{[]string{"origin", "--synthetic", "--listen", "9000"}, nil, "write 127.0.0.1:9000"},
		{[]string{"healthcheck", "--url", "127.0.0.1:8082/healthz"}, nil, "write http://127.0.0.1:8082/healthz"},
		{[]string{"purge", "--admin", "edge-1:8082", "/a.mp4"}, map[string]string{SecretEnv: "a-secret-of-enough-bytes"}, "write http://edge-1:8082"},
	} {
		code, _, msg := runCmd(t, c.args, c.env)
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, c.env, code, msg, c.want)
		}
	}
}

func TestHelpListsEveryFlagWithItsEnvTwin(t *testing.T) {
	code, stdout, stderr := runCmd(t, []string{"edge", "--help"}, nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"--cache-size", "EDGECACHE_CACHE_SIZE", "default 512MiB", "--origin", "EDGECACHE_ORIGIN", "--node-name", "EDGECACHE_NODE_NAME"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, stdout)
		}
	}
}

// The edge command, configured through flags and env twins, serves an
// origin's bytes, and logs the request to its access log.
func TestEdgeCommandServes(t *testing.T) {
	originURL := startOrigin(t, []string{"--synthetic"}, nil)
	accessLog := filepath.Join(t.TempDir(), "access.log")
	// GOMEMLIMIT set: the edge must not set the test process's limit.
	setenv(t, map[string]string{"EDGECACHE_ORIGIN": originURL, "EDGECACHE_CHUNK_SIZE": "64KiB", "GOMEMLIMIT": "off",
		"EDGECACHE_ACCESS_LOG": accessLog})
	start, stop := startEdgeCommand(t)
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
	res, body := testutil.Get(t, "http://"+start.Client+path, "bytes=65000-200000")
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

// An edge is named by --node-name, the host name by default: its log
// lines carry the name, and its status page and /status.json show it.
func TestEdgeCommandNodeName(t *testing.T) {
	setenv(t, map[string]string{"EDGECACHE_ORIGIN": testOrigin, "GOMEMLIMIT": "off"})
	start, stop := startEdgeCommand(t, "--node-name", "edge west")
	defer stop()
	if start.Node != "edge west" {
		t.Errorf("log line names node %q, want edge west", start.Node)
	}
	var st struct{ Name, Node string }
	if _, body := testutil.Get(t, "http://"+start.Admin+"/status.json", ""); json.Unmarshal(body, &st) != nil || st.Name != "edge west" || st.Node != start.Peer {
		t.Errorf("/status.json: name %q node %q, want edge west and %s", st.Name, st.Node, start.Peer)
	}
	if _, page := testutil.Get(t, "http://"+start.Admin+"/", ""); !bytes.Contains(page, []byte("<h1>edgecache edge edge west <code>")) {
		t.Errorf("the status page does not show the name:\n%.600s", page)
	}

	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	code, out, errs := runCmd(t, []string{"edge", "--print-config"}, withOrigin)
	if code != 0 || !strings.Contains(out, "--node-name="+host+" ") && !strings.Contains(out, "--node-name="+strconv.Quote(host)+" ") {
		t.Errorf("the default name is not the host name %q: exit %d\n%s%s", host, code, out, errs)
	}
}

func TestMemoryLimitCoversCacheAndOverhead(t *testing.T) {
	for _, cache := range []int64{16 << 20, 1 << 30, 8 << 30} {
		if got := MemoryLimit(cache); got <= cache+memoryOverhead {
			t.Errorf("MemoryLimit(%d) = %d leaves no room for garbage", cache, got)
		}
	}
}

// The disk tier's index and write queues count in the memory limit: 100
// GiB of 256 KiB shards is 409,600 entries.
func TestDiskMemory(t *testing.T) {
	cfg := edge.DefaultConfig()
	if got := DiskMemory(cfg); got != 0 {
		t.Errorf("DiskMemory without a disk tier = %d", got)
	}
	cfg.DiskPaths, cfg.DiskSize, cfg.ChunkSize, cfg.DataShards = []string{"/a", "/b"}, 100<<30, 1<<20, 4
	if got, want := DiskMemory(cfg), int64(2*(64<<20+409600*disk.IndexEntryBytes)+disk.IOBufferBytes); got != want {
		t.Errorf("DiskMemory = %d, want %d", got, want)
	}
}

// Go's memory limit is the edge's budget less the disk tier's read
// buffers, which lie outside Go's heap: the budget derived from the
// configuration, or GOMEMLIMIT's when set; an operator's GOMEMLIMIT stands
// as it is for an edge without a disk tier.
func TestGoMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	withDisk := edge.DefaultConfig()
	withDisk.DiskPaths, withDisk.DiskSize = []string{"/a"}, 10<<30
	cases := []struct {
		name string
		env  string
		cfg  edge.Config
		want int64
	}{
		{"derived, disk", "", withDisk, MemoryLimit(withDisk.CacheSize) + DiskMemory(withDisk) - disk.IOBufferBytes},
		{"derived, memory only", "", edge.DefaultConfig(), MemoryLimit(edge.DefaultConfig().CacheSize)},
		{"GOMEMLIMIT, disk", "1GiB", withDisk, 1<<30 - disk.IOBufferBytes},
		{"GOMEMLIMIT, memory only", "1GiB", edge.DefaultConfig(), 1 << 30},
	}
	for _, c := range cases {
		t.Setenv("GOMEMLIMIT", c.env)
		debug.SetMemoryLimit(1 << 30) // as the runtime sets it from GOMEMLIMIT at start
		setGoMemoryLimit(c.cfg)
		if got := debug.SetMemoryLimit(-1); got != c.want {
			t.Errorf("%s: Go's memory limit %d, want %d", c.name, got, c.want)
		}
	}
}

// A disk path the edge cannot write, found only when it opens its file,
// is one line naming the path, exit 2, as a bad flag is: the operator has
// a path to fix, and the edge served nothing. (Tests run as root, which
// any directory lets write: these paths fail for every user.)
func TestUnwritableDiskPathIsOneLineAndExit2(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	taken := filepath.Join(dir, "taken") // its store file's name is a directory
	if err := os.MkdirAll(filepath.Join(taken, "shards.edgecache"), 0o750); err != nil {
		t.Fatal(err)
	}
	// Cancelled: an edge that wrongly started returns at once, exit 0.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, path := range []string{filepath.Join(file, "under"), taken} {
		var out, errs bytes.Buffer
		code := Run(ctx, []string{"edge", "--origin", testOrigin, "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
			"--admin-listen", "127.0.0.1:0", "--disk-path", path, "--disk-size", "64MiB"}, &out, &errs)
		msg := errs.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "edgecache edge: --disk-path: ") || !strings.Contains(msg, path) {
			t.Errorf("--disk-path %s: exit %d, stderr %q; want exit 2 and one line naming the path", path, code, msg)
		}
	}
}

// edgeAddrs are the listener addresses an edge logs when it starts, and
// the name its log lines carry.
type edgeAddrs struct{ Client, Admin, Peer, Node string }

// startEdgeCommand runs `edgecache edge` in process on loopback ports with
// the extra args, and returns its addresses once it logs them.
// stop ends it and reports whether it exited cleanly within 30 s (failing
// the test otherwise).
func startEdgeCommand(t *testing.T, args ...string) (edgeAddrs, func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runEdge(ctx, append([]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
			"--log-format", "json", "--cache-size", "16MiB"}, args...), io.Discard, pw)
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
