package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
)

// Config configures an engine. Every field is required: the edge's Config
// holds the defaults and validates them.
type Config struct {
	// ChunkSize is the unit of caching and of origin fetches.
	ChunkSize int64
	// DataShards and ParityShards are k and m of the erasure code.
	DataShards, ParityShards int
	// CacheSize bounds the bytes of the store; HotShare of it is reserved
	// for decoded chunks (see the edge's Config.HotShare).
	CacheSize int64
	HotShare  float64
	// MetaEntries caps the objects whose metadata is kept.
	MetaEntries int
	// FillTimeout bounds one chunk fill and one metadata lookup.
	FillTimeout time.Duration
	// PeerTimeout bounds a shard read.
	PeerTimeout time.Duration
	// HedgeDelay is how long a shard read waits on one slow owner before
	// asking others, and how long a leader may take before it is pinged.
	HedgeDelay time.Duration
	// PurgeMemory is how long a purge fences work that began before it:
	// longer than any object looked up before it may still be used to
	// fill.
	PurgeMemory time.Duration
	// Policy is the operator's part of the caching rules (RFC 9111 leaves
	// heuristics and cookies to the cache).
	Policy httpcache.Policy
	// Via names this node in the Via field of its origin requests.
	Via string
	// Now dates objects and suspicions.
	Now func() time.Time
	// Logger receives the engine's logs.
	Logger *slog.Logger
	// Disk, if set, is the tier behind the memory store: shards and
	// decoded chunks are written through to it and read from it after a
	// memory miss. Nil: memory only.
	Disk Disk
	// ChunkDisk, with Disk, takes the decoded chunks instead of Disk,
	// which keeps the shards and objects: the ring's durable copy. A
	// disk is a log evicted oldest first, so decoded chunks sharing it
	// would push the shards out: each member serves, and would write,
	// copies of most of the working set, which the ring can rebuild,
	// while an evicted shard is a loss the origin pays for. Nil: Disk.
	ChunkDisk Disk
	// Objects, with Disk, encodes the objects this node stores so that
	// the disk keeps them too. Nil: objects are kept in memory only.
	Objects ObjectCodec
}

// Engine is one node's cache engine: its metadata cache, its store and its
// fills, over an origin and the other members of its cluster.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	origin  Origin
	peers   Peers
	cluster *Cluster
	codec   *chunk.Codec
	objects *objects
	streams streams
	store   *Store
	fence   *Fence
	fills   singleflight.Group
	repairs chan struct{} // bounds repairs in flight
	bg      background
	stats   counters
	// diskSlowUntil (Unix nanoseconds): until then the disk tier is
	// waited on for the hedge delay only, after a read it was given
	// PeerTimeout for failed to come back (see diskBound).
	diskSlowUntil atomic.Int64
	// readOnDisk holds the chunks read from the disk lately, as many as
	// memory holds: a chunk read again while listed goes into memory
	// (see ChunkLent).
	readOnDisk *lru.Cache[chunk.Key, struct{}]

	ctx  context.Context // fills and placements run under it; ends with Close
	stop context.CancelFunc
}

// maxRepairs bounds the repairs in flight; more are dropped, and the next
// read repairs them.
const maxRepairs = 64

// New builds an engine that reaches the origin through org and the other
// members of c through peers.
func New(cfg Config, org Origin, peers Peers, c *Cluster) (*Engine, error) {
	if cfg.Now == nil || cfg.Logger == nil || cfg.Via == "" {
		return nil, errors.New("engine: Now, Logger and Via are required")
	}
	codec, err := chunk.NewCodec(cfg.DataShards, cfg.ParityShards)
	if err != nil {
		return nil, err
	}
	store, err := newStore(cfg.CacheSize, int64(float64(cfg.CacheSize)*cfg.HotShare))
	if err != nil {
		return nil, err
	}
	objs, err := newObjects(cfg.MetaEntries)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, now: cfg.Now, origin: org, peers: peers, cluster: c, codec: codec,
		store: store, fence: NewFence(cfg.Now, cfg.PurgeMemory), repairs: make(chan struct{}, maxRepairs)}
	e.ctx, e.stop = context.WithCancel(context.Background())
	e.objects = objs
	if e.readOnDisk, err = lru.New[chunk.Key, struct{}](int(max(16, cfg.CacheSize/max(1, cfg.ChunkSize)))); err != nil {
		return nil, err
	}
	return e, nil
}

// Close abandons the fills in flight. It does not wait for them.
func (e *Engine) Close() { e.stop() }

// Settle waits until no placement or repair is in flight. Work may start
// while it waits (a fill another member asked for): it returns at a moment
// when none runs.
func (e *Engine) Settle() { e.bg.wait() }

// background counts the work the engine runs in the background. Unlike a
// sync.WaitGroup, it may be waited on while work starts, as the tests
// of a live cluster do.
type background struct {
	mu   sync.Mutex
	n    int
	idle *sync.Cond
}

func (b *background) add(d int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += d
	if b.n == 0 && b.idle != nil {
		b.idle.Broadcast()
	}
}

func (b *background) wait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.idle == nil {
		b.idle = sync.NewCond(&b.mu)
	}
	for b.n > 0 {
		b.idle.Wait()
	}
}

// Cluster is the engine's view of its cluster.
func (e *Engine) Cluster() *Cluster { return e.cluster }

// Store is the engine's memory.
func (e *Engine) Store() *Store { return e.store }

// Codec is the erasure code of the cluster.
func (e *Engine) Codec() *chunk.Codec { return e.codec }

// Fence is the purge fence.
func (e *Engine) Fence() *Fence { return e.fence }

// ChunkLen is the length of chunk idx of o: every chunk is full but the
// last.
func (e *Engine) ChunkLen(o *Object, idx int64) int {
	return int(min(e.cfg.ChunkSize, o.Meta.Size-idx*e.cfg.ChunkSize))
}

// counters are the engine's running totals.
type counters struct {
	coalesced     atomic.Int64
	fillsLed      atomic.Int64
	fillsInFlight atomic.Int64
	shardsCorrupt atomic.Int64
	hedges        atomic.Int64
	repairs       atomic.Int64
	originLookups atomic.Int64
	originChunks  atomic.Int64
	streams       atomic.Int64
	diskHits      atomic.Int64
	diskLent      atomic.Int64
	diskMisses    atomic.Int64
	diskSlow      atomic.Int64
	// objectsFromDisk counts metadata-cache misses the disk answered.
	objectsFromDisk atomic.Int64
}

// Stats are the engine's counters since it started.
type Stats struct {
	Coalesced     int64 // lookups and fills that joined one already in flight
	FillsLed      int64 // chunk fills led as the chunk's leader: one origin read each
	FillsInFlight int64 // chunk fills running now
	ShardsCorrupt int64 // shards found corrupt or inconsistent
	Hedges        int64 // shard reads that asked more owners after the hedge delay
	Repairs       int64 // shards re-encoded and pushed back after a read found them missing
	OriginLookups int64 // requests to the origin for what an object is now (its first chunk with it)
	OriginChunks  int64 // ranged requests to the origin for one chunk
	Streams       int64 // requests to the origin for a body from an offset to its end, cut into chunks
	DiskHits      int64 // memory misses the disk answered
	DiskLent      int64 // of DiskHits, decoded chunks sent from a buffer the disk lent, not kept in memory
	DiskMisses    int64 // memory misses the disk did not answer (absent, an error, or the caller gave up)
	DiskSlow      int64 // disk reads given up on as too slow: past a hedge delay for a player (or past the peer timeout for a peer), the ring asked instead
	// ObjectsFromDisk counts lookups the disk answered with the stored
	// object, which neither a peer nor the origin was asked for.
	ObjectsFromDisk int64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Coalesced:     e.stats.coalesced.Load(),
		FillsLed:      e.stats.fillsLed.Load(),
		FillsInFlight: e.stats.fillsInFlight.Load(),
		ShardsCorrupt: e.stats.shardsCorrupt.Load(),
		Hedges:        e.stats.hedges.Load(),
		Repairs:       e.stats.repairs.Load(),
		OriginLookups: e.stats.originLookups.Load(),
		OriginChunks:  e.stats.originChunks.Load(),
		Streams:       e.stats.streams.Load(),
		DiskHits:      e.stats.diskHits.Load(),
		DiskLent:      e.stats.diskLent.Load(),
		DiskMisses:    e.stats.diskMisses.Load(),
		DiskSlow:      e.stats.diskSlow.Load(),

		ObjectsFromDisk: e.stats.objectsFromDisk.Load(),
	}
}
