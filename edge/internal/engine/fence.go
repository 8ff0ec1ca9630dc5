package engine

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A purge drops every version of one object on every member; work that
// began before it (a lookup, a fill) may finish after it. Every object
// carries the purge epoch at which its lookup began (Object.gen), and
// nothing of an object whose key was purged since is stored: neither its
// metadata nor a chunk nor the placement of its shards. A fill the purge
// overtook still answers the requests that waited for it, but leaves
// nothing behind.

// Fence remembers recent purges, so that work that began before a purge
// cannot put back what the purge dropped.
type Fence struct {
	now func() time.Time
	// keep is how long a purge is remembered: longer than any object looked
	// up before it may still be used to fill.
	keep time.Duration

	count atomic.Int64  // purges this node carried out
	gen   atomic.Uint64 // the epoch: how many purges there have been
	// mu orders purges against stores: a store holds it shared while it
	// checks and adds, a purge exclusively while it marks its key, so that
	// an entry either lands before the mark (and the purge's sweep drops
	// it) or sees the mark.
	mu   sync.RWMutex
	last map[string]purgeMark // guarded by mu; object key -> its last purge
}

type purgeMark struct {
	epoch uint64
	at    time.Time
}

// NewFence returns a fence that remembers each purge for keep.
func NewFence(now func() time.Time, keep time.Duration) *Fence {
	return &Fence{now: now, keep: keep, last: map[string]purgeMark{}}
}

// Epoch returns the current purge epoch: a lookup that begins now records
// it, and may store what it learns only if no purge of its key comes
// after.
func (f *Fence) Epoch() uint64 { return f.gen.Load() }

// Admit runs store unless key was purged after epoch gen, and reports
// whether it ran.
func (f *Fence) Admit(key string, gen uint64, store func()) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if m, ok := f.last[key]; ok && m.epoch > gen {
		return false
	}
	store()
	return true
}

// Mark records a purge of key and returns its epoch. Marks older than keep
// are forgotten here: purges are rare, so the sweep costs nothing that
// matters, and the map holds at most the purges of the last keep.
func (f *Fence) Mark(key string) uint64 {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, m := range f.last {
		if now.Sub(m.at) > f.keep {
			delete(f.last, k)
		}
	}
	e := f.gen.Add(1)
	f.last[strings.Clone(key)] = purgeMark{epoch: e, at: now}
	f.count.Add(1)
	return e
}

// Count is how many purges this node carried out.
func (f *Fence) Count() int64 { return f.count.Load() }

// Purge drops every version of the object key on this node: its metadata
// (and any lookup in flight, so that later requests do not join it) and
// every chunk and shard in the store, and fences the work in flight. The
// store files its entries by object (chunk.StoreConfig.Group), so this
// visits only the object's entries: a scan of the whole store held its
// lock for 2 to 13 ms at 100,000 entries, a stall of every hit. It reports
// whether the metadata was held and how many entries were dropped.
func (e *Engine) Purge(key string) (metadata bool, entries int) {
	e.fence.Mark(key)
	had := e.objects.forget(key)
	dropped := e.store.RemoveGroup(key)
	onDisk := e.purgeDisk(key)
	e.log.Info("purged", "key", key, "metadata", had, "entries", dropped, "disk_entries", onDisk)
	return had, dropped
}
