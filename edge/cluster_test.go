package edge

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// originChunkGets returns how many ranged GETs the origin served for path.
func originChunkGets(org *testOrigin, path string) (total int, perRange map[string]int) {
	perRange = org.rangeGets(path)
	for _, v := range perRange {
		total += v
	}
	return total, perRange
}

// Invariant 2: while membership is stable, the origin serves each chunk of
// each version once, however many edges ask.
func TestClusterOriginOncePerChunk(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 12
	data := putMovie(org, "/m.mp4", chunks)
	// Without readahead past a request, every chunk a reader asks is
	// fetched for that request, so the peer path shows in what is served.
	c := startCluster(t, org.URL(), 6, func(c *Config) { c.ReadaheadNext = 0 })
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() {
			for idx := range chunks {
				readChunk(t, n, "/m.mp4", data, idx)
			}
		})
	}
	wg.Wait()
	total, per := originChunkGets(org, "/m.mp4")
	for rng, v := range per {
		if v != 1 {
			t.Errorf("origin served %s %d times", rng, v)
		}
	}
	if total != chunks {
		t.Errorf("origin served %d chunk reads for %d chunks: %v", total, chunks, per)
	}
	// No HEAD or probe: the GET of the first chunk says what the object
	// is, so a cold object of N chunks costs N requests.
	if gets, heads := org.counts(); heads != 0 || gets != chunks {
		t.Errorf("origin answered %d GETs and %d HEADs for %d chunks, want %d and none", gets, heads, chunks, chunks)
	}
	// The edges read in lockstep, so every read of a chunk may have joined
	// its leader's origin fetch (a MISS for all). Once the shards are
	// placed, an edge that no longer holds the chunks rebuilds them from
	// peers, still without the origin.
	c.settle()
	reader := c.nodes[1]
	reader.eng.Store().RemoveFunc(func(k engine.StoreKey) bool { return k.Shard == engine.WholeChunk })
	for idx := range chunks {
		readChunk(t, reader, "/m.mp4", data, idx)
	}
	if reader.Stats().SentPeer == 0 {
		t.Error("no bytes were rebuilt from peers")
	}
	if again, _ := originChunkGets(org, "/m.mp4"); again != chunks {
		t.Errorf("origin served %d chunk reads after the rebuilds, want %d", again, chunks)
	}
}

// warm reads every chunk through one edge, then waits until every shard is
// placed.
func (c *testCluster) warm(t *testing.T, via *Node, path string, data []byte, chunks int) {
	for idx := range chunks {
		readChunk(t, via, path, data, idx)
	}
	c.settle()
}

// Invariant 3: with m owners of a chunk down, a cached chunk is served by
// every surviving edge, byte-exactly, with no origin request.
func TestClusterSurvivesLossOfParityShards(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 10
	data := putMovie(org, "/loss.mp4", chunks)
	c := startCluster(t, org.URL(), 6, nil)
	c.warm(t, c.nodes[0], "/loss.mp4", data, chunks)
	before, _ := originChunkGets(org, "/loss.mp4")

	c.nodes[1].Close()
	c.nodes[2].Close()
	for _, n := range c.nodes[3:] {
		for idx := range chunks {
			readChunk(t, n, "/loss.mp4", data, idx)
		}
	}
	after, per := originChunkGets(org, "/loss.mp4")
	if after != before {
		t.Fatalf("origin chunk reads went from %d to %d after losing 2 edges: %v", before, after, per)
	}
	var peer int64
	for _, n := range c.nodes[3:] {
		peer += n.Stats().SentPeer
	}
	if peer == 0 {
		t.Error("no surviving edge rebuilt a chunk from shards")
	}
}

// A corrupted shard is detected, never served, and repaired, and the
// origin is not asked again: one the reader holds itself (it checks its own
// shards first), and a data shard on a remote owner (the reader's chunk
// checksum finds it). Neither victim nor reader is the chunk's leader,
// which keeps the whole chunk, or the warming edge, which may have kept it.
func TestClusterCorruptShardRepaired(t *testing.T) {
	type pick func(owners []string, byAddr map[string]*Node, warm *Node) (victim, reader *Node, shard int)
	for _, tc := range []struct {
		name string
		pick pick
	}{
		{"own shard", func(owners []string, byAddr map[string]*Node, warm *Node) (*Node, *Node, int) {
			for i, addr := range owners {
				if n := byAddr[addr]; n != warm && i != 0 {
					return n, n, i
				}
			}
			return nil, nil, -1
		}},
		{"remote data shard", func(owners []string, byAddr map[string]*Node, warm *Node) (*Node, *Node, int) {
			// The reader holds only a parity shard, so it must read the
			// victim's data shard.
			var victim, reader *Node
			shard := -1
			for i, addr := range owners {
				if n := byAddr[addr]; n != warm && i != 0 {
					if i < 4 && victim == nil {
						victim, shard = n, i
					}
					if i >= 4 && reader == nil {
						reader = n
					}
				}
			}
			if reader == nil {
				return nil, nil, -1
			}
			return victim, reader, shard
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			org := newTestOrigin(t)
			data := putMovie(org, "/c.mp4", 3)
			c := startCluster(t, org.URL(), 6, nil)
			c.warm(t, c.nodes[0], "/c.mp4", data, 3)
			obj, err := lookupObject(c.nodes[0], context.Background(), "/c.mp4")
			if err != nil {
				t.Fatal(err)
			}
			key := obj.ChunkKey(1)
			byAddr := map[string]*Node{}
			for _, n := range c.nodes {
				byAddr[n.Advertise()] = n
			}
			victim, reader, shard := tc.pick(c.nodes[0].cluster.ShardOwners(key.Hash(), 6), byAddr, c.nodes[0])
			if victim == nil {
				t.Skip("this placement has no such victim and reader")
			}
			frame, ok := victim.eng.Store().Peek(engine.ShardEntry(key, shard))
			if !ok {
				t.Fatalf("shard %d was not placed on its owner", shard)
			}
			frame[len(frame)-1] ^= 0xff
			readChunk(t, reader, "/c.mp4", data, 1)
			if reader.Stats().ShardsCorrupt == 0 {
				t.Error("the corrupt shard was not detected")
			}
			c.settle()
			waitFor(t, "the shard to be repaired", func() bool {
				f, ok := victim.eng.Store().Peek(engine.ShardEntry(key, shard))
				if !ok {
					return false
				}
				_, err := chunk.DecodeFrame(f)
				return err == nil
			})
			if got, _ := originChunkGets(org, "/c.mp4"); got != 3 {
				t.Errorf("origin chunk reads %d, want 3", got)
			}
		})
	}
}

// stalledPeer accepts connections and reads requests but never answers.
type stalledPeer struct {
	ln      net.Listener
	mu      sync.Mutex
	conns   []net.Conn
	pending atomic.Int64 // requests received and never answered
}

func newStalledPeer(t *testing.T) *stalledPeer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stalledPeer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 && bytes.Contains(buf[:n], []byte("HTTP/1.1")) {
						s.pending.Add(1)
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *stalledPeer) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// Invariant 6: peers that accept connections but never answer do not hold
// a read: they cost it the hedge delay at most, and nothing once they are
// suspect and asked last.
func TestClusterStalledPeersAreHedged(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 8
	data := putMovie(org, "/h.mp4", chunks)
	s1, s2 := newStalledPeer(t), newStalledPeer(t)
	c := &testCluster{extra: []string{s1.ln.Addr().String(), s2.ln.Addr().String()}}
	// Waiting for a stalled peer's timeout would outlast the test client's
	// 20 s timeout, so every read that completes did not wait for one.
	for range 4 {
		c.addNode(t, org.URL(), func(cfg *Config) { cfg.PeerTimeout = 60 * time.Second })
	}
	c.sync(t)
	for idx := range chunks {
		readChunk(t, c.nodes[0], "/h.mp4", data, idx)
	}
	// The pushes to the stalled peers hang until the test ends; the others
	// land.
	waitFor(t, "shards to be placed on the live owners", func() bool {
		return c.total(func(s Stats) int64 { return int64(s.CacheEntries) }) >= chunks*4
	})
	before, _ := originChunkGets(org, "/h.mp4")
	for _, n := range c.nodes[1:] {
		for idx := range chunks {
			readChunk(t, n, "/h.mp4", data, idx)
		}
	}
	// Each read finished while requests to the stalled peers were still
	// unanswered: none of them waited for a stalled peer's timeout.
	if s1.pending.Load()+s2.pending.Load() == 0 {
		t.Fatal("the stalled peers were never asked")
	}
	// Whether a read got its shards by hedging or by asking the suspects
	// last depends on timing; either way it must not have waited.
	if c.total(func(s Stats) int64 { return s.SentPeer }) == 0 {
		t.Error("no read was served from shards")
	}
	if after, _ := originChunkGets(org, "/h.mp4"); after != before {
		t.Errorf("origin chunk reads went from %d to %d", before, after)
	}
}

// An edge that joins an established ring fills from peers, not the origin.
func TestClusterJoinFillsFromPeers(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 10
	data := putMovie(org, "/j.mp4", chunks)
	c := startCluster(t, org.URL(), 5, nil)
	c.warm(t, c.nodes[0], "/j.mp4", data, chunks)
	before, _ := originChunkGets(org, "/j.mp4")

	joined := c.addNode(t, org.URL(), nil)
	c.sync(t)
	for idx := range chunks {
		readChunk(t, joined, "/j.mp4", data, idx)
	}
	if after, per := originChunkGets(org, "/j.mp4"); after != before {
		t.Fatalf("origin chunk reads went from %d to %d after a join: %v", before, after, per)
	}
	if joined.Stats().SentPeer == 0 {
		t.Error("the new edge served nothing rebuilt from peers")
	}
}

// Peers without the cluster secret, or with other chunk parameters, are
// refused with a clear error and change nothing a client receives.
func TestClusterRefusesForeignPeers(t *testing.T) {
	org := newTestOrigin(t)
	data := putMovie(org, "/f.mp4", 2)
	c := startCluster(t, org.URL(), 3, nil)
	for name, mutate := range map[string]func(*Config){
		"secret": func(cfg *Config) { cfg.ClusterSecret = []byte("another-secret-entirely") },
		"chunk":  func(cfg *Config) { cfg.ChunkSize = 128 << 10 },
		"shards": func(cfg *Config) { cfg.DataShards = 3 },
	} {
		t.Run(name, func(t *testing.T) {
			src := newTestSource()
			foreign := startNode(t, org.URL(), func(cfg *Config) {
				cfg.ChunkSize = clusterChunk
				cfg.Membership = src
				cfg.ClusterSecret = testSecret
				mutate(cfg)
			})
			members := []string{foreign.Advertise()}
			for _, n := range c.nodes {
				members = append(members, n.Advertise())
			}
			sort.Strings(members)
			src.set <- members
			waitFor(t, "the foreign ring", func() bool { return foreign.Stats().RingMembers == 4 })
			refused := func(s Stats) int64 { return s.PeerRefused }
			refusedBefore := c.total(refused)
			res := do(t, http.MethodGet, "http://"+foreign.Addr()+"/f.mp4", nil)
			if res.status != http.StatusOK || !bytes.Equal(res.body, data) {
				t.Fatalf("status %d identical=%v", res.status, bytes.Equal(res.body, data))
			}
			if c.total(refused) == refusedBefore {
				t.Error("no member refused the foreign peer")
			}
		})
	}
}

// With fewer members than k+m, a member holds several shards of a chunk,
// and the origin still serves each chunk once.
func TestClusterSmallerThanShardCount(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 6
	data := putMovie(org, "/s.mp4", chunks)
	c := startCluster(t, org.URL(), 3, nil)
	for _, n := range c.nodes {
		for idx := range chunks {
			readChunk(t, n, "/s.mp4", data, idx)
		}
	}
	c.settle()
	if got, per := originChunkGets(org, "/s.mp4"); got != chunks {
		t.Fatalf("origin chunk reads %d for %d chunks: %v", got, chunks, per)
	}
	// Every shard is placed: 6 per chunk over 3 members.
	shards := 0
	for _, n := range c.nodes {
		o, err := lookupObject(n, context.Background(), "/s.mp4")
		if err != nil {
			t.Fatal(err)
		}
		for idx := range int64(chunks) {
			for i := range 6 {
				if n.eng.Store().Contains(engine.ShardEntry(o.ChunkKey(idx), i)) {
					shards++
				}
			}
		}
	}
	if shards != chunks*6 {
		t.Errorf("%d shards placed, want %d", shards, chunks*6)
	}
}

// The client listener serves objects only: a peer path there is just an
// object path, asked of the origin, never a peer endpoint.
func TestClientPortCannotReachPeerAPI(t *testing.T) {
	org := newTestOrigin(t)
	data := putMovie(org, "/p.mp4", 2)
	c := startCluster(t, org.URL(), 2, nil)
	c.warm(t, c.nodes[0], "/p.mp4", data, 2)
	o, err := lookupObject(c.nodes[0], context.Background(), "/p.mp4")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{peerwire.ShardsPath + "?key=" + o.ChunkKey(0).String(), peerwire.MetaPath + "?path=/p.mp4", peerwire.PingPath} {
		res := do(t, http.MethodGet, "http://"+c.nodes[0].Addr()+p, nil)
		// The origin's 404, not a peer endpoint's answer (401 without a
		// signature) or its shards.
		if res.status != http.StatusNotFound || !strings.Contains(string(res.body), "404 page not found") {
			t.Errorf("%s on the client port: %d %q", p, res.status, trunc(res.body))
		}
	}
}

// An edge with a membership source is not ready until the source has
// given it a member list: before that it would think itself alone and
// fill everything from the origin.
func TestNotReadyBeforeFirstMemberList(t *testing.T) {
	org := newTestOrigin(t)
	src := newTestSource()
	n := startNode(t, org.URL(), func(cfg *Config) {
		cfg.Membership = src
		cfg.ClusterSecret = testSecret
	})
	ready := func() int {
		res := do(t, http.MethodGet, "http://"+n.AdminAddr()+"/readyz", nil)
		return res.status
	}
	waitFor(t, "the node to serve", func() bool {
		res, err := http.Get("http://" + n.AdminAddr() + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})
	if got := ready(); got != http.StatusServiceUnavailable {
		t.Fatalf("ready before any member list: %d", got)
	}
	src.set <- []string{n.Advertise(), "127.0.0.1:1"}
	waitFor(t, "readiness", func() bool { return ready() == http.StatusOK })
}
