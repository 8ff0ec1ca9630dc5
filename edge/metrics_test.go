package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/cespare/xxhash/v2"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgecache/edgecache/origin"
)

// scraped is one scrape of a node's /metrics, by family name.
type scraped map[string]*dto.MetricFamily

func scrape(t *testing.T, n *Node) scraped {
	t.Helper()
	res := do(t, http.MethodGet, "http://"+n.AdminAddr()+"/metrics", nil)
	if res.status != http.StatusOK {
		t.Fatalf("/metrics: %d", res.status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(res.body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// sum adds up the series of family name whose labels include the pairs in
// want (name, value, name, value...): counter and gauge values, and the
// observation counts of histograms. A family the node does not export
// fails the test, so that a renamed metric cannot pass as zero.
func (s scraped) sum(t *testing.T, name string, want ...string) float64 {
	t.Helper()
	f, ok := s[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	var v float64
	for _, m := range f.Metric {
		if !hasLabels(m, want) {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			v += m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			v += m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			v += float64(m.GetHistogram().GetSampleCount())
		default:
			t.Fatalf("%s: unexpected type %v", name, f.GetType())
		}
	}
	return v
}

func hasLabels(m *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waitCounted waits until every node has counted its share of the
// requests: a request is counted when fasthttp closes its body, which may
// come a moment after the client has read the last byte.
func waitCounted(t *testing.T, nodes []*Node, want map[*Node]int) {
	t.Helper()
	waitFor(t, "requests to be counted", func() bool {
		for _, n := range nodes {
			if got := scrape(t, n).sum(t, "edgecache_client_requests_total"); int(got) != want[n] {
				return false
			}
		}
		return true
	})
}

// After a random workload the counters add up: bytes served by source sum
// to the body bytes clients received, and the origin requests the metrics
// count (lookups, which bring the first chunk, and chunk reads) equal the
// GETs the origin saw.
func TestMetricsAddUp(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 16 << 10
	r := rand.New(rand.NewPCG(4, 4))
	data := randomBytes(r, 20*cs+99)
	org.put("/m.ts", &testObject{data: data, etag: `"m"`, modTime: confModTime})
	c := startCluster(t, org.URL(), 3, func(cfg *Config) { cfg.ChunkSize = cs })
	var received int64
	requests := map[*Node]int{}
	for i := range 60 {
		n := c.nodes[i%3]
		a := r.IntN(len(data))
		b := a + r.IntN(min(len(data)-a, 3*cs))
		res := do(t, http.MethodGet, "http://"+n.Addr()+"/m.ts", http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", a, b)}})
		if res.status != http.StatusPartialContent {
			t.Fatalf("status %d", res.status)
		}
		received += int64(len(res.body))
		requests[n]++
	}
	waitCounted(t, c.nodes, requests)
	var served, originChunks float64
	for _, n := range c.nodes {
		m := scrape(t, n)
		served += m.sum(t, "edgecache_served_bytes_total")
		originChunks += m.sum(t, "edgecache_origin_requests_total", "op", "chunk") + m.sum(t, "edgecache_origin_requests_total", "op", "first")
		if m.sum(t, "edgecache_ring_members") != 3 || m.sum(t, "edgecache_cache_budget_bytes") == 0 {
			t.Errorf("ring members %v, budget %v", m.sum(t, "edgecache_ring_members"), m.sum(t, "edgecache_cache_budget_bytes"))
		}
		if _, ok := m["go_goroutines"]; !ok {
			t.Error("no Go runtime metrics")
		}
	}
	if int64(served) != received {
		t.Errorf("served bytes by source add up to %v, clients received %d", served, received)
	}
	if got, _ := originChunkGets(org, "/m.ts"); float64(got) != originChunks {
		t.Errorf("origin saw %d GETs, metrics say %v", got, originChunks)
	}
}

// TestMetricsScriptedWorkload runs a script whose every answer is known on
// a ring of three (misses, hits, chunks rebuilt from peers, a HEAD, a 304,
// a 404, a 416, a 405 and an object that may not be cached), then checks
// each node's metrics against what the script saw: requests by method,
// code and cache result, bytes by source, histogram counts, origin
// requests against the origin's own log, and the store by kind.
func TestMetricsScriptedWorkload(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 4
	data := putMovie(org, "/s.ts", chunks)
	noStore := randomBytes(rand.New(rand.NewPCG(5, 5)), clusterChunk+500)
	org.put("/live.ts", &testObject{data: noStore, etag: `"live"`, modTime: confModTime, cacheControl: "no-store"})
	// No readahead past a request: the script knows where every chunk is.
	c := startCluster(t, org.URL(), 3, func(c *Config) { c.ReadaheadNext = 0 })

	type key struct{ method, code, cache string }
	want := map[*Node]map[key]int{}
	bytesBy := map[*Node]map[string]int64{} // source -> body bytes the client received
	requests := map[*Node]int{}
	for _, n := range c.nodes {
		want[n] = map[key]int{}
		bytesBy[n] = map[string]int64{}
	}
	// tally notes one answer as the metrics should count it.
	tally := func(n *Node, method string, res response, cache, source string) {
		want[n][key{method, fmt.Sprintf("%dxx", res.status/100), cache}]++
		requests[n]++
		if source != "" {
			bytesBy[n][source] += int64(len(res.body))
		}
	}
	readAs := func(n *Node, idx int, wantXCache string) {
		t.Helper()
		res := readChunk(t, n, "/s.ts", data, idx)
		if got := res.header.Get("X-Cache"); got != wantXCache {
			t.Fatalf("chunk %d via %s: X-Cache %s, want %s", idx, n.Advertise(), got, wantXCache)
		}
		source := map[string]string{"HIT": "hit", "PEER": "peer", "MISS": "origin"}[wantXCache]
		tally(n, "GET", res, strings.ToLower(wantXCache), source)
	}

	// Each chunk is missed by one node, then read by every node: the first
	// reader holds it whole (HIT), and so does the node that fetched it:
	// the object's leader for chunk 0, which comes with the lookup, the
	// chunk's leader for the others. The rest rebuild it from the shards
	// that node placed (PEER).
	objectLeader := c.nodes[0].cluster.Ring().Owners(xxhash.Sum64String("/s.ts"), 1)[0]
	for idx := range chunks {
		first := c.nodes[idx%3]
		readAs(first, idx, "MISS")
		c.settle()
		o, err := lookupObject(first, context.Background(), "/s.ts")
		if err != nil {
			t.Fatal(err)
		}
		k := o.ChunkKey(int64(idx))
		fetcher := first.cluster.ShardOwners(k.Hash(), first.eng.Codec().Total())[0]
		if idx == 0 {
			fetcher = objectLeader
		}
		for _, n := range c.nodes {
			switch {
			case n == first || n.Advertise() == fetcher:
				readAs(n, idx, "HIT")
			default:
				readAs(n, idx, "PEER")
			}
		}
	}
	a, b, third := c.nodes[0], c.nodes[1], c.nodes[2]
	url := func(n *Node, path string) string { return "http://" + n.Addr() + path }

	res := do(t, http.MethodHead, url(a, "/s.ts"), nil)
	if res.status != http.StatusOK || res.header.Get("X-Cache") != "HIT" {
		t.Fatalf("HEAD: %d %s", res.status, res.header.Get("X-Cache"))
	}
	tally(a, "HEAD", res, "hit", "")

	res = do(t, http.MethodGet, url(b, "/s.ts"), http.Header{"If-None-Match": {`"/s.ts"`}})
	if res.status != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", res.status)
	}
	tally(b, "GET", res, "hit", "")

	// The origin's 404 is stored like any answer: its body came from the
	// origin, and its one chunk stays with b and the key's leader, its
	// shards on their owners.
	res = do(t, http.MethodGet, url(b, "/missing.ts"), nil)
	if res.status != http.StatusNotFound {
		t.Fatalf("missing: %d", res.status)
	}
	tally(b, "GET", res, "none", "origin")
	missingLeader := b.cluster.Ring().Owners(xxhash.Sum64String("/missing.ts"), 1)[0]

	res = do(t, http.MethodGet, url(third, "/s.ts"), http.Header{"Range": {"bytes=999999999-"}})
	if res.status != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("range past the end: %d", res.status)
	}
	tally(third, "GET", res, "none", "")

	res = do(t, http.MethodTrace, url(a, "/s.ts"), nil)
	if res.status != http.StatusMethodNotAllowed {
		t.Fatalf("TRACE: %d", res.status)
	}
	tally(a, "other", res, "none", "")

	res = do(t, http.MethodGet, url(b, "/live.ts"), nil)
	if res.status != http.StatusOK || !bytes.Equal(res.body, noStore) || res.header.Get("X-Cache") != "MISS" {
		t.Fatalf("no-store: %d %s (%d bytes, want %d) %v", res.status, res.header.Get("X-Cache"), len(res.body), len(noStore), res.header)
	}
	tally(b, "GET", res, "none", "origin")

	waitCounted(t, c.nodes, requests)
	c.settle()

	var originChunkReqs, fillsLed, originBytes, firstReqs, notFound, otherOriginErrors float64
	var shardGets, shardPuts, peerErrors float64
	for i, n := range c.nodes {
		m := scrape(t, n)
		name := fmt.Sprintf("node %d", i)
		for _, meth := range []string{"GET", "HEAD", "other"} {
			for _, code := range []string{"2xx", "3xx", "4xx", "5xx"} {
				for _, cache := range []string{"hit", "peer", "miss", "none"} {
					got := m.sum(t, "edgecache_client_requests_total", "method", meth, "code", code, "cache", cache)
					if w := want[n][key{meth, code, cache}]; got != float64(w) {
						t.Errorf("%s: requests{method=%s,code=%s,cache=%s} = %v, the script made %d", name, meth, code, cache, got, w)
					}
				}
			}
		}
		for _, src := range []string{"hit", "peer", "origin"} {
			if got := m.sum(t, "edgecache_served_bytes_total", "source", src); got != float64(bytesBy[n][src]) {
				t.Errorf("%s: served bytes from %s = %v, clients received %d", name, src, got, bytesBy[n][src])
			}
		}
		total := m.sum(t, "edgecache_client_requests_total")
		for _, hist := range []string{"edgecache_client_ttfb_seconds", "edgecache_client_request_duration_seconds"} {
			if got := m.sum(t, hist); got != total {
				t.Errorf("%s: %s counted %v requests, requests_total %v", name, hist, got, total)
			}
			for _, cache := range []string{"hit", "peer", "miss", "none"} {
				if got, w := m.sum(t, hist, "cache", cache), m.sum(t, "edgecache_client_requests_total", "cache", cache); got != w {
					t.Errorf("%s: %s{cache=%s} counted %v, requests %v", name, hist, cache, got, w)
				}
			}
		}
		for _, op := range []string{"first", "chunk", "stream", "relay"} {
			if got, w := m.sum(t, "edgecache_origin_request_duration_seconds", "op", op), m.sum(t, "edgecache_origin_requests_total", "op", op); got != w {
				t.Errorf("%s: origin %s latencies %v, requests %v", name, op, got, w)
			}
		}
		for _, op := range []string{"shards_get", "shards_put", "fill", "meta", "ping"} {
			if got, w := m.sum(t, "edgecache_peer_request_duration_seconds", "op", op), m.sum(t, "edgecache_peer_requests_total", "op", op); got != w {
				t.Errorf("%s: peer %s latencies %v, requests %v", name, op, got, w)
			}
		}
		// Every node read every chunk, so it holds each whole, and two
		// of each chunk's six shards (a ring of three owns them
		// round-robin).
		wantChunks := chunks
		if n == b || n.Advertise() == missingLeader {
			wantChunks++ // the 404's
		}
		if got := m.sum(t, "edgecache_cache_entries", "kind", "chunk"); got != float64(wantChunks) {
			t.Errorf("%s: %v chunks in the store, want %d", name, got, wantChunks)
		}
		if got := m.sum(t, "edgecache_cache_entries", "kind", "shard"); got != 2*(chunks+1) {
			t.Errorf("%s: %v shards in the store, want %d", name, got, 2*(chunks+1))
		}
		if got, w := m.sum(t, "edgecache_cache_bytes"), float64(n.Stats().CacheBytes); got != w || got == 0 {
			t.Errorf("%s: cache bytes by kind add up to %v, the store holds %v", name, got, w)
		}
		if m.sum(t, "edgecache_ring_members") != 3 || m.sum(t, "edgecache_ring_changes_total") != 1 {
			t.Errorf("%s: ring of %v after %v changes, want 3 after 1", name, m.sum(t, "edgecache_ring_members"), m.sum(t, "edgecache_ring_changes_total"))
		}
		if got := m.sum(t, "edgecache_fills_in_flight"); got != 0 {
			t.Errorf("%s: %v fills in flight after the workload", name, got)
		}
		originChunkReqs += m.sum(t, "edgecache_origin_requests_total", "op", "chunk")
		fillsLed += m.sum(t, "edgecache_fills_led_total")
		originBytes += m.sum(t, "edgecache_origin_bytes_total")
		firstReqs += m.sum(t, "edgecache_origin_requests_total", "op", "first")
		notFound += m.sum(t, "edgecache_origin_errors_total", "kind", "not_found")
		otherOriginErrors += m.sum(t, "edgecache_origin_errors_total") - m.sum(t, "edgecache_origin_errors_total", "kind", "not_found")
		shardGets += m.sum(t, "edgecache_peer_requests_total", "op", "shards_get")
		shardPuts += m.sum(t, "edgecache_peer_requests_total", "op", "shards_put")
		peerErrors += m.sum(t, "edgecache_peer_errors_total")
	}
	// The origin saw one GET per object looked up (the movie, the live
	// object, the missing one), whose answer holds the first chunk, one
	// ranged GET per later chunk of the movie, and one more for the rest
	// of the live object, which may not be stored and is longer than the
	// first GET's window.
	movieGets, _ := originChunkGets(org, "/s.ts")
	gets, heads := org.counts()
	var streams float64
	for _, n := range c.nodes {
		streams += scrape(t, n).sum(t, "edgecache_origin_requests_total", "op", "stream")
	}
	if originChunkReqs != chunks-1 || fillsLed != chunks-1 || movieGets != chunks || firstReqs != 3 || streams != 1 || gets != chunks+3 || heads != 0 {
		t.Errorf("origin requests: %v first, %v chunk, %v stream, %v fills led; the origin served %d GETs (%d of the movie) and %d HEADs; want 3, %d, 1, %d, %d (%d) and 0",
			firstReqs, originChunkReqs, streams, fillsLed, gets, movieGets, heads, chunks-1, chunks-1, chunks+3, chunks)
	}
	if want := len(data) + len(noStore) + len("404 page not found\n"); originBytes != float64(want) {
		t.Errorf("origin bytes %v, want %d", originBytes, want)
	}
	if notFound != 0 || otherOriginErrors != 0 {
		t.Errorf("origin errors: %v not found, %v others; a 404 is an answer, not an error", notFound, otherOriginErrors)
	}
	// Each chunk's leader keeps two shards and pushes four; each node that
	// rebuilt a chunk asked its peers for shards.
	if shardPuts < 4*chunks || shardGets == 0 || peerErrors != 0 {
		t.Errorf("peer requests: %v shard puts (want at least %d), %v shard gets, %v errors", shardPuts, 4*chunks, shardGets, peerErrors)
	}
}

// Every edgecache metric follows Prometheus's naming conventions, as its
// own linter checks them, and says what it is for.
func TestMetricsLint(t *testing.T) {
	org := newTestOrigin(t)
	n := startNode(t, org.URL(), nil)
	res := do(t, http.MethodGet, "http://"+n.AdminAddr()+"/metrics", nil)
	problems, err := promlint.New(bytes.NewReader(res.body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "edgecache_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	m := scrape(t, n)
	for name, f := range m {
		if strings.HasPrefix(name, "edgecache_") && len(f.GetHelp()) < 30 {
			t.Errorf("%s: help %q does not say what it is for", name, f.GetHelp())
		}
	}
}

// With metrics disabled the node serves as before, registers nothing and
// has no /metrics; a registry passed in receives the metrics, and several
// nodes share one through a label each.
func TestMetricsRegistry(t *testing.T) {
	org := newTestOrigin(t)
	org.put("/a.ts", &testObject{data: make([]byte, 10<<10), etag: `"a"`, modTime: confModTime})

	off := startNode(t, org.URL(), func(c *Config) { c.DisableMetrics = true })
	if res := do(t, http.MethodGet, "http://"+off.Addr()+"/a.ts", nil); res.status != http.StatusOK {
		t.Errorf("metrics off: GET %d", res.status)
	}
	if res := do(t, http.MethodGet, "http://"+off.AdminAddr()+"/metrics", nil); res.status != http.StatusNotFound {
		t.Errorf("metrics off: /metrics %d, want 404", res.status)
	}

	reg := prometheus.NewRegistry()
	var nodes []*Node
	for i := range 2 {
		nodes = append(nodes, startNode(t, org.URL(), func(c *Config) {
			c.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"node": fmt.Sprint(i)}, reg)
			c.Gatherer = reg
		}))
	}
	if res := do(t, http.MethodGet, "http://"+nodes[1].Addr()+"/a.ts", nil); res.status != http.StatusOK {
		t.Fatalf("GET %d", res.status)
	}
	waitFor(t, "the request to be counted", func() bool {
		return scrape(t, nodes[0]).sum(t, "edgecache_client_requests_total", "node", "1") == 1
	})
	m := scrape(t, nodes[0]) // either node serves the shared registry
	if got := m.sum(t, "edgecache_client_requests_total", "node", "0"); got != 0 {
		t.Errorf("node 0 counted %v requests, want 0", got)
	}
	if _, ok := m["go_goroutines"]; ok {
		t.Error("a registry passed in got the Go collector: that is its owner's choice")
	}

	for name, set := range map[string]func(*Config){
		"disabled with a registry":      func(c *Config) { c.DisableMetrics, c.Registerer = true, reg },
		"gatherer without registerer":   func(c *Config) { c.Gatherer = reg },
		"registerer that cannot gather": func(c *Config) { c.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"x": "y"}, reg) },
	} {
		c := testConfig(org.URL())
		set(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "metrics") {
			t.Errorf("%s: Validate() = %v, want a metrics error", name, err)
		}
	}
	// A node that cannot register leaves the registry as it was.
	cfg := testConfig(org.URL())
	cfg.Registerer, cfg.Gatherer = prometheus.WrapRegistererWith(prometheus.Labels{"node": "0"}, reg), reg
	_, err := New(cfg)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Errorf("a second node 0: New() = %v, want AlreadyRegisteredError", err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("the registry is broken after a failed New: %v", err)
	}
	if !slices.ContainsFunc(fams, func(f *dto.MetricFamily) bool { return f.GetName() == "edgecache_client_requests_total" }) {
		t.Error("the shared registry lost the nodes' metrics")
	}
}

// Origin failures are counted by the kind their sentinel says.
func TestOriginErrKinds(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("stat /a: %w", origin.ErrNotFound), "not_found"},
		{&origin.StatusError{Code: 410, Err: origin.ErrNotFound}, "not_found"},
		{fmt.Errorf("chunk 3 of /a: %w", origin.ErrChanged), "changed"},
		{fmt.Errorf("%w: short body", origin.ErrBadResponse), "bad_response"},
		{fmt.Errorf("%w: connection refused", origin.ErrUnreachable), "unreachable"},
		{fmt.Errorf("%w: %w", origin.ErrTimeout, context.DeadlineExceeded), "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{&origin.StatusError{Code: 403}, "status"},
		{errors.New("something else"), "other"},
	} {
		if got := originErrKindOf(c.err).String(); got != c.want {
			t.Errorf("%v: kind %s, want %s", c.err, got, c.want)
		}
	}
}
