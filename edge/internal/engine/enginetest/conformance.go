package enginetest

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/origin"
)

// Transport is a way for the members of a test cluster to reach each
// other: the in-memory Network, or the edge's HTTP client and server.
type Transport interface {
	// Addr reserves the address of a new member.
	Addr(t testing.TB) string
	// Dead returns an address no member answers at: requests to it fail
	// at once.
	Dead(t testing.TB) string
	// Peers returns what the member at self reaches the others by.
	Peers(t testing.TB, self string) engine.Peers
	// Serve makes the member at addr answer with e.
	Serve(t testing.TB, addr string, e *engine.Engine)
}

// ChunkSize is the chunk size of Config.
const ChunkSize = 64 << 10

// Config is an engine configuration for tests: 64 KiB chunks, 4+2 shards,
// a 64 MiB store, a 25 ms hedge, 404s remembered for 10 s.
func Config() engine.Config {
	return engine.Config{
		ChunkSize: ChunkSize, DataShards: 4, ParityShards: 2,
		CacheSize: 64 << 20, HotShare: 0.125, MetaEntries: 1024,
		FillTimeout: 5 * time.Second, PeerTimeout: 2 * time.Second,
		HedgeDelay: 25 * time.Millisecond, PurgeMemory: time.Minute,
		Policy: httpcache.Policy{NegativeTTL: 10 * time.Second, MaxHeuristic: 24 * time.Hour},
		Via:    "edgecache-test",
		Now:    time.Now,
		Logger: slog.New(slog.DiscardHandler),
	}
}

// Get looks key up on e as a request without fields would.
func Get(t testing.TB, e *engine.Engine, key string) engine.Result {
	t.Helper()
	r, err := e.Lookup(t.Context(), engine.NewRequest(key, nil, forward.Client{}))
	if err != nil {
		t.Fatalf("lookup %s: %v", key, err)
	}
	return r
}

// Member is one engine of a test cluster.
type Member struct {
	Addr   string
	Engine *engine.Engine
}

// SuspectFor is how long the members of Start suspect a member that
// failed.
const SuspectFor = 5 * time.Second

// Start builds n engines over org, configured by cfg, that reach each
// other through tr and share one ring of all n. They are closed when the
// test ends.
func Start(t testing.TB, tr Transport, org engine.Origin, cfg engine.Config, n int) []*Member {
	t.Helper()
	cfgs := make([]engine.Config, n)
	for i := range cfgs {
		cfgs[i] = cfg
	}
	return StartEach(t, tr, org, cfgs)
}

// StartEach is Start with a configuration per member, cfgs[i] member i's:
// each member needs a Disk of its own.
func StartEach(t testing.TB, tr Transport, org engine.Origin, cfgs []engine.Config) []*Member {
	t.Helper()
	addrs := make([]string, len(cfgs))
	for i := range addrs {
		addrs[i] = tr.Addr(t)
	}
	members := make([]*Member, len(cfgs))
	for i, addr := range addrs {
		cfg := cfgs[i]
		c := engine.NewCluster(engine.ClusterConfig{Self: addr, Now: cfg.Now, SuspectFor: SuspectFor})
		c.SetMembers(addrs)
		e, err := engine.New(cfg, org, tr.Peers(t, addr), c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			e.Close()
			e.Settle()
		})
		tr.Serve(t, addr, e)
		members[i] = &Member{Addr: addr, Engine: e}
	}
	return members
}

// Movie puts at org, under path, an object of chunks chunks of Config's
// size (the last one short), of bytes drawn from seed, and returns them.
func Movie(org *Origin, path string, chunks int, seed uint64) []byte {
	data := make([]byte, chunks*ChunkSize-1000)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	org.Put(path, data, `"`+path+`"`)
	return data
}

// Collect is a ShardSink that reads every shard into a buffer of its own
// and keeps the whole ones; Stop, if set, is returned by Place.
type Collect struct {
	Shards []chunk.Shard // the shards read whole
	Failed int           // shards whose read broke
	Read   int           // the progress reported
	Stop   error
}

// Place is ShardSink's.
func (c *Collect) Place(_ chunk.Shard, sl int) ([]byte, error) {
	if c.Stop != nil {
		return nil, c.Stop
	}
	return make([]byte, sl), nil
}

// Placed is ShardSink's.
func (c *Collect) Placed(s chunk.Shard, ok bool) {
	if ok {
		c.Shards = append(c.Shards, s)
	} else {
		c.Failed++
	}
}

// Progress is ShardSink's.
func (c *Collect) Progress(n int) { c.Read += n }

// TestPeers is the contract of engine.Peers: what the engine relies on of
// a transport between its members, which the in-memory Network and the
// network client pass alike.
func TestPeers(t *testing.T, tr Transport) {
	t.Run("ping", func(t *testing.T) { testPing(t, tr) })
	t.Run("shards", func(t *testing.T) { testShards(t, tr) })
	t.Run("pushes refused", func(t *testing.T) { testPushRefused(t, tr) })
	t.Run("fill", func(t *testing.T) { testFill(t, tr) })
	t.Run("meta", func(t *testing.T) { testMeta(t, tr) })
	t.Run("object copy", func(t *testing.T) { testObjectPush(t, tr) })
	t.Run("dead member", func(t *testing.T) { testDead(t, tr) })
}

// wantPeerError fails t unless err is a *PeerError naming addr, suspect
// or not as said.
func wantPeerError(t *testing.T, what string, err error, addr string, suspect bool) {
	t.Helper()
	var pe *engine.PeerError
	if !errors.As(err, &pe) || pe.Addr != addr || pe.Suspect != suspect {
		t.Errorf("%s: %v (%#v), want a PeerError of %s with Suspect %v", what, err, pe, addr, suspect)
	}
}

func testPing(t *testing.T, tr Transport) {
	m := Start(t, tr, NewOrigin(), Config(), 2)
	peers := tr.Peers(t, m[0].Addr)
	if err := peers.Ping(m[1].Addr); err != nil {
		t.Errorf("ping a live member: %v", err)
	}
}

// encoded returns the frames of chunk 0 of a 4+2 object of chunkLen bytes.
func encoded(t *testing.T, key chunk.Key, chunkLen int) ([]chunk.Shard, [][]byte) {
	codec, err := chunk.NewCodec(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	shards, err := codec.Encode(key, bytes.Repeat([]byte("edgecache"), chunkLen/9+1)[:chunkLen])
	if err != nil {
		t.Fatal(err)
	}
	frames := make([][]byte, len(shards))
	for i, s := range shards {
		frames[i] = s.AppendFrame(nil)
	}
	return shards, frames
}

func testShards(t *testing.T, tr Transport) {
	m := Start(t, tr, NewOrigin(), Config(), 2)
	peers, to := tr.Peers(t, m[0].Addr), m[1].Addr
	key := chunk.Key{Object: "/a.mp4", Version: `e:"a"`, Index: 0}
	shards, frames := encoded(t, key, 10_000)
	sl := len(shards[0].Bytes)
	var none Collect
	if bad, err := peers.Shards(to, key, 6, sl, &none); bad != 0 || err != nil || len(none.Shards) != 0 {
		t.Fatalf("a chunk the member lacks: %d shards, %d bad, %v; want none and no error", len(none.Shards), bad, err)
	}
	for _, f := range frames {
		if err := peers.PushShard(to, f); err != nil {
			t.Fatalf("push: %v", err)
		}
	}
	var all Collect
	bad, err := peers.Shards(to, key, 6, sl, &all)
	if bad != 0 || err != nil || len(all.Shards) != 6 || all.Read == 0 {
		t.Fatalf("read back: %d shards, %d bad, %v, progress %d; want 6, 0, nil and some progress", len(all.Shards), bad, err, all.Read)
	}
	for _, s := range all.Shards {
		if !bytes.Equal(s.Bytes, shards[s.Index].Bytes) || s.Key != key {
			t.Errorf("shard %d read back differs", s.Index)
		}
	}
	// A frame that fails its header checks is counted and skipped.
	m[1].Engine.Store().Add(engine.ShardEntry(key, 2), FlipHeaderByte(bytes.Clone(frames[2])))
	var some Collect
	if bad, err := peers.Shards(to, key, 6, sl, &some); bad != 1 || err != nil || len(some.Shards) != 5 {
		t.Errorf("one corrupt frame held: %d shards, %d bad, %v; want 5, 1, nil", len(some.Shards), bad, err)
	}
	// A sink that has enough ends the read; the member is not at fault.
	stop := Collect{Stop: engine.ErrEnough}
	if _, err := peers.Shards(to, key, 6, sl, &stop); !errors.Is(err, engine.ErrEnough) {
		t.Errorf("a sink that has enough: %v, want ErrEnough", err)
	}
	var pe *engine.PeerError
	if _, err := peers.Shards(to, key, 6, sl, &stop); errors.As(err, &pe) {
		t.Errorf("a sink that has enough made the member fail: %v", err)
	}
}

func testPushRefused(t *testing.T, tr Transport) {
	m := Start(t, tr, NewOrigin(), Config(), 2)
	peers, to := tr.Peers(t, m[0].Addr), m[1].Addr
	wantPeerError(t, "a malformed frame", peers.PushShard(to, []byte("not a frame")), to, false)
	codec, err := chunk.NewCodec(3, 3)
	if err != nil {
		t.Fatal(err)
	}
	shards, err := codec.Encode(chunk.Key{Object: "/b", Version: `e:"b"`}, make([]byte, 1000))
	if err != nil {
		t.Fatal(err)
	}
	// A member of other chunk parameters is one we cannot talk to.
	wantPeerError(t, "a shard of other parameters", peers.PushShard(to, shards[0].AppendFrame(nil)), to, true)
}

func testFill(t *testing.T, tr Transport) {
	org := NewOrigin()
	data := Movie(org, "/m.mp4", 3, 1)
	m := Start(t, tr, org, Config(), 2)
	peers, to := tr.Peers(t, m[0].Addr), m[1].Addr
	o := Get(t, m[0].Engine, "/m.mp4").Object
	if o == nil {
		t.Fatal("no object for /m.mp4")
	}
	key := o.ChunkKey(2)
	last := data[2*ChunkSize:]
	for i, want := range []engine.Source{engine.SourceOrigin, engine.SourcePeer} {
		got, src, err := peers.Fill(to, key, o, len(last))
		if err != nil || !bytes.Equal(got, last) || src != want {
			t.Fatalf("fill %d: %v, %s, identical=%v; want %s", i, err, src, bytes.Equal(got, last), want)
		}
	}
	if n := org.Reads("/m.mp4"); n != 1 {
		t.Errorf("the origin served %d reads for two fills of one chunk, want 1", n)
	}
	_, _, err := peers.Fill(to, key, o, len(last)+1)
	wantPeerError(t, "a chunk of another length than asked", err, to, true)
	outside := key
	outside.Index = 3
	_, _, err = peers.Fill(to, outside, o, 1)
	wantPeerError(t, "a chunk outside the object", err, to, false)

	org.Fail("/m.mp4", origin.ErrUnreachable)
	key.Index = 1
	_, _, err = peers.Fill(to, key, o, ChunkSize)
	var ue *engine.UpstreamError
	if !errors.As(err, &ue) || ue.Status != http.StatusBadGateway {
		t.Errorf("the origin is down: %v, want an UpstreamError of 502", err)
	}
}

func testMeta(t *testing.T, tr Transport) {
	org := NewOrigin()
	data := Movie(org, "/m.mp4", 1, 2)
	org.Fail("/broken.mp4", origin.ErrUnreachable)
	m := Start(t, tr, org, Config(), 2)
	peers, to := tr.Peers(t, m[0].Addr), m[1].Addr
	req := engine.NewRequest("/m.mp4", nil, forward.Client{})
	// The first answer comes from the origin, with the object's first
	// chunk; the next from the leader's memory, without.
	for i, fetched := range []bool{true, false} {
		got, err := peers.Meta(to, req)
		if err != nil || got.Object == nil || got.Object.Status != 200 || got.Object.Meta.Size != int64(len(data)) ||
			got.Object.Header.Get("ETag") != `"/m.mp4"` || got.Fetched != fetched || bytes.Equal(got.Head, data) != fetched {
			t.Errorf("an object, ask %d: %+v, %v; want it, fetched %v, its first chunk with it if fetched", i, got, err, fetched)
		}
	}
	got, err := peers.Meta(to, engine.NewRequest("/missing.mp4", nil, forward.Client{}))
	if err != nil || got.Object == nil || got.Object.Status != http.StatusNotFound {
		t.Errorf("a missing object: %+v, %v; want its 404, stored", got, err)
	}
	_, err = peers.Meta(to, engine.NewRequest("/broken.mp4", nil, forward.Client{}))
	var ue *engine.UpstreamError
	if !errors.As(err, &ue) || ue.Status != http.StatusBadGateway {
		t.Errorf("an unreachable origin: %v, want an UpstreamError of 502", err)
	}
}

// A member given a copy of an object answers for its key from it, without
// the origin, its age carried over.
func testObjectPush(t *testing.T, tr Transport) {
	org := NewOrigin()
	Movie(org, "/c.mp4", 1, 3)
	m := Start(t, tr, org, Config(), 2)
	peers, to := tr.Peers(t, m[0].Addr), m[1].Addr
	o := &engine.Object{Key: "/c.mp4", Status: 200, Version: `e:"c"`, Meta: origin.Meta{Size: 9, ETag: `"c"`},
		Header: httpcache.Fields{{Name: "ETag", Value: `"c"`}}, Piecewise: true, Ranges: true,
		Fresh: httpcache.Freshness{Lifetime: time.Hour}}
	if err := peers.PushObject(to, o, time.Minute); err != nil {
		t.Fatalf("push: %v", err)
	}
	got, err := peers.Meta(to, engine.NewRequest("/c.mp4", nil, forward.Client{}))
	if err != nil || got.Object == nil || got.Object.Version != o.Version || got.Fetched || got.Age < time.Minute {
		t.Errorf("meta after a copy: %+v, %v; want the copy, not fetched, at least a minute old", got, err)
	}
	if n := org.Lookups("/c.mp4"); n != 0 {
		t.Errorf("the origin was asked %d times, want none", n)
	}
}

func testDead(t *testing.T, tr Transport) {
	m := Start(t, tr, NewOrigin(), Config(), 1)
	peers, dead := tr.Peers(t, m[0].Addr), tr.Dead(t)
	key := chunk.Key{Object: "/a", Version: `e:"a"`}
	wantPeerError(t, "ping", peers.Ping(dead), dead, true)
	_, err := peers.Shards(dead, key, 6, 100, &Collect{})
	wantPeerError(t, "shards", err, dead, true)
	_, frames := encoded(t, key, 100)
	wantPeerError(t, "push", peers.PushShard(dead, frames[0]), dead, true)
	o := &engine.Object{Key: "/a", Status: 200, Version: key.Version, Meta: origin.Meta{Size: 100}, Piecewise: true}
	_, _, err = peers.Fill(dead, key, o, 100)
	wantPeerError(t, "fill", err, dead, true)
	_, err = peers.Meta(dead, engine.NewRequest("/a", nil, forward.Client{}))
	wantPeerError(t, "meta", err, dead, true)
	err = peers.PushObject(dead, o, 0)
	wantPeerError(t, "object", err, dead, true)
}
