package edge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Invariant 1 of ARCHITECTURE.md: a response body is byte-identical to the
// origin's bytes for that version and range, whatever path served it.
func TestRandomRangesByteIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	org := newTestOrigin(t)
	const cs = 8 << 10
	objs := map[string][]byte{}
	for i, size := range []int{1, cs - 1, cs, cs + 1, 5*cs + 333, 40 * cs} {
		p := fmt.Sprintf("/v/%d.mp4", i)
		objs[p] = randomBytes(r, size)
		org.put(p, &testObject{data: objs[p], etag: fmt.Sprintf(`"e%d"`, i), modTime: confModTime})
	}
	// A small cache, so that evictions and refills happen during the run.
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize = cs; c.CacheSize = 12 * cs })
	paths := make([]string, 0, len(objs))
	for p := range objs {
		paths = append(paths, p)
	}
	for i := range 400 {
		p := paths[r.IntN(len(paths))]
		data := objs[p]
		size := int64(len(data))
		a := r.Int64N(size)
		b := a + r.Int64N(min(size-a, 3*cs))
		res := do(t, http.MethodGet, "http://"+n.Addr()+p, http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", a, b)}})
		if res.status != http.StatusPartialContent || !bytes.Equal(res.body, data[a:b+1]) {
			t.Fatalf("request %d: %s bytes=%d-%d: status %d, %d bytes, identical=%v", i, p, a, b, res.status, len(res.body), bytes.Equal(res.body, data[a:b+1]))
		}
	}
	for p, data := range objs {
		res := do(t, http.MethodGet, "http://"+n.Addr()+p, nil)
		if res.status != http.StatusOK || !bytes.Equal(res.body, data) {
			t.Fatalf("%s whole: status %d, identical=%v", p, res.status, bytes.Equal(res.body, data))
		}
	}
}

// Concurrent cold requests for one range share one origin fetch per chunk.
func TestCoalescing(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 64 << 10
	data := randomBytes(rand.New(rand.NewPCG(3, 3)), 10*cs)
	org.put("/movie.mp4", &testObject{data: data, etag: `"m1"`, modTime: confModTime})
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize = cs })
	a, b := int64(cs/2), int64(6*cs+100)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			<-start
			res := do(t, http.MethodGet, "http://"+n.Addr()+"/movie.mp4", http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", a, b)}})
			if res.status != http.StatusPartialContent || !bytes.Equal(res.body, data[a:b+1]) {
				errs <- fmt.Errorf("status %d, identical=%v", res.status, bytes.Equal(res.body, data[a:b+1]))
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every chunk of the range, and the ones a sequential player reads
	// next (Config.ReadaheadNext, to the object's end), once each, once
	// the readahead fetches (which outlive the responses) are done.
	waitFor(t, "the readahead fetches to end", func() bool { return len(n.ahead.slots) == 0 })
	got := org.rangeGets("/movie.mp4")
	for idx := a / cs; idx <= min(b/cs+int64(n.cfg.ReadaheadNext), 9); idx++ {
		rng := fmt.Sprintf("bytes=%d-%d", idx*cs, (idx+1)*cs-1)
		if got[rng] != 1 {
			t.Errorf("chunk %d fetched %d times, want 1", idx, got[rng])
		}
		delete(got, rng)
	}
	if len(got) > 0 {
		t.Errorf("unexpected origin reads: %v", got)
	}
	// No HEAD: the GET of the first chunk says what the object is.
	if _, heads := org.counts(); heads != 0 {
		t.Errorf("%d HEAD requests, want none", heads)
	}
	if n.Stats().Coalesced == 0 {
		t.Error("no request was counted as coalesced")
	}
}

// A working set ten times the cache keeps the chunk store within its byte
// budget at every moment.
func TestCacheStaysWithinBudget(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 16 << 10
	const cacheSize = 32 * cs
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 10 {
		org.put(fmt.Sprintf("/o%d", i), &testObject{data: randomBytes(r, 32*cs), etag: fmt.Sprintf(`"o%d"`, i), modTime: confModTime})
	}
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize = cs; c.CacheSize = cacheSize })
	stop := make(chan struct{})
	var peak int64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				peak = max(peak, n.Stats().CacheBytes)
			}
		}
	})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				p := fmt.Sprintf("/o%d", (w+i)%10)
				if res := do(t, http.MethodGet, "http://"+n.Addr()+p, nil); res.status != http.StatusOK {
					t.Errorf("%s: %d", p, res.status)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	st := n.Stats()
	if peak > cacheSize || st.CacheBytes > cacheSize {
		t.Fatalf("cache held %d bytes at peak, %d at the end; budget %d", peak, st.CacheBytes, cacheSize)
	}
	if st.CacheEntries == 0 {
		t.Fatal("nothing cached")
	}
	t.Logf("peak %d of %d bytes, %d chunks at the end", peak, cacheSize, st.CacheEntries)
}

func TestMethodsAndBadPaths(t *testing.T) {
	org := newTestOrigin(t)
	org.put("/a.ts", &testObject{data: []byte("hello"), etag: `"a"`, modTime: confModTime, contentType: "video/mp2t"})
	n := startNode(t, org.URL(), nil)
	// Other methods are relayed to the origin and its answer back; the
	// operator's refused ones (CONNECT and TRACE by default) get 405.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions, "PATCH", "PURGE"} {
		res := do(t, m, "http://"+n.Addr()+"/a.ts", nil)
		if res.status != http.StatusOK || res.header.Get("X-Cache") != "MISS" || org.lastMethod() != m {
			t.Errorf("%s: status %d X-Cache %q, the origin saw %s", m, res.status, res.header.Get("X-Cache"), org.lastMethod())
		}
	}
	for _, m := range []string{http.MethodTrace, http.MethodConnect} {
		res := do(t, m, "http://"+n.Addr()+"/a.ts", nil)
		if res.status != http.StatusMethodNotAllowed || !strings.Contains(res.header.Get("Allow"), "GET, HEAD, POST") || len(res.body) == 0 {
			t.Errorf("%s: status %d Allow %q body %q", m, res.status, res.header.Get("Allow"), res.body)
		}
	}
	// The operator's own list replaces the default one.
	strict := startNode(t, org.URL(), func(c *Config) { c.RefuseMethods = []string{"DELETE", "PUT"} })
	for m, want := range map[string]int{http.MethodDelete: 405, http.MethodPut: 405, http.MethodTrace: 200, http.MethodPost: 200} {
		res := do(t, m, "http://"+strict.Addr()+"/a.ts", nil)
		if res.status != want || (want == 405 && res.header.Get("Allow") != "GET, HEAD, POST, PATCH, OPTIONS") {
			t.Errorf("refusing DELETE and PUT, %s: status %d Allow %q; want %d", m, res.status, res.header.Get("Allow"), want)
		}
	}
	res := do(t, http.MethodGet, "http://"+n.Addr()+"/missing", nil)
	if res.status != http.StatusNotFound {
		t.Errorf("missing object: %d", res.status)
	}
	res = do(t, http.MethodGet, "http://"+n.Addr()+"/x/../a.ts", nil)
	if res.status != http.StatusOK || string(res.body) != "hello" {
		t.Errorf("dot segments: %d %q", res.status, res.body)
	}
	if got := res.header.Get("Content-Type"); got != "video/mp2t" {
		t.Errorf("Content-Type %q", got)
	}
	res = do(t, http.MethodGet, "http://"+n.Addr()+"/a%3Fb", nil)
	if res.status != http.StatusBadRequest {
		t.Errorf("encoded '?': %d", res.status)
	}
}

func TestXCacheAndCacheStatus(t *testing.T) {
	org := newTestOrigin(t)
	org.put("/s.m4s", &testObject{data: make([]byte, 20<<10), etag: `"s"`, modTime: confModTime})
	n := startNode(t, org.URL(), nil)
	url := "http://" + n.Addr() + "/s.m4s"
	first := do(t, http.MethodGet, url, nil)
	second := do(t, http.MethodGet, url, nil)
	if first.header.Get("X-Cache") != "MISS" || !strings.Contains(first.header.Get("Cache-Status"), "fwd=miss; stored") {
		t.Errorf("first: X-Cache %q Cache-Status %q", first.header.Get("X-Cache"), first.header.Get("Cache-Status"))
	}
	if second.header.Get("X-Cache") != "HIT" || !strings.HasPrefix(second.header.Get("Cache-Status"), "edgecache; hit") {
		t.Errorf("second: X-Cache %q Cache-Status %q", second.header.Get("X-Cache"), second.header.Get("Cache-Status"))
	}
	if first.header.Get("Cache-Control") != "public, max-age=3600" {
		t.Errorf("Cache-Control not passed through: %q", first.header.Get("Cache-Control"))
	}
}

// no-store and private responses are streamed but never stored or shared.
func TestNoStoreIsNotCached(t *testing.T) {
	org := newTestOrigin(t)
	org.put("/live.ts", &testObject{data: []byte("segment"), etag: `"l"`, modTime: confModTime, cacheControl: "private, max-age=60"})
	n := startNode(t, org.URL(), nil)
	for range 3 {
		res := do(t, http.MethodGet, "http://"+n.Addr()+"/live.ts", nil)
		if res.status != http.StatusOK || string(res.body) != "segment" || res.header.Get("X-Cache") != "MISS" {
			t.Fatalf("status %d body %q X-Cache %q", res.status, res.body, res.header.Get("X-Cache"))
		}
	}
	if gets, _ := org.counts(); gets != 3 {
		t.Errorf("origin served the segment %d times, want 3", gets)
	}
	if n.Stats().CacheEntries != 0 {
		t.Error("a private response was stored")
	}
}

// Paths with characters that need escaping reach the origin escaped once,
// canonically, whatever spelling the player used.
func TestEscapedPaths(t *testing.T) {
	org := newTestOrigin(t)
	org.put("/a b/100%.mp4", &testObject{data: []byte("odd name"), etag: `"o"`, modTime: confModTime})
	n := startNode(t, org.URL(), nil)
	for _, p := range []string{"/a%20b/100%25.mp4", "/a%20b/./100%25.mp4", "/x/../a%20b/100%25.mp4"} {
		res := do(t, http.MethodGet, "http://"+n.Addr()+p, nil)
		if res.status != http.StatusOK || string(res.body) != "odd name" {
			t.Errorf("%s: %d %q", p, res.status, res.body)
		}
	}
}

// On stop, an edge fails its readiness at once and lets the responses in
// flight finish.
func TestGracefulStopDrains(t *testing.T) {
	org := newTestOrigin(t)
	data := randomBytes(rand.New(rand.NewPCG(8, 8)), 8<<20)
	org.put("/long.mp4", &testObject{data: data, etag: `"l"`, modTime: confModTime})
	cfg := testConfig(org.URL())
	cfg.ChunkSize, cfg.ShutdownGrace = 64<<10, 10*time.Second
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(t, "readiness", func() bool {
		res, err := http.Get("http://" + n.AdminAddr() + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	res, err := http.Get("http://" + n.Addr() + "/long.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}
	cancel()
	waitFor(t, "readiness to fail", func() bool {
		res, err := http.Get("http://" + n.AdminAddr() + "/readyz")
		if err != nil {
			return true // the admin listener is already closed: not ready either
		}
		res.Body.Close()
		return res.StatusCode == http.StatusServiceUnavailable
	})
	rest, err := io.ReadAll(res.Body)
	if err != nil || !bytes.Equal(append(first, rest...), data) {
		t.Fatalf("in-flight response: %v, %d of %d bytes", err, 1+len(rest), len(data))
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
