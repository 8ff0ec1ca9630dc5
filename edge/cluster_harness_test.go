package edge

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// testSource is a membership source a test sets after every node has bound
// its peer listener.
type testSource struct{ set chan []string }

func newTestSource() *testSource { return &testSource{set: make(chan []string, 8)} }

func (s *testSource) Run(ctx context.Context, updates chan<- []string) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-s.set:
			select {
			case updates <- m:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

var testSecret = []byte("0123456789abcdef-test-secret")

// testCluster is n edges on loopback that form one ring.
type testCluster struct {
	nodes   []*Node
	sources []*testSource
	extra   []string // members that are not nodes (a stalled peer)
}

func startCluster(t *testing.T, originURL string, n int, mutate func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{}
	for range n {
		c.addNode(t, originURL, mutate)
	}
	c.sync(t)
	return c
}

func (c *testCluster) addNode(t *testing.T, originURL string, mutate func(*Config)) *Node {
	src := newTestSource()
	n := startNode(t, originURL, func(cfg *Config) {
		cfg.ChunkSize = 64 << 10
		cfg.Membership = src
		cfg.ClusterSecret = testSecret
		cfg.HedgeDelay = 50 * time.Millisecond
		cfg.PeerTimeout = 3 * time.Second
		// The tests count origin requests exactly; a dial that misses a
		// production-short timeout on a loaded CI machine would send a
		// chunk to the origin a second time.
		cfg.PeerDialTimeout = 2 * time.Second
		if mutate != nil {
			mutate(cfg)
		}
	})
	c.nodes = append(c.nodes, n)
	c.sources = append(c.sources, src)
	return n
}

// sync gives every node the full member list and waits until all rings
// have it.
func (c *testCluster) sync(t *testing.T) {
	t.Helper()
	var members []string
	for _, n := range c.nodes {
		members = append(members, n.Advertise())
	}
	members = append(members, c.extra...)
	for _, s := range c.sources {
		s.set <- members
	}
	waitFor(t, "rings to converge", func() bool {
		for _, n := range c.nodes {
			if n.Stats().RingMembers != len(members) {
				return false
			}
		}
		return true
	})
}

// total sums one figure of every node's Stats.
func (c *testCluster) total(figure func(Stats) int64) int64 {
	var sum int64
	for _, n := range c.nodes {
		sum += figure(n.Stats())
	}
	return sum
}

// settle waits until no node has placements, repairs or prefetches in
// flight.
func (c *testCluster) settle() {
	for _, n := range c.nodes {
		n.eng.Settle()
		n.prefetch.wait()
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const clusterChunk = 64 << 10

// putMovie stores an object of the given number of chunks (the last one
// short) at the origin.
func putMovie(org *testOrigin, path string, chunks int) []byte {
	data := randomBytes(rand.New(rand.NewPCG(uint64(chunks), 9)), chunks*clusterChunk-1000)
	org.put(path, &testObject{data: data, etag: `"` + path + `"`, modTime: confModTime})
	return data
}

func readChunk(t *testing.T, n *Node, path string, data []byte, idx int) response {
	t.Helper()
	a, b := idx*clusterChunk, min((idx+1)*clusterChunk, len(data))-1
	res := do(t, http.MethodGet, "http://"+n.Addr()+path, http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", a, b)}})
	if res.status != http.StatusPartialContent || !bytes.Equal(res.body, data[a:b+1]) {
		t.Fatalf("%s chunk %d via %s: status %d, identical=%v (%s)", path, idx, n.Advertise(), res.status,
			bytes.Equal(res.body, data[a:b+1]), trunc(res.body))
	}
	return res
}
