package engine

import (
	"context"
	"strconv"

	"github.com/edgecache/edgecache/chunk"
)

// Disk is the tier behind the memory store: it keeps the shards this node
// owns and the chunks it served across restarts. *disk.Store satisfies
// it; the engine declares only what it calls, so that it depends on no
// storage package and tests can stand in a fake.
type Disk interface {
	// Put queues v under key, filed under group; it never blocks and
	// reports whether it took the value.
	Put(key, group string, v []byte) bool
	// Get reads key; any error is a miss.
	Get(ctx context.Context, key string) ([]byte, error)
	// Remove drops key.
	Remove(key string) bool
	// RemoveGroup drops every key filed under group, durably.
	RemoveGroup(ctx context.Context, group string) (int, error)
}

// diskKey names a store entry on the disk: the chunk key's canonical
// encoding, then the shard number (-1 for a decoded chunk). The encoding
// is unambiguous (chunk.Key.String), so the suffix cannot collide.
func diskKey(k StoreKey) string {
	return k.String() + "/" + strconv.Itoa(k.Shard)
}

// add stores v under k in memory and writes it through to the disk, so
// that what this node owns or served survives a restart. The disk only
// queues the write.
func (e *Engine) add(k StoreKey, v []byte) {
	e.store.Add(k, v)
	if e.cfg.Disk != nil {
		e.cfg.Disk.Put(diskKey(k), k.Object, v)
	}
}

// fromDisk reads k from the disk after a memory miss; an error, or no
// disk, is a miss.
func (e *Engine) fromDisk(ctx context.Context, k StoreKey) ([]byte, bool) {
	if e.cfg.Disk == nil {
		return nil, false
	}
	v, err := e.cfg.Disk.Get(ctx, diskKey(k))
	if err != nil {
		e.stats.diskMisses.Add(1)
		return nil, false
	}
	e.stats.diskHits.Add(1)
	return v, true
}

// localShard returns shard k from memory, else from the disk. A shard
// read from the disk is left there, where it is as cheap to find next
// time, rather than crowd memory.
func (e *Engine) localShard(ctx context.Context, k StoreKey) ([]byte, bool) {
	if b, ok := e.store.Get(k); ok {
		return b, true
	}
	return e.fromDisk(ctx, k)
}

// localChunk returns decoded chunk key of o from memory (SourceHit), else
// from the disk (SourceDisk). A chunk read from the disk goes back into
// memory, since it is what a player reads again, unless a purge overtook
// o's lookup.
func (e *Engine) localChunk(ctx context.Context, o *Object, key chunk.Key) ([]byte, Source, bool) {
	k := ChunkEntry(key)
	if b, ok := e.store.Get(k); ok {
		return b, SourceHit, true
	}
	v, ok := e.fromDisk(ctx, k)
	if ok {
		e.fence.Admit(o.Key, o.gen, func() { e.store.Add(k, v) })
	}
	return v, SourceDisk, ok
}

// dropLocal drops k from memory and from the disk: a corrupt copy must
// not be read back after a restart.
func (e *Engine) dropLocal(k StoreKey) {
	e.store.Remove(k)
	if e.cfg.Disk != nil {
		e.cfg.Disk.Remove(diskKey(k))
	}
}

// purgeDisk drops the object key's entries from the disk and waits until
// the removal is durable (bounded by the fill timeout), so that nothing
// purged comes back after a restart. It returns how many it dropped.
func (e *Engine) purgeDisk(key string) int {
	if e.cfg.Disk == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.FillTimeout)
	defer cancel()
	n, err := e.cfg.Disk.RemoveGroup(ctx, key)
	if err != nil {
		e.log.Warn("purging the disk failed", "key", key, "err", err)
	}
	return n
}
