package engine

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

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
	// Get reads key; any error is a miss. It returns once ctx ends: the
	// engine bounds a read a player waits on by the hedge delay, and
	// counts a read past its bound as slow by context.DeadlineExceeded.
	Get(ctx context.Context, key string) ([]byte, error)
	// Contains reports, without I/O, whether key is held (a rare false
	// positive only costs a write skipped: the entry is fetched again
	// when a read misses it).
	Contains(key string) bool
	// LastRead is when the device last ended a read: a read waited on
	// past the hedge delay is worth waiting for only while the device
	// ends others (busy), not when it ends none (stalled).
	LastRead() time.Time
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
// queues the write, and is not written what it holds already (a key
// names one version's bytes): a disk read given up on as slow is followed
// by a fill that keeps the same chunk again, and the disk is a log, where
// each rewrite would push older entries, the shards the ring counts on,
// out sooner.
func (e *Engine) add(k StoreKey, v []byte) {
	e.store.Add(k, v)
	if d := e.diskFor(k); d != nil {
		if key := diskKey(k); !d.Contains(key) {
			d.Put(key, k.Object, v)
		}
	}
}

// diskFor returns the disk that keeps k: Config.ChunkDisk for a decoded
// chunk when there is one, else Config.Disk (nil without a disk tier).
func (e *Engine) diskFor(k StoreKey) Disk {
	if k.Shard < 0 && e.cfg.ChunkDisk != nil {
		return e.cfg.ChunkDisk
	}
	return e.cfg.Disk
}

// fromDisk reads k from the disk after a memory miss; an error, or no
// disk, is a miss.
func (e *Engine) fromDisk(ctx context.Context, k StoreKey) ([]byte, bool) {
	d := e.diskFor(k)
	if d == nil {
		return nil, false
	}
	v, err := d.Get(ctx, diskKey(k))
	e.countDiskRead(err, errors.Is(err, context.DeadlineExceeded))
	return v, err == nil
}

// countDiskRead counts a disk read: a hit, or a miss, slow or not.
func (e *Engine) countDiskRead(err error, slow bool) {
	switch {
	case err == nil:
		e.stats.diskHits.Add(1)
	case slow:
		e.stats.diskSlow.Add(1)
		fallthrough
	default:
		e.stats.diskMisses.Add(1)
	}
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
func (e *Engine) localChunk(o *Object, key chunk.Key, patient bool) ([]byte, Source, bool) {
	k := ChunkEntry(key)
	if b, ok := e.store.Get(k); ok {
		return b, SourceHit, true
	}
	d := e.diskFor(k)
	if d == nil {
		return nil, SourceHit, false
	}
	v, ok := boundedRead(e, e.ctx, d, diskKey(k), patient, d.Get)
	if ok {
		e.fence.Admit(o.Key, o.gen, func() { e.store.Add(k, v) })
	}
	return v, SourceDisk, ok
}

// boundedRead reads key from d with read for a player, within diskBound.
// A patient read past the hedge delay goes on while the device ends
// reads: if it ended none within the hedge delay, it has stallWindow
// hedge delays more to end one, as a slow leader has a ping to answer
// (patient); a disk that ends none then is stalled, not busy, and the
// read is given up. The window spans the gaps of a device throttled in
// slices (the kernel's blkio throttle dispatches in 100 ms slices). A
// patient read given up on holds the disk slow.
func boundedRead[T any](e *Engine, parent context.Context, d Disk, key string, patient bool, read func(context.Context, string) (T, error)) (T, bool) {
	bound, patient := e.diskBound(patient)
	ctx, cancel := context.WithTimeout(parent, bound)
	defer cancel()
	var stalled atomic.Bool
	if patient {
		t := time.AfterFunc(e.cfg.HedgeDelay, func() {
			if e.now().Sub(d.LastRead()) < e.cfg.HedgeDelay {
				return // busy
			}
			quiet := e.now()
			w := time.NewTimer(stallWindow * e.cfg.HedgeDelay)
			defer w.Stop()
			select {
			case <-ctx.Done(): // the read ended
			case <-w.C:
				if !d.LastRead().After(quiet) {
					stalled.Store(true)
					cancel()
				}
			}
		})
		defer t.Stop()
	}
	v, err := read(ctx, key)
	slow := err != nil && (stalled.Load() || errors.Is(err, context.DeadlineExceeded))
	e.countDiskRead(err, slow)
	if slow && patient {
		e.diskMissed(key, stalled.Load())
	}
	return v, err == nil
}

// stallWindow is how many hedge delays a disk that ended no read lately
// has to end one before a patient read takes it for stalled.
const stallWindow = 10

// diskBound is how long a read of the disk that a player waits on may
// take: past it the entry is taken to be absent. When the ring is what
// answers then (patient false), the bound is the hedge delay, as for a
// slow owner (ARCHITECTURE.md, invariant 6). When the origin would
// (patient: a node alone, or the leader of the chunk or the object), a
// disk busy under load is worth waiting for, up to PeerTimeout, as a
// busy leader is (see patient); a disk that stalled or missed that bound
// is held slow for the suspect period (diskMissed), and waited on for the
// hedge delay only meanwhile. It reports whether the read is a patient
// one.
func (e *Engine) diskBound(patient bool) (time.Duration, bool) {
	if patient && e.now().UnixNano() >= e.diskSlowUntil.Load() {
		return max(e.cfg.HedgeDelay, e.cfg.PeerTimeout), true
	}
	return e.cfg.HedgeDelay, false
}

// diskMissed holds the disk slow after a patient read of key was given
// up on: stalled, or past the peer timeout.
func (e *Engine) diskMissed(key string, stalled bool) {
	e.diskSlowUntil.Store(e.now().Add(e.cluster.cfg.SuspectFor).UnixNano())
	e.log.Warn("disk read given up on: the disk is waited on for the hedge delay only for a while",
		"key", key, "stalled", stalled, "for", e.cluster.cfg.SuspectFor)
}

// Lent is a value a disk read into a buffer it lends: Bytes is valid
// until Release gives the buffer back, for another read to reuse.
type Lent interface {
	Bytes() []byte
	Release()
}

// Lender is a Disk that can lend its read buffers (the edge's disk tier
// does): a chunk sent to a player and then dropped costs no fresh buffer,
// nor the zeroing and the collection of one.
type Lender interface {
	Lend(ctx context.Context, key string) (Lent, error)
}

// lend reads decoded chunk key into a buffer the disk lends, if the disk
// can lend and holds the chunk, and the chunk was not read from it lately:
// a chunk read again within the memory's turnover is left to the fill,
// which keeps it in memory. What a player reads once stays on the disk,
// and what players read again is worth memory: a scan of the long tail
// does not push the hot chunks out of memory. asked says whether the
// disk was read: v is nil when it was and did not answer in time, or
// failed.
func (e *Engine) lend(key chunk.Key) (v Lent, asked bool) {
	k := ChunkEntry(key)
	d := e.diskFor(k)
	l, ok := d.(Lender)
	if !ok || !d.Contains(diskKey(k)) {
		return nil, false
	}
	if seen, _ := e.readOnDisk.ContainsOrAdd(key, struct{}{}); seen {
		return nil, false // and the requests for it that follow join one fill
	}
	v, _ = boundedRead(e, e.ctx, d, diskKey(k), e.cluster.Alone(), l.Lend)
	if v != nil {
		e.stats.diskLent.Add(1)
	}
	return v, true
}

// diskCandidates returns the shard indices of the chunk being gathered
// to look for on the disk, those this node owns first (a shard that moved
// with a membership change may be there under any index), and how many
// of them it owns: the shards the disk should hold.
func (gr *gatherer) diskCandidates(owners []string) (onDisk []int, mine int) {
	if gr.e.cfg.Disk == nil {
		return nil, 0
	}
	self := gr.e.cluster.Self()
	var others []int
	for i := range gr.total {
		switch {
		case gr.g.present[i] || gr.a.skip[i]:
		case i < len(owners) && owners[i] == self:
			onDisk = append(onDisk, i)
			mine++
		default:
			others = append(others, i)
		}
	}
	return append(onDisk, others...), mine
}

// readDisk starts reading shards idx of the chunk being gathered from
// this node's disk, as a read of this node's own: the gatherer hedges a
// disk that sends nothing for a hedge delay as it hedges a slow owner, so
// a slow disk costs a read no more than a slow peer does. Until the read
// ends, this node has not answered: a shard of its own the gathering did
// without may be on the disk still, and is not repaired. The read ends
// with ctx; a corrupt shard is dropped from both tiers and counted bad.
func (gr *gatherer) readDisk(ctx context.Context, idx []int) {
	if len(idx) == 0 {
		return
	}
	e, a := gr.e, gr.a
	r := &peerRead{a: a, addr: e.cluster.Self(), events: gr.events}
	gr.disk = r
	gr.reads = append(gr.reads, r)
	delete(gr.g.answered, r.addr)
	go func() {
		bad := 0
		for _, i := range idx {
			k := ShardEntry(a.key, i)
			f, ok := e.fromDisk(ctx, k)
			if !ok {
				if ctx.Err() != nil {
					break
				}
				continue
			}
			s, err := chunk.ParseFrame(f)
			if err != nil {
				e.dropLocal(k)
				bad++
				continue
			}
			r.progress.Add(int64(len(f)))
			r.events <- peerEvent{read: r, shard: s, got: true}
		}
		r.events <- peerEvent{read: r, bad: bad}
	}()
}

// dropLocal drops k from memory and from the disk: a corrupt copy must
// not be read back after a restart.
func (e *Engine) dropLocal(k StoreKey) {
	e.store.Remove(k)
	if d := e.diskFor(k); d != nil {
		d.Remove(diskKey(k))
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
	n := 0
	for _, d := range []Disk{e.cfg.Disk, e.cfg.ChunkDisk} {
		if d == nil {
			continue
		}
		dropped, err := d.RemoveGroup(ctx, key)
		if err != nil {
			e.log.Warn("purging the disk failed", "key", key, "err", err)
		}
		n += dropped
	}
	return n
}
