package edge

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
)

// The history keeps a fixed number of snapshots however long it runs,
// turns them into per-interval traffic, and its sampler exits when its
// context ends (synctest fails the test on a goroutine left blocked).
func TestStatusHistoryIsBoundedAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h history
		var calls atomic.Int64
		read := func() snapshot {
			v := calls.Add(1)
			return snapshot{at: time.Now(), requests: v, sent: [engine.NumSources]int64{engine.SourceHit: 10 * v, engine.SourcePeer: v}, originOK: v, originFailed: v / 2}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.run(ctx, 5*time.Second, read)
		}()
		time.Sleep(10*time.Minute + time.Second) // 120 ticks after the first snapshot
		synctest.Wait()
		if got := calls.Load(); got != 121 {
			t.Fatalf("%d snapshots taken in 10 minutes at 5 s, want 121", got)
		}
		snaps := h.snapshots()
		if len(snaps) != statusSamples+1 {
			t.Fatalf("history holds %d snapshots, want %d", len(snaps), statusSamples+1)
		}
		if snaps[0].requests != 121-statusSamples || snaps[len(snaps)-1].requests != 121 {
			t.Errorf("history holds snapshots %d..%d, want the last %d", snaps[0].requests, snaps[len(snaps)-1].requests, statusSamples+1)
		}
		ss := samples(snaps)
		if len(ss) != statusSamples {
			t.Fatalf("%d samples, want %d", len(ss), statusSamples)
		}
		for _, s := range ss {
			if s.Seconds != 5 || s.Requests != 1 || s.HitBytes != 10 || s.PeerBytes != 1 || s.OriginBytes != 0 || s.OriginRequests != 1 {
				t.Fatalf("sample %+v: want 5 s, 1 request, 10 hit and 1 peer byte, 1 origin answer", s)
			}
			if s.HitRatio == nil || math.Abs(*s.HitRatio-10.0/11) > 1e-12 || s.OffloadRatio == nil || *s.OffloadRatio != 1 {
				t.Fatalf("sample ratios %v %v: want 10/11 and 1", s.HitRatio, s.OffloadRatio)
			}
		}
		cancel()
		<-done
	})
}

func TestStatusSamplesWithoutTraffic(t *testing.T) {
	s := samples([]snapshot{{at: time.Unix(0, 0)}, {at: time.Unix(5, 0)}})
	if len(s) != 1 || s[0].HitRatio != nil || s[0].OffloadRatio != nil {
		t.Fatalf("an interval without bytes: %+v; want null ratios", s)
	}
	if samples(nil) == nil || len(samples([]snapshot{{}})) != 0 {
		t.Error("fewer than two snapshots must give no samples (and a non-nil list for JSON)")
	}
}

// The sampler runs exactly as long as Run.
func TestStatusSamplerStopsWithRun(t *testing.T) {
	org := newTestOrigin(t)
	cfg := testConfig(org.URL())
	cfg.CacheSize, cfg.ChunkSize, cfg.StatusInterval = 1<<20, 4<<10, 10*time.Millisecond
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- n.Run(ctx) }()
	waitFor(t, "a few samples", func() bool { return len(n.status.hist.snapshots()) >= 3 })
	if got := samplers(); got != 1 {
		t.Fatalf("%d samplers running, want 1", got)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if got := samplers(); got != 0 {
		t.Fatalf("%d samplers still running after Run returned", got)
	}
}

// samplers counts the goroutines inside history.run.
func samplers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "edge.(*history).run(")
}

func getStatus(t *testing.T, n *Node) Status {
	t.Helper()
	res := do(t, http.MethodGet, "http://"+n.AdminAddr()+"/status.json", nil)
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("/status.json: %d %s", res.status, res.header.Get("Content-Type"))
	}
	var s Status
	if err := json.Unmarshal(res.body, &s); err != nil {
		t.Fatalf("/status.json: %v\n%s", err, res.body)
	}
	return s
}

// A 3-node cluster: every node's status page and /status.json list every
// member, mark this node, show suspects, and add shares up to 1; traffic
// shows in the history.
func TestStatusClusterListsEveryMember(t *testing.T) {
	org := newTestOrigin(t)
	data := putMovie(org, "/st.mp4", 3)
	c := startCluster(t, org.URL(), 3, func(cfg *Config) { cfg.StatusInterval = 20 * time.Millisecond })
	for idx := range 3 {
		readChunk(t, c.nodes[0], "/st.mp4", data, idx)
	}
	var want []string
	for _, n := range c.nodes {
		want = append(want, n.Advertise())
	}
	slices.Sort(want)
	// A member that failed a request is suspect on the node that saw it.
	c.nodes[0].cluster.MarkSuspect(c.nodes[2].Advertise(), errors.New("test: a failed request"))

	waitFor(t, "traffic in node 0's history", func() bool {
		for _, h := range getStatus(t, c.nodes[0]).History {
			if h.HitBytes+h.PeerBytes+h.OriginBytes > 0 {
				return true
			}
		}
		return false
	})
	for i, n := range c.nodes {
		s := getStatus(t, n)
		var got []string
		sum := 0.0
		for _, m := range s.Members {
			got = append(got, m.Addr)
			sum += m.Share
			if m.Self != (m.Addr == n.Advertise()) {
				t.Errorf("node %d: member %s self=%v", i, m.Addr, m.Self)
			}
			if m.Share <= 0 {
				t.Errorf("node %d: member %s leads %g of the keys", i, m.Addr, m.Share)
			}
			if wantSuspect := i == 0 && m.Addr == c.nodes[2].Advertise(); m.Suspect != wantSuspect {
				t.Errorf("node %d: member %s suspect=%v, want %v", i, m.Addr, m.Suspect, wantSuspect)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("node %d lists members %v, want %v", i, got, want)
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("node %d: shares add up to %g", i, sum)
		}
		if s.Node != n.Advertise() || !s.Ready || s.Cache.Budget != 64<<20 || s.SampleSeconds != 0.02 {
			t.Errorf("node %d: node %q ready %v budget %d sample %g", i, s.Node, s.Ready, s.Cache.Budget, s.SampleSeconds)
		}
		if i == 0 && (s.Totals.Requests != 3 || s.Totals.HitBytes+s.Totals.PeerBytes+s.Totals.OriginBytes != int64(len(data))) {
			t.Errorf("node 0 totals %+v: want 3 requests and %d bytes", s.Totals, len(data))
		}

		res := do(t, http.MethodGet, "http://"+n.AdminAddr()+"/", nil)
		page := string(res.body)
		if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
			t.Fatalf("node %d: GET /: %d %s", i, res.status, res.header.Get("Content-Type"))
		}
		for _, addr := range want {
			if !strings.Contains(page, "<code>"+addr+"</code>") {
				t.Errorf("node %d: the status page does not list %s", i, addr)
			}
		}
		if strings.Count(page, `<tr class="self">`) != 1 || !strings.Contains(page, `<tr class="self"><td><span class="sw" style="background: `) ||
			!strings.Contains(page, "<code>"+n.Advertise()+"</code> (this edge)") {
			t.Errorf("node %d: the page does not mark this edge once", i)
		}
		if got := strings.Count(page, `<span class="bad">suspect</span>`); got != map[bool]int{true: 1, false: 0}[i == 0] {
			t.Errorf("node %d: %d suspects shown", i, got)
		}
		for _, banned := range []string{"<script", "src=", "<link", "@import"} {
			if strings.Contains(page, banned) {
				t.Errorf("node %d: the page uses %q; it must stand alone", i, banned)
			}
		}
		if strings.Count(page, "<svg") < 5 {
			t.Errorf("node %d: the page has %d charts, want the ring, cache and three histories", i, strings.Count(page, "<svg"))
		}
	}
	// Only the root is the page; other unknown paths stay 404.
	if res := do(t, http.MethodGet, "http://"+c.nodes[0].AdminAddr()+"/nothing", nil); res.status != http.StatusNotFound {
		t.Errorf("GET /nothing on the admin port: %d, want 404", res.status)
	}
}

// The origin's failures and answers show with the last error and when.
func TestStatusOriginHealth(t *testing.T) {
	org := newTestOrigin(t)
	org.put("/good.mp4", &testObject{data: []byte("0123456789"), etag: `"g"`, modTime: confModTime})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken.mp4" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		org.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := startNode(t, front.URL, func(c *Config) { c.Now = func() time.Time { return clock } })

	if s := n.Status(); s.Origin.Requests != 0 || s.Origin.Errors != 0 || s.Origin.LastError != "" || s.Origin.LastErrorAt != nil || s.Origin.LastSuccessAt != nil {
		t.Fatalf("a fresh node reports origin traffic: %+v", s.Origin)
	}
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/broken.mp4", nil); res.status < 500 {
		t.Fatalf("broken object: %d", res.status)
	}
	s := n.Status()
	if s.Origin.Errors != 1 || s.Origin.Requests != 0 || !strings.Contains(s.Origin.LastError, "500") ||
		s.Origin.LastErrorAt == nil || !s.Origin.LastErrorAt.Equal(clock) {
		t.Fatalf("after a 500: %+v", s.Origin)
	}
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/missing.mp4", nil); res.status != http.StatusNotFound {
		t.Fatalf("missing object: %d", res.status)
	}
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/good.mp4", nil); res.status != http.StatusOK {
		t.Fatalf("good object: %d", res.status)
	}
	s = n.Status()
	// A 404 is an answer: one GET of the missing object and one of the
	// good one, whose first chunk is all of it.
	if s.Origin.Errors != 1 || s.Origin.Requests != 2 || s.Origin.LastSuccessAt == nil || s.Origin.URL != front.URL {
		t.Fatalf("after a 404 and a good read: %+v", s.Origin)
	}
	page := do(t, http.MethodGet, "http://"+n.AdminAddr()+"/", nil).body
	if !strings.Contains(string(page), "Last error 0s ago (03:04:05 UTC)") {
		t.Errorf("the page does not show the last origin error:\n%s", page)
	}
}

// A dead origin is the first thing the status page says, above the ring
// and the traffic, with its last error and last answer; /status.json says
// it as "failing". The edge stays ready and serves what it holds: a
// failing origin only fails what needs the origin.
func TestStatusPageShowsADeadOriginFirst(t *testing.T) {
	org := newTestOrigin(t)
	org.put("/held.mp4", &testObject{data: []byte("cached before the origin died"), etag: `"h"`, modTime: confModTime, cacheControl: "max-age=3600"})
	org.put("/other.mp4", &testObject{data: []byte("asked while the origin is down"), etag: `"o"`, modTime: confModTime})
	var down atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "origin down", http.StatusServiceUnavailable)
			return
		}
		org.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	n := startNode(t, front.URL, nil)
	page := func() string {
		t.Helper()
		return string(do(t, http.MethodGet, "http://"+n.AdminAddr()+"/", nil).body)
	}
	banner := func(p string) string {
		t.Helper()
		start := strings.Index(p, `<div class="banner `)
		ring := strings.Index(p, "<h2>Ring</h2>")
		if start < 0 || ring < start {
			t.Fatalf("no origin banner above the ring:\n%s", p)
		}
		end := strings.Index(p[start:], "</div>")
		return p[start : start+end]
	}

	if b := banner(page()); !strings.Contains(b, `banner idle`) || !strings.Contains(b, "Origin not asked yet") {
		t.Errorf("a fresh edge: %s", b)
	}
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/held.mp4", nil); res.status != http.StatusOK {
		t.Fatalf("held object: %d", res.status)
	}
	if b := banner(page()); !strings.Contains(b, `banner ok`) || !strings.Contains(b, "Origin answering") || !strings.Contains(b, "Last answer 0s ago") {
		t.Errorf("after an answer: %s", b)
	}

	down.Store(true)
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/other.mp4", nil); res.status < 500 {
		t.Fatalf("an object not held, origin down: %d", res.status)
	}
	if s := getStatus(t, n); !s.Origin.Failing || !strings.Contains(s.Origin.LastError, "503") || !s.Ready {
		t.Errorf("origin down: failing %v, last error %q, ready %v; want failing, the 503, and ready", s.Origin.Failing, s.Origin.LastError, s.Ready)
	}
	b := banner(page())
	for _, want := range []string{`banner bad`, "Origin failing", "503", "last answer 0s ago", "stays ready"} {
		if !strings.Contains(b, want) {
			t.Errorf("origin down: the banner lacks %q: %s", want, b)
		}
	}
	if res := do(t, http.MethodGet, "http://"+n.AdminAddr()+"/readyz", nil); res.status != http.StatusOK {
		t.Errorf("/readyz with the origin down: %d, want 200: the edge still serves what it holds", res.status)
	}
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/held.mp4", nil); res.status != http.StatusOK || string(res.body) != "cached before the origin died" {
		t.Errorf("held object with the origin down: %d %q", res.status, res.body)
	}

	down.Store(false)
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/other.mp4", nil); res.status != http.StatusOK {
		t.Fatalf("origin back: %d", res.status)
	}
	if s := getStatus(t, n); s.Origin.Failing {
		t.Errorf("origin back: still failing: %+v", s.Origin)
	}
	if b := banner(page()); strings.Contains(b, "failing") {
		t.Errorf("origin back: %s", b)
	}
}

// The banner's four states, from a Status: failing (the last request
// failed), answering with recent failures, answering, not asked yet.
func TestOriginHealthBanner(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { at := now.Add(-d); return &at }
	for _, tc := range []struct {
		origin       OriginStatus
		class, words string
	}{
		{OriginStatus{Failing: true, LastError: "connection refused", LastErrorAt: ago(2 * time.Second), LastSuccessAt: ago(90 * time.Second)},
			"bad", "Origin failing: Its last request failed (last error 2s ago: connection refused); last answer 1m30s ago."},
		{OriginStatus{Failing: true, LastError: "timeout", LastErrorAt: ago(time.Second)},
			"bad", "never answered since this edge started"},
		{OriginStatus{RecentErrors: 3, LastError: "timeout", LastErrorAt: ago(40 * time.Second), LastSuccessAt: ago(time.Second)},
			"warn", "Origin answering, 3 failed in the last 5m00s: Last answer 1s ago; last error 40s ago: timeout."},
		{OriginStatus{LastSuccessAt: ago(3 * time.Second)}, "ok", "Origin answering: Last answer 3s ago; no failure in the last 5m00s."},
		{OriginStatus{}, "idle", "Origin not asked yet"},
	} {
		b := originHealth(Status{Time: now, Origin: tc.origin}, "5m00s")
		if got := b.Headline + ": " + b.Detail; b.Class != tc.class || !strings.Contains(got, tc.words) {
			t.Errorf("%+v: %s %q; want %s with %q", tc.origin, b.Class, got, tc.class, tc.words)
		}
	}
}
