package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/edgecache/edgecache/chunk"
)

// Source says where the bytes of a chunk came from. The order matters: a
// response reports the worst source among its chunks.
type Source uint8

// The sources, best first.
const (
	SourceHit    Source = iota // local memory
	SourceDisk                 // a decoded chunk read from this node's disk tier
	SourcePeer                 // rebuilt from peers' shards, or a leader's memory
	SourceOrigin               // fetched from the origin
)

// NumSources is the number of sources, for arrays indexed by Source.
const NumSources = int(SourceOrigin) + 1

// String is the source as X-Cache says it. The disk is this node's cache
// as much as its memory is: both are a HIT.
func (s Source) String() string {
	switch s {
	case SourceHit, SourceDisk:
		return "HIT"
	case SourcePeer:
		return "PEER"
	default:
		return "MISS"
	}
}

// fillResult is what one shared fill hands to every request waiting on it.
type fillResult struct {
	data []byte
	src  Source
}

// Chunk returns the bytes of chunk idx of o, from local memory when it
// can, else through one fill shared by every request that wants the chunk.
// ctx bounds only this caller's wait: the fill itself goes on for the
// others, and its result is kept.
func (e *Engine) Chunk(ctx context.Context, o *Object, idx int64) ([]byte, Source, error) {
	return e.chunk(ctx, o, idx, true)
}

// ChunkLent is Chunk for a caller that is done with the bytes once it has
// sent them. A decoded chunk that only this node's disk holds, and that
// was not read from it lately, is read into a buffer the disk lends and
// is not kept in memory: release gives the buffer back, and the bytes must
// not be used after it (release is nil when there is nothing to give
// back). A chunk read from the disk again soon after goes through Chunk,
// and into memory.
func (e *Engine) ChunkLent(ctx context.Context, o *Object, idx int64) (b []byte, src Source, release func(), err error) {
	askDisk := true
	if o.Storable() {
		// One lookup of memory for a hit, the path that matters most.
		key := o.ChunkKey(idx)
		if b, ok := e.store.Get(ChunkEntry(key)); ok {
			return b, SourceHit, nil, nil
		}
		v, asked := e.lend(key)
		if v != nil {
			return v.Bytes(), SourceDisk, v.Release, nil
		}
		askDisk = !asked // a disk that did not lend the chunk in time is not asked again
	}
	b, src, err = e.chunk(ctx, o, idx, askDisk)
	return b, src, nil, err
}

// chunk is Chunk; askDisk false leaves this node's disk out of the fill
// this call starts (one it joins may have asked it).
func (e *Engine) chunk(ctx context.Context, o *Object, idx int64, askDisk bool) ([]byte, Source, error) {
	if !o.Storable() {
		return nil, SourceOrigin, fmt.Errorf("chunk %d of %s: a pass marker has no body", idx, o.Key)
	}
	key := o.ChunkKey(idx)
	if b, ok := e.store.Get(ChunkEntry(key)); ok {
		return b, SourceHit, nil
	}
	ch := e.fills.DoChan(key.String(), func() (any, error) { return e.fill(o, key, askDisk) })
	select {
	case r := <-ch:
		if r.Shared {
			e.stats.coalesced.Add(1)
		}
		if r.Err != nil {
			return nil, SourceOrigin, r.Err
		}
		fr := r.Val.(fillResult)
		return fr.data, fr.src, nil
	case <-ctx.Done():
		return nil, SourceOrigin, ctx.Err()
	}
}

// fill brings one chunk into local memory: rebuilt from any k of its
// shards on the ring, else filled by its leader, which asks the origin once
// for the whole cluster. It runs once per chunk on this node however many
// requests wait for it.
func (e *Engine) fill(o *Object, key chunk.Key, askDisk bool) (fillResult, error) {
	// A node alone has only the origin to go to past its disk.
	if b, src, ok := e.localCopy(o, key, askDisk, e.cluster.Alone()); ok {
		return fillResult{b, src}, nil
	}
	e.stats.fillsInFlight.Add(1)
	defer e.stats.fillsInFlight.Add(-1)
	if e.cluster.Alone() {
		return e.leadFill(o, key, false)
	}
	owners := e.cluster.ShardOwners(key.Hash(), e.codec.Total())
	data, err := e.rebuild(key, e.ChunkLen(o, key.Index), owners)
	if err == nil && len(data) == e.ChunkLen(o, key.Index) {
		e.keep(o, ChunkEntry(key), data)
		return fillResult{data, SourcePeer}, nil
	}
	if !o.Piecewise || key.Index == 0 {
		// The first chunk came with the lookup, at the object's leader,
		// which keeps it; and a body read as one stream is read there
		// too. Either is filled at the object's leader.
		owners = e.cluster.objectOwners(o.Key, e.codec.Total())
	}
	return e.fillFromLeader(o, key, owners)
}

// FillAsLeader fills chunk key of object o for another member, which asks
// this node as (or in place of) the chunk's leader, so that concurrent
// fills from the whole cluster meet here and the origin sees one request
// per chunk. ErrOutside: the object has no such chunk.
func (e *Engine) FillAsLeader(key chunk.Key, o *Object) ([]byte, Source, error) {
	if o.Pass || key.Object != o.Key || key.Version != o.Version || key.Index < 0 || key.Index*e.cfg.ChunkSize >= o.Meta.Size {
		return nil, SourceOrigin, ErrOutside
	}
	o.gen = e.fence.Epoch()
	r, err := e.leadFill(o, key, true)
	return r.data, r.src, err
}

// leadFill fills a chunk as its leader: from local memory if it is still
// there, or from the disk unless the caller has just looked there (a slow
// disk is waited on once per fill), else from the origin, once however
// many local requests and peers ask at the same time. The leader keeps
// the whole chunk, so that a reader who comes before the shards are
// placed is answered from it, and places the shards in the background: a
// stalled owner must not hold up the response.
func (e *Engine) leadFill(o *Object, key chunk.Key, askDisk bool) (fillResult, error) {
	v, err, _ := e.fills.Do("lead:"+key.String(), func() (any, error) {
		if b, src, ok := e.localCopy(o, key, askDisk, true); ok { // the leader's alternative is the origin
			return fillResult{b, src}, nil
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.cfg.FillTimeout)
		defer cancel()
		e.stats.fillsLed.Add(1)
		b, err := e.readOrigin(ctx, o, key.Index)
		if err != nil {
			return fillResult{}, err
		}
		if o.Piecewise {
			e.keepAndPlace(o, key.Index, b) // a stream keeps what it cuts itself
		}
		return fillResult{b, SourceOrigin}, nil
	})
	if err != nil {
		return fillResult{}, err
	}
	return v.(fillResult), nil
}

// localCopy is localChunk, or the memory's copy alone without askDisk.
func (e *Engine) localCopy(o *Object, key chunk.Key, askDisk, patient bool) ([]byte, Source, bool) {
	if askDisk {
		return e.localChunk(o, key, patient)
	}
	b, ok := e.store.Get(ChunkEntry(key))
	return b, SourceHit, ok
}

// keepAndPlace keeps chunk idx of o, fetched from the origin by this
// node, and places its shards on their owners in the background, unless a
// purge overtook the lookup of o: then nothing of it is kept or placed.
func (e *Engine) keepAndPlace(o *Object, idx int64, data []byte) {
	key := o.ChunkKey(idx)
	if e.keep(o, ChunkEntry(key), data) && !e.cluster.Alone() {
		e.background(func() {
			if !e.overtaken(o) {
				e.placeShards(key, data)
			}
		})
	}
}

// placeShards encodes a chunk and sends each shard to its owner, keeping
// this node's own. It waits for the pushes, each bounded by the peer
// timeout; a failed push leaves a hole that a later read repairs.
func (e *Engine) placeShards(key chunk.Key, data []byte) {
	shards, err := e.codec.Encode(key, data)
	if err != nil {
		e.log.Error("encoding a chunk failed", "chunk", key.String(), "err", err)
		return
	}
	owners := e.cluster.ShardOwners(key.Hash(), len(shards))
	e.sendShards(key, shards, owners, nil)
}

// sendShards stores or pushes the shards whose indices are in only (all
// when only is nil), in parallel, and waits for them.
func (e *Engine) sendShards(key chunk.Key, shards []chunk.Shard, owners []string, only []int) {
	done := make(chan struct{}, len(shards))
	sent := 0
	for i := range shards {
		if only != nil && !slices.Contains(only, i) {
			continue
		}
		frame := shards[i].AppendFrame(make([]byte, 0, shards[i].FrameLen()))
		if owners[i] == e.cluster.Self() {
			e.add(ShardEntry(key, i), frame)
			continue
		}
		sent++
		go func(addr string) {
			defer func() { done <- struct{}{} }()
			if err := e.peers.PushShard(addr, frame); err != nil {
				e.cluster.Blame(err)
				e.log.Debug("shard push failed", "peer", addr, "chunk", key.String(), "err", err)
			}
		}(owners[i])
	}
	for range sent {
		<-done
	}
}

// repair re-encodes a chunk that a read found shards of missing and puts
// the missing ones back on their owners, in the background. Repairs beyond
// a small number in flight are dropped: the next read repairs them.
func (e *Engine) repair(key chunk.Key, data []byte, owners []string, missing []int) {
	select {
	case e.repairs <- struct{}{}:
	default:
		return
	}
	e.stats.repairs.Add(int64(len(missing)))
	e.background(func() {
		defer func() { <-e.repairs }()
		shards, err := e.codec.Encode(key, data)
		if err != nil {
			return
		}
		e.log.Debug("repairing shards", "chunk", key.String(), "missing", missing)
		e.sendShards(key, shards, owners, missing)
	})
}

// background runs f on its own goroutine, counted so that tests and a
// graceful stop can wait for placements and repairs to settle.
func (e *Engine) background(f func()) {
	e.bg.add(1)
	go func() {
		defer e.bg.add(-1)
		f()
	}()
}

// readOrigin reads chunk idx of o from the origin: as a range of its own
// when o may be read in pieces, else from the one stream of its body.
func (e *Engine) readOrigin(ctx context.Context, o *Object, idx int64) ([]byte, error) {
	if !o.Piecewise {
		return e.streamChunk(ctx, o, idx)
	}
	b := make([]byte, e.ChunkLen(o, idx))
	e.stats.originChunks.Add(1)
	if err := e.origin.ReadRange(ctx, o.Key, o.Meta, o.Fetch, idx*e.cfg.ChunkSize, b); err != nil {
		return nil, fmt.Errorf("chunk %d of %s: %w", idx, o.Key, err)
	}
	return b, nil
}
