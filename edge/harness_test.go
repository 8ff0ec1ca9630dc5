package edge

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/forward"
)

// testObject is one object of a test origin.
type testObject struct {
	data         []byte
	etag         string
	modTime      time.Time
	contentType  string
	cacheControl string
}

// testOrigin serves objects with net/http's ServeContent, the oracle the
// edge is compared with, and counts what it is asked.
type testOrigin struct {
	mu      sync.Mutex
	objects map[string]*testObject
	ranges  map[string]int // "path range" -> GETs with that Range
	gets    int
	heads   int
	last    string // the method of the last request
	srv     *httptest.Server
}

func newTestOrigin(t testing.TB) *testOrigin {
	o := &testOrigin{objects: map[string]*testObject{}, ranges: map[string]int{}}
	o.srv = httptest.NewServer(o)
	t.Cleanup(o.srv.Close)
	return o
}

func (o *testOrigin) URL() string { return o.srv.URL }

func (o *testOrigin) put(path string, obj *testObject) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if obj.contentType == "" {
		obj.contentType = "video/mp4"
	}
	if obj.cacheControl == "" {
		obj.cacheControl = "public, max-age=3600"
	}
	o.objects[path] = obj
}

func (o *testOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	obj := o.objects[r.URL.Path]
	o.last = r.Method
	if r.Method == http.MethodHead {
		o.heads++
	} else {
		o.gets++
		o.ranges[r.URL.Path+" "+r.Header.Get("Range")]++
	}
	o.mu.Unlock()
	if obj == nil {
		http.NotFound(w, r)
		return
	}
	serveOracle(w, r, obj)
}

// serveOracle answers r for obj exactly as a well-behaved origin would.
func serveOracle(w http.ResponseWriter, r *http.Request, obj *testObject) {
	h := w.Header()
	h.Set("Content-Type", obj.contentType)
	h.Set("Cache-Control", obj.cacheControl)
	if obj.etag != "" {
		h.Set("ETag", obj.etag)
	}
	http.ServeContent(w, r, "", obj.modTime, bytes.NewReader(obj.data))
}

func (o *testOrigin) counts() (gets, heads int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gets, o.heads
}

// lastMethod is the method of the last request the origin saw.
func (o *testOrigin) lastMethod() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// rangeGets returns how many GETs asked for each Range of path.
func (o *testOrigin) rangeGets(path string) map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string]int{}
	for k, v := range o.ranges {
		if p, rng, _ := strings.Cut(k, " "); p == path {
			m[rng] = v
		}
	}
	return m
}

// testConfig is the default configuration with every listener on a free
// loopback port.
func testConfig(originURL string) Config {
	cfg := DefaultConfig()
	cfg.Origin = originURL
	cfg.Listen, cfg.AdminListen, cfg.PeerListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

// startNode runs an edge in front of originURL until the test ends.
func startNode(t testing.TB, originURL string, mutate func(*Config)) *Node {
	t.Helper()
	cfg := testConfig(originURL)
	cfg.CacheSize, cfg.ChunkSize = 64<<20, 4<<10
	if mutate != nil {
		mutate(&cfg)
	}
	n, _ := runNode(t, cfg)
	return n
}

// runNode starts an edge of cfg; stop ends it (once, whoever calls it
// first: the test, as a restart does, or its cleanup).
func runNode(t testing.TB, cfg Config) (n *Node, stop func()) {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Run(ctx); err != nil {
			t.Errorf("node: %v", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return n, stop
}

// testClient talks to edges and oracles without compression or redirects.
var testClient = &http.Client{
	Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
	Timeout:   20 * time.Second,
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, method, url string, hdr http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s %v: %v", method, url, hdr, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s %v: reading body: %v", method, url, hdr, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// lookupObject looks key up on n as a request without fields would, and
// returns the stored object found.
func lookupObject(n *Node, ctx context.Context, key string) (*engine.Object, error) {
	r, err := n.eng.Lookup(ctx, engine.NewRequest(key, nil, forward.Client{}))
	return r.Object, err
}

// logCapture is a slog.Handler that keeps every message, for tests that
// check what a node logs.
type logCapture struct {
	mu   sync.Mutex
	msgs []string // "LEVEL msg"
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

// has reports whether a message containing s was logged at level or above.
func (l *logCapture) has(level slog.Level, s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		lv, msg, _ := strings.Cut(m, " ")
		var got slog.Level
		if got.UnmarshalText([]byte(lv)) == nil && got >= level && strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
