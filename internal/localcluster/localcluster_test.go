package localcluster

import (
	"bytes"
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/testutil"
	"github.com/edgecache/edgecache/origin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.FasthttpTimers()...)
}

// A cluster of three serves the origin's bytes through every edge, names
// its edges, applies the tuning to each, survives a killed edge and stops
// everything at Close.
func TestClusterServesThroughEveryEdge(t *testing.T) {
	tuned := map[int]bool{}
	c, err := Start(context.Background(), Config{
		Edges:  3,
		Origin: origin.ServerConfig{Synthetic: true},
		Edge: func(i int, cfg *edge.Config) {
			tuned[i] = true
			cfg.CacheSize, cfg.ChunkSize = 16<<20, 64<<10
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const size = 200 << 10
	path := origin.SyntheticPath(size, "lc.bin")
	want := make([]byte, size)
	origin.SyntheticFill(want, size, "lc.bin", 0)
	for i, target := range c.Targets() {
		if resp, body := testutil.Get(t, target+path, ""); resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("edge %d: status %d, %d bytes", i+1, resp.StatusCode, len(body))
		}
	}
	for i, n := range c.Nodes() {
		if got, want := n.Status().Name, "edge "+string(rune('1'+i)); got != want || !tuned[i] {
			t.Errorf("edge %d: name %q tuned %v, want %q and tuned", i+1, got, tuned[i], want)
		}
		if n.Status().Cache.Budget != 16<<20 {
			t.Errorf("edge %d: cache budget %d, want the tuned 16 MiB", i+1, n.Status().Cache.Budget)
		}
	}
	if st := c.OriginStats(); st.Requests == 0 {
		t.Errorf("origin stats %+v: nothing counted", st)
	}
	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(7); err == nil {
		t.Error("killing edge 8 of 3 succeeded")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after a kill: %v", err)
	}
}

func TestClusterNeedsAnEdge(t *testing.T) {
	if _, err := Start(context.Background(), Config{Origin: origin.ServerConfig{Synthetic: true}}); err == nil {
		t.Error("a cluster of no edges started")
	}
}
