package edge

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrape returns the samples of the node's /metrics, by name and labels.
func scrape(t *testing.T, n *Node) map[string]float64 {
	t.Helper()
	res := do(t, http.MethodGet, "http://"+n.AdminAddr()+"/metrics", nil)
	if res.status != http.StatusOK {
		t.Fatalf("/metrics: %d", res.status)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(res.body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// After a scripted workload the counters add up: bytes served by source
// sum to the body bytes clients received, and origin chunk requests equal
// the chunk reads the origin saw.
func TestMetricsAddUp(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 16 << 10
	r := rand.New(rand.NewPCG(4, 4))
	data := randomBytes(r, 20*cs+99)
	org.put("/m.ts", &testObject{data: data, etag: `"m"`, modTime: confModTime})
	c := startCluster(t, org.URL(), 3, func(cfg *Config) { cfg.ChunkSize = cs })
	var received int64
	for i := range 60 {
		n := c.nodes[i%3]
		a := r.IntN(len(data))
		b := a + r.IntN(min(len(data)-a, 3*cs))
		res := do(t, http.MethodGet, "http://"+n.Addr()+"/m.ts", http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", a, b)}})
		if res.status != http.StatusPartialContent {
			t.Fatalf("status %d", res.status)
		}
		received += int64(len(res.body))
	}
	var served, originChunks float64
	for _, n := range c.nodes {
		m := scrape(t, n)
		served += m[`edgecache_served_bytes_total{source="hit"}`] + m[`edgecache_served_bytes_total{source="peer"}`] +
			m[`edgecache_served_bytes_total{source="origin"}`]
		originChunks += m["edgecache_origin_chunk_requests_total"]
		if m["edgecache_ring_members"] != 3 || m["edgecache_cache_budget_bytes"] == 0 {
			t.Errorf("ring members %v, budget %v", m["edgecache_ring_members"], m["edgecache_cache_budget_bytes"])
		}
		if _, ok := m["go_goroutines"]; !ok {
			t.Error("no Go runtime metrics")
		}
	}
	if int64(served) != received {
		t.Errorf("served bytes by source add up to %v, clients received %d", served, received)
	}
	if got, _ := originChunkGets(org, "/m.ts"); float64(got) != originChunks {
		t.Errorf("origin saw %d chunk reads, metrics say %v", got, originChunks)
	}
}
