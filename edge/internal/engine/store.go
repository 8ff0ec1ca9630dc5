package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgecache/edgecache/chunk"
)

// WholeChunk is the shard number of a decoded chunk in the store.
const WholeChunk = -1

// StoreKey names what a node keeps in memory: a decoded chunk it served
// recently (Shard == WholeChunk) or one shard frame of a chunk it owns.
// Both live in one byte-bounded store, so the budget is one number; shards
// are its durable class, which decoded chunks cannot evict beyond their
// reserve (see chunk.Store and Config.HotShare).
type StoreKey struct {
	chunk.Key
	Shard int
}

// ChunkEntry is the store key of decoded chunk k.
func ChunkEntry(k chunk.Key) StoreKey { return StoreKey{Key: k, Shard: WholeChunk} }

// ShardEntry is the store key of shard i of chunk k.
func ShardEntry(k chunk.Key, i int) StoreKey { return StoreKey{Key: k, Shard: i} }

// IsShard reports whether k names a shard frame.
func IsShard(k StoreKey) bool { return k.Shard != WholeChunk }

// Store is the node's memory: decoded chunks and shard frames.
type Store = chunk.Store[StoreKey, []byte]

// entryCost charges an entry its bytes, its key strings and the store's
// bookkeeping, so that the budget bounds memory, not payload.
func entryCost(k StoreKey, v []byte) int64 {
	return int64(len(v)+len(k.Object)+len(k.Version)) + chunk.EntryOverhead
}

func newStore(maxBytes, hotReserve int64) (*Store, error) {
	// Entries are filed by object, so that a purge finds an object's
	// chunks and shards without scanning the store.
	return chunk.NewStore(chunk.StoreConfig[StoreKey, []byte]{MaxBytes: maxBytes, Cost: entryCost,
		Durable: IsShard, CopyReserve: hotReserve, Group: func(k StoreKey) string { return k.Object }})
}

// keep stores v under k, a chunk or shard of o, unless o's key was purged
// after o was looked up: a fill the purge overtook must not bring the old
// version back. It reports whether it stored. Every chunk the engine keeps
// goes through here.
func (e *Engine) keep(o *Object, k StoreKey, v []byte) bool {
	return e.fence.Admit(o.Key, o.gen, func() { e.add(k, v) })
}

// overtaken reports whether o's key was purged after o was looked up.
func (e *Engine) overtaken(o *Object) bool {
	return !e.fence.Admit(o.Key, o.gen, func() {})
}

// Cached returns decoded chunk key if this node holds it: the hit path.
func (e *Engine) Cached(key chunk.Key) ([]byte, bool) { return e.store.Get(ChunkEntry(key)) }

// Holds reports whether this node holds decoded chunk key, without
// touching its recency.
func (e *Engine) Holds(key chunk.Key) bool { return e.store.Contains(ChunkEntry(key)) }

// ShardFrames returns every shard frame of key this node holds, in memory
// or on its disk, whichever index it is: a shard that moved with a
// membership change is still found. The disk reads end with ctx or
// within the peer timeout, whichever is first: the member asking waits
// no longer than that.
func (e *Engine) ShardFrames(ctx context.Context, key chunk.Key) [][]byte {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.PeerTimeout)
	defer cancel()
	var frames [][]byte
	for i := range e.codec.Total() {
		if f, ok := e.localShard(ctx, ShardEntry(key, i)); ok {
			frames = append(frames, f)
		}
	}
	return frames
}

// Errors of StoreShard.
var (
	// ErrBadShard is a frame that does not decode or fails its checksums.
	ErrBadShard = errors.New("bad shard frame")
	// ErrShardMismatch is a shard of other chunk parameters than this
	// cluster's.
	ErrShardMismatch = errors.New("shard does not fit this cluster's chunk parameters")
)

// StoreShard keeps a shard frame a leader or a repairing reader pushed
// here; frame is kept as it is, so the caller hands over its ownership.
func (e *Engine) StoreShard(frame []byte, from string) error {
	s, err := chunk.DecodeFrame(frame)
	switch {
	case err != nil:
		e.stats.shardsCorrupt.Add(1)
		e.log.Warn("peer pushed a bad shard frame", "peer", from, "err", err)
		return fmt.Errorf("%w: %w", ErrBadShard, err)
	case s.Data != e.codec.Data() || s.Parity != e.codec.Parity() || int64(s.ChunkLen) > e.cfg.ChunkSize:
		e.stats.shardsCorrupt.Add(1)
		e.log.Warn("peer pushed a shard of other chunk parameters", "peer", from,
			"chunk", s.Key.String(), "k", s.Data, "m", s.Parity, "chunk_len", s.ChunkLen)
		return ErrShardMismatch
	}
	e.add(ShardEntry(s.Key, s.Index), frame)
	return nil
}
