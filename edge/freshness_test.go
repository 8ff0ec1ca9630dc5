package edge

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPolicyFor(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		cc, expires string
		date, lm    time.Time
		want        cachePolicy
	}{
		{cc: "max-age=60", want: cachePolicy{ttl: time.Minute}},
		{cc: "public, max-age=60, s-maxage=10", want: cachePolicy{ttl: 10 * time.Second}},
		{cc: "no-cache, max-age=60", want: cachePolicy{ttl: 0}},
		{cc: "no-store", want: cachePolicy{noStore: true, ttl: 5 * time.Second}},
		{cc: "private, max-age=60", want: cachePolicy{noStore: true, ttl: time.Minute}},
		{cc: "max-age=60, stale-if-error=300", want: cachePolicy{ttl: time.Minute, staleIfError: 5 * time.Minute}},
		{cc: "max-age=99999999999999999999", want: cachePolicy{ttl: (1<<31 - 1) * time.Second}},
		{cc: "max-age=-5", want: cachePolicy{ttl: 5 * time.Second}},
		{expires: now.Add(time.Hour).Format(http.TimeFormat), date: now, want: cachePolicy{ttl: time.Hour}},
		{expires: "0", want: cachePolicy{ttl: 0}},
		{lm: now.Add(-100 * time.Hour), date: now, want: cachePolicy{ttl: 10 * time.Hour}},
		{lm: now.Add(-1000 * time.Hour), want: cachePolicy{ttl: maxHeuristicTTL}},
		{want: cachePolicy{ttl: 5 * time.Second}},
	} {
		got := policyFor(c.cc, c.expires, c.date, c.lm, now, 5*time.Second)
		if got != c.want {
			t.Errorf("Cache-Control %q Expires %q: got %+v, want %+v", c.cc, c.expires, got, c.want)
		}
	}
}

// fakeClock is a settable clock for freshness tests.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

// A stale object is revalidated once for all the requests that find it
// stale, not once per chunk or per request; a changed object is fetched
// anew and its old chunks are never served.
func TestRevalidateOncePerObject(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 4 << 10
	v1 := make([]byte, 6*cs)
	for i := range v1 {
		v1[i] = 1
	}
	org.put("/live.mp4", &testObject{data: v1, etag: `"v1"`, modTime: confModTime, cacheControl: "max-age=10"})
	clock := &fakeClock{}
	clock.t.Store(time.Now().UnixNano())
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize = cs; c.Now = clock.now })
	url := "http://" + n.Addr() + "/live.mp4"
	if res := do(t, http.MethodGet, url, nil); res.status != http.StatusOK {
		t.Fatal(res.status)
	}
	_, heads0 := org.counts()

	clock.advance(11 * time.Second)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if res := do(t, http.MethodGet, url, nil); res.status != http.StatusOK || res.header.Get("X-Cache") != "HIT" {
				t.Errorf("stale but unchanged: %d %s", res.status, res.header.Get("X-Cache"))
			}
		})
	}
	wg.Wait()
	if _, heads := org.counts(); heads != heads0+1 {
		t.Errorf("%d revalidations for 16 requests of one stale object, want 1", heads-heads0)
	}

	v2 := make([]byte, 5*cs)
	for i := range v2 {
		v2[i] = 2
	}
	org.put("/live.mp4", &testObject{data: v2, etag: `"v2"`, modTime: confModTime.Add(time.Hour), cacheControl: "max-age=10"})
	clock.advance(11 * time.Second)
	res := do(t, http.MethodGet, url, nil)
	if res.status != http.StatusOK || len(res.body) != len(v2) || res.body[0] != 2 || res.body[len(res.body)-1] != 2 {
		t.Fatalf("after change: status %d, %d bytes", res.status, len(res.body))
	}
	if res.header.Get("ETag") != `"v2"` {
		t.Errorf("ETag %q after change", res.header.Get("ETag"))
	}
}

// An object that changes at the origin between the edge's metadata and its
// chunk read is looked up again before any byte is sent.
func TestChangedMidRequestIsRetried(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 4 << 10
	org.put("/x.ts", &testObject{data: make([]byte, 3*cs), etag: `"a"`, modTime: confModTime})
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize = cs })
	url := "http://" + n.Addr() + "/x.ts"
	if res := do(t, http.MethodHead, url, nil); res.status != http.StatusOK {
		t.Fatal(res.status)
	}
	newData := make([]byte, 2*cs)
	newData[0] = 9
	org.put("/x.ts", &testObject{data: newData, etag: `"b"`, modTime: confModTime.Add(time.Hour)})
	res := do(t, http.MethodGet, url, http.Header{"Range": {"bytes=0-9"}})
	if res.status != http.StatusPartialContent || res.body[0] != 9 || res.header.Get("ETag") != `"b"` {
		t.Fatalf("status %d ETag %q first byte %d", res.status, res.header.Get("ETag"), res.body[0])
	}
}

func TestOrigin404IsCachedBriefly(t *testing.T) {
	org := newTestOrigin(t)
	clock := &fakeClock{}
	clock.t.Store(time.Now().UnixNano())
	n := startNode(t, org.URL(), func(c *Config) { c.Now = clock.now; c.NegativeTTL = 5 * time.Second })
	url := "http://" + n.Addr() + "/nope"
	for range 3 {
		if res := do(t, http.MethodGet, url, nil); res.status != http.StatusNotFound {
			t.Fatal(res.status)
		}
	}
	if _, heads := org.counts(); heads != 1 {
		t.Errorf("%d origin lookups for a cached 404, want 1", heads)
	}
	org.put("/nope", &testObject{data: []byte("now here"), etag: `"n"`, modTime: confModTime})
	clock.advance(6 * time.Second)
	if res := do(t, http.MethodGet, url, nil); res.status != http.StatusOK || string(res.body) != "now here" {
		t.Fatalf("after the negative TTL: %d %q", res.status, res.body)
	}
}

func TestOriginUnreachableIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	n := startNode(t, "http://"+addr, func(c *Config) { c.OriginRetries = 1 })
	res := do(t, http.MethodGet, "http://"+n.Addr()+"/a", nil)
	if res.status != http.StatusBadGateway || len(res.body) == 0 {
		t.Fatalf("status %d body %q", res.status, res.body)
	}
}

func TestOriginTimeoutIs504(t *testing.T) {
	release := make(chan struct{})
	org := newTestOrigin(t)
	stall := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			<-release
		}
		org.ServeHTTP(w, r)
	})
	org.srv.Config.Handler = stall
	defer close(release)
	org.put("/slow", &testObject{data: make([]byte, 100), etag: `"s"`, modTime: confModTime})
	n := startNode(t, org.URL(), func(c *Config) {
		c.OriginTimeout = 100 * time.Millisecond
		c.OriginRetries = 0
	})
	res := do(t, http.MethodGet, "http://"+n.Addr()+"/slow", nil)
	if res.status != http.StatusGatewayTimeout {
		t.Fatalf("status %d body %q", res.status, res.body)
	}
	// The edge keeps serving: HEAD needs only metadata.
	if res := do(t, http.MethodHead, "http://"+n.Addr()+"/slow", nil); res.status != http.StatusOK {
		t.Fatalf("HEAD after a timeout: %d", res.status)
	}
}
