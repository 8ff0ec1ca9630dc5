package edge

import (
	"context"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
)

// diskNode is an edge with a disk tier in dir that the test can stop
// before it ends, as a restart does.
type diskNode struct {
	*Node
	stop func()
}

func startDiskNode(t *testing.T, originURL, dir string) *diskNode {
	return startDiskNodeWith(t, originURL, dir, nil)
}

func startDiskNodeWith(t *testing.T, originURL, dir string, mutate func(*Config)) *diskNode {
	t.Helper()
	cfg := testConfig(originURL)
	cfg.CacheSize, cfg.ChunkSize = 64<<20, clusterChunk
	cfg.Readahead, cfg.ReadaheadNext = 0, 0 // every origin read is a test's own
	cfg.ClusterSecret = testSecret
	cfg.DiskPaths, cfg.DiskSize = []string{dir}, 16<<20 // 4 MiB of chunks: 64
	// A player's disk read is given up on past a hedge delay; these tests
	// count origin requests exactly, and a loaded CI machine's disk can
	// take longer than a production hedge delay to answer.
	cfg.HedgeDelay = time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	n, stop := runNode(t, cfg)
	return &diskNode{Node: n, stop: stop}
}

func readAll(t *testing.T, n *Node, path string, data []byte, chunks int) {
	t.Helper()
	for i := range chunks {
		readChunk(t, n, path, data, i)
	}
}

// A chunk gone from memory is read back from the disk, not the origin: the
// response is a hit of this edge's cache (X-Cache: HIT, Cache-Status says
// the disk), and its bytes count as sent from the disk.
func TestDiskServesMemoryMisses(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 6
	data := putMovie(org, "/d.mp4", chunks)
	n := startDiskNode(t, org.URL(), t.TempDir())
	readAll(t, n.Node, "/d.mp4", data, chunks)
	before, _ := originChunkGets(org, "/d.mp4")
	sent := n.Stats()
	n.eng.Store().RemoveFunc(func(engine.StoreKey) bool { return true })
	for i := range chunks {
		res := readChunk(t, n.Node, "/d.mp4", data, i)
		if x, cs := res.header.Get("X-Cache"), res.header.Get("Cache-Status"); x != "HIT" || !strings.Contains(cs, "; hit; detail=disk;") {
			t.Errorf("chunk %d from the disk: X-Cache %q, Cache-Status %q; want HIT, hit; detail=disk", i, x, cs)
		}
	}
	if s := n.Stats(); s.SentDisk-sent.SentDisk != int64(len(data)) || s.SentHit != sent.SentHit || s.SentPeer+s.SentOrigin != sent.SentPeer+sent.SentOrigin {
		t.Errorf("bytes sent after memory was dropped: disk %d, memory %d, peer and origin %d; want all %d from the disk",
			s.SentDisk-sent.SentDisk, s.SentHit-sent.SentHit, s.SentPeer+s.SentOrigin-sent.SentPeer-sent.SentOrigin, len(data))
	}
	if tot := n.Status().Totals; tot.DiskBytes != int64(len(data)) || tot.HitRatio == nil || *tot.HitRatio < 0.5 {
		t.Errorf("status totals %+v: want %d disk bytes, counted as hits", tot, len(data))
	}
	if after, per := originChunkGets(org, "/d.mp4"); after != before {
		t.Fatalf("origin GETs went from %d to %d after memory was dropped: %v", before, after, per)
	}
	quiet(t, n.Node) // entries count once written
	if s := n.Stats(); s.DiskHits < chunks || s.DiskEntries < chunks {
		t.Fatalf("disk hits %d, entries %d; want at least %d each", s.DiskHits, s.DiskEntries, chunks)
	}
	if d := n.Status().Disks; len(d) != 2 || d[1].Entries < chunks || d[1].Bytes == 0 || d[1].Budget != 4<<20 || d[0].Budget != 12<<20 {
		t.Fatalf("status of the disk tier: %+v", d)
	}
}

// A restarted edge serves what it held from its disk: the origin is asked
// what the object is now (a lookup, with the first chunk) but for no other
// chunk.
func TestDiskSurvivesRestart(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 6
	data := putMovie(org, "/r.mp4", chunks)
	dir := t.TempDir()
	n := startDiskNode(t, org.URL(), dir)
	readAll(t, n.Node, "/r.mp4", data, chunks)
	n.stop()
	before := allGets(org, "/r.mp4")
	m := startDiskNode(t, org.URL(), dir)
	readAll(t, m.Node, "/r.mp4", data, chunks)
	// Neither the object (its lookup) nor a chunk is asked for again.
	if after := allGets(org, "/r.mp4"); after != before {
		t.Fatalf("origin GETs went from %d to %d across a restart", before, after)
	}
	if s := m.Stats(); s.DiskHits < chunks-1 || s.ObjectsFromDisk != 1 {
		t.Fatalf("disk hits %d and %d objects from the disk after a restart; want at least %d and 1", s.DiskHits, s.ObjectsFromDisk, chunks-1)
	}
}

// An object read back from the disk has aged by the time the edge was
// stopped: past its lifetime it is stale, and revalidated, not served as
// fresh.
func TestDiskObjectAgesWhileStopped(t *testing.T) {
	org := newTestOrigin(t)
	data := randomBytes(rand.New(rand.NewPCG(3, 9)), 2*clusterChunk)
	org.put("/a.mp4", &testObject{data: data, etag: `"a"`, modTime: confModTime, cacheControl: "max-age=60"})
	clock := newTestClock()
	dir := t.TempDir()
	n := startDiskNodeWith(t, org.URL(), dir, func(c *Config) { c.Now = clock.Now })
	readChunk(t, n.Node, "/a.mp4", data, 0)
	n.stop()

	clock.Advance(30 * time.Second)
	m := startDiskNodeWith(t, org.URL(), dir, func(c *Config) { c.Now = clock.Now })
	before := allGets(org, "/a.mp4")
	res := readChunk(t, m.Node, "/a.mp4", data, 0)
	if age, _ := strconv.Atoi(res.header.Get("Age")); age < 30 || allGets(org, "/a.mp4") != before {
		t.Fatalf("30 s after it was stored: Age %q, origin GETs %d -> %d; want >= 30 and none", res.header.Get("Age"), before, allGets(org, "/a.mp4"))
	}
	m.stop()

	clock.Advance(40 * time.Second)
	k := startDiskNodeWith(t, org.URL(), dir, func(c *Config) { c.Now = clock.Now })
	readChunk(t, k.Node, "/a.mp4", data, 0)
	if allGets(org, "/a.mp4") == before {
		t.Fatal("70 s after it was stored with max-age=60, the object was served without asking the origin")
	}
}

// allGets counts the origin's GETs of path, of any range.
func allGets(org *testOrigin, path string) int {
	total := 0
	for _, v := range org.rangeGets(path) {
		total += v
	}
	return total
}

// A purge reaches the disk: after a restart the purged object's chunks
// come from the origin again.
func TestDiskPurgeSurvivesRestart(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 6
	data := putMovie(org, "/p.mp4", chunks)
	dir := t.TempDir()
	n := startDiskNode(t, org.URL(), dir)
	readAll(t, n.Node, "/p.mp4", data, chunks)
	if res, _ := adminPurge(t, n.Node, "/p.mp4", testSecret, n.now()); res.status != http.StatusOK {
		t.Fatalf("purge: status %d: %s", res.status, res.body)
	}
	n.stop()
	before := laterChunkGets(org, "/p.mp4")
	m := startDiskNode(t, org.URL(), dir)
	readAll(t, m.Node, "/p.mp4", data, chunks)
	if after := laterChunkGets(org, "/p.mp4"); after != before+chunks-1 {
		t.Fatalf("origin chunk GETs went from %d to %d after a purge and a restart; want every chunk past the first again", before, after)
	}
	if s := m.Stats(); s.DiskHits != 0 || s.ObjectsFromDisk != 0 {
		t.Fatalf("%d disk hits and %d objects from the disk for a purged object", s.DiskHits, s.ObjectsFromDisk)
	}
}

// laterChunkGets counts the origin's GETs of path for a chunk past the
// first: the first comes with every lookup.
func laterChunkGets(org *testOrigin, path string) int {
	total := 0
	for rng, v := range org.rangeGets(path) {
		if rng != "" && !strings.HasPrefix(rng, "bytes=0-") {
			total += v
		}
	}
	return total
}

// A disk path that cannot be a directory fails New with one line naming
// it, and a disk too small for whole chunks fails Validate.
func TestDiskConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		paths []string
		size  int64
	}{
		"a file":             {[]string{file}, 64 << 20},
		"under a file":       {[]string{filepath.Join(file, "sub")}, 64 << 20},
		"too small":          {[]string{t.TempDir()}, 100 << 10},
		"the same one twice": {[]string{filepath.Join(file, "..", "d"), filepath.Join(file, "..", "d")}, 64 << 20},
	} {
		cfg := testConfig("http://origin.invalid")
		cfg.DiskPaths, cfg.DiskSize = c.paths, c.size
		n, err := New(cfg)
		if err == nil {
			n.Close()
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || (c.size > 1<<20 && !strings.Contains(msg, c.paths[0])) {
			t.Errorf("%s: error %q is not one line naming %s", name, msg, c.paths[0])
		}
	}
}

// addDiskNode adds to c a member with a disk tier in dir, on peerAddr
// ("127.0.0.1:0": any), that the test can stop; mutate, if set, tunes its
// configuration last.
func (c *testCluster) addDiskNode(t *testing.T, originURL, dir, peerAddr string, mutate func(*Config)) *diskNode {
	src := newTestSource()
	n := startDiskNodeWith(t, originURL, dir, func(cfg *Config) {
		cfg.Membership = src
		cfg.PeerListen = peerAddr
		cfg.PeerTimeout, cfg.PeerDialTimeout = 3*time.Second, 2*time.Second
		if mutate != nil {
			mutate(cfg)
		}
	})
	c.nodes = append(c.nodes, n.Node)
	c.sources = append(c.sources, src)
	return n
}

// A member restarted on its disk, at its address, gives the ring back its
// shards: with every other member's memory dropped too, the object is
// rebuilt from disks alone, and the origin serves no chunk again.
func TestDiskRingRestart(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 6
	data := putMovie(org, "/ring.mp4", chunks)
	c := &testCluster{}
	var dirs []string
	var nodes []*diskNode
	for range 3 {
		dirs = append(dirs, t.TempDir())
		nodes = append(nodes, c.addDiskNode(t, org.URL(), dirs[len(dirs)-1], "127.0.0.1:0", nil))
	}
	c.sync(t)
	readAll(t, c.nodes[0], "/ring.mp4", data, chunks)
	c.settle()
	before := laterChunkGets(org, "/ring.mp4")

	addr := nodes[2].PeerAddr()
	nodes[2].stop()
	c.nodes, c.sources = c.nodes[:2], c.sources[:2]
	restarted := c.addDiskNode(t, org.URL(), dirs[2], addr, nil)
	c.sync(t)
	for _, n := range c.nodes[:2] {
		n.eng.Store().RemoveFunc(func(engine.StoreKey) bool { return true })
	}
	readAll(t, restarted.Node, "/ring.mp4", data, chunks)
	c.settle()
	if after := laterChunkGets(org, "/ring.mp4"); after != before {
		t.Fatalf("origin chunk GETs went from %d to %d after a restart on the disk", before, after)
	}
	if hits := c.total(func(s Stats) int64 { return s.DiskHits }); hits == 0 {
		t.Fatal("no disk hits: the object came from somewhere else")
	}
}

// stallingDisk is a disk tier whose reads hang, once stalled, until their
// caller gives up, as a disk stuck behind a failing device does.
type stallingDisk struct {
	engine.Disk
	stalled *atomic.Bool // shared by both parts of the tier
}

func (d *stallingDisk) Get(ctx context.Context, key string) ([]byte, error) {
	if d.stalled.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return d.Disk.Get(ctx, key)
}

// An edge whose disk stalls still answers for what the disk holds, with
// the right bytes, from its peers: no player waits on the disk past a
// hedge delay, and the origin is not asked again.
func TestDiskStalledIsHedged(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 6
	data := putMovie(org, "/stall.mp4", chunks)
	c := &testCluster{}
	var stalled atomic.Bool
	reader := c.addDiskNode(t, org.URL(), t.TempDir(), "127.0.0.1:0", func(cfg *Config) {
		cfg.HedgeDelay = 50 * time.Millisecond // each chunk waits on the stalled disk twice
		cfg.wrapDisk = func(d engine.Disk) engine.Disk { return &stallingDisk{Disk: d, stalled: &stalled} }
	})
	for range 2 {
		c.addDiskNode(t, org.URL(), t.TempDir(), "127.0.0.1:0", nil)
	}
	c.sync(t)
	readAll(t, reader.Node, "/stall.mp4", data, chunks)
	c.settle()
	before := laterChunkGets(org, "/stall.mp4")
	reader.eng.Store().RemoveFunc(func(engine.StoreKey) bool { return true })
	stalled.Store(true)
	for i := range chunks {
		if res := readChunk(t, reader.Node, "/stall.mp4", data, i); res.header.Get("X-Cache") != "PEER" {
			t.Errorf("chunk %d with the disk stalled: X-Cache %q, want PEER", i, res.header.Get("X-Cache"))
		}
	}
	c.settle()
	if after := laterChunkGets(org, "/stall.mp4"); after != before {
		t.Errorf("origin chunk GETs went from %d to %d with the disk stalled", before, after)
	}
	if s := reader.Stats(); s.DiskSlow < chunks {
		t.Errorf("%d slow disk reads for %d chunks, want at least one each", s.DiskSlow, chunks)
	}
}

// An edge restarted on a disk that stalls answers for what the disk holds,
// the object and its chunks, with the right bytes, from the origin: each
// read of the disk is given up on after a hedge delay and counted: the
// disk ends no read, so it is stalled, not busy, and not waited on.
func TestDiskStalledAfterRestart(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 3
	data := putMovie(org, "/stall-restart.mp4", chunks)
	dir := t.TempDir()
	n := startDiskNode(t, org.URL(), dir)
	readAll(t, n.Node, "/stall-restart.mp4", data, chunks)
	n.stop()
	m := startDiskNodeWith(t, org.URL(), dir, func(cfg *Config) {
		cfg.HedgeDelay = 50 * time.Millisecond
		var stalled atomic.Bool
		stalled.Store(true)
		cfg.wrapDisk = func(d engine.Disk) engine.Disk { return &stallingDisk{Disk: d, stalled: &stalled} }
	})
	for i := range chunks {
		if res := readChunk(t, m.Node, "/stall-restart.mp4", data, i); res.header.Get("X-Cache") != "MISS" {
			t.Errorf("chunk %d with the disk stalled: X-Cache %q, want MISS", i, res.header.Get("X-Cache"))
		}
	}
	// The object's read, then each chunk's but the first, which came with
	// the lookup.
	if s := m.Stats(); s.DiskSlow != chunks || s.ObjectsFromDisk != 0 {
		t.Errorf("%d slow disk reads, %d objects from the disk; want %d and 0", s.DiskSlow, s.ObjectsFromDisk, chunks)
	}
}
