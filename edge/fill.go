package edge

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgecache/edgecache/chunk"
)

// source says where the bytes of a chunk came from. The order matters: a
// response reports the worst source among its chunks.
type source uint8

const (
	srcHit    source = iota // local memory
	srcPeer                 // rebuilt from peers' shards, or a leader's memory
	srcOrigin               // fetched from the origin
)

func (s source) String() string {
	switch s {
	case srcHit:
		return "HIT"
	case srcPeer:
		return "PEER"
	default:
		return "MISS"
	}
}

// fillResult is what one shared fill hands to every request waiting on it.
type fillResult struct {
	data []byte
	src  source
}

// chunkLen is the length of chunk idx of o: every chunk is full but the
// last.
func (n *Node) chunkLen(o *object, idx int64) int {
	return int(min(n.cfg.ChunkSize, o.meta.Size-idx*n.cfg.ChunkSize))
}

// getChunk returns the bytes of chunk idx of o, from local memory when it
// can, else through one fill shared by every request that wants the chunk.
// ctx bounds only this caller's wait: the fill itself goes on for the
// others, and its result is kept.
func (n *Node) getChunk(ctx context.Context, o *object, idx int64) ([]byte, source, error) {
	if !o.storable() {
		// Nothing of it may be kept or shared between clients.
		b, err := n.readOrigin(ctx, o, idx)
		return b, srcOrigin, err
	}
	key := o.chunkKey(idx)
	if b, ok := n.store.Get(chunkEntry(key)); ok {
		return b, srcHit, nil
	}
	ch := n.fills.DoChan(key.String(), func() (any, error) { return n.fill(o, key) })
	select {
	case r := <-ch:
		if r.Shared {
			n.stats.coalesced.Add(1)
		}
		if r.Err != nil {
			return nil, srcOrigin, r.Err
		}
		fr := r.Val.(fillResult)
		return fr.data, fr.src, nil
	case <-ctx.Done():
		return nil, srcOrigin, ctx.Err()
	}
}

// fill brings one chunk into local memory: rebuilt from any k of its
// shards on the ring, else filled by its leader, which asks the origin once
// for the whole cluster. It runs once per chunk on this node however many
// requests wait for it.
func (n *Node) fill(o *object, key chunk.Key) (fillResult, error) {
	if b, ok := n.store.Get(chunkEntry(key)); ok {
		return fillResult{b, srcHit}, nil
	}
	n.stats.fillsInFlight.Add(1)
	defer n.stats.fillsInFlight.Add(-1)
	if n.cluster.alone() {
		return n.leadFill(o, key)
	}
	owners := n.cluster.shardOwners(key.Hash(), n.codec.Total())
	data, err := n.rebuildFromPeers(key, n.chunkLen(o, key.Index), owners)
	if err == nil && len(data) == n.chunkLen(o, key.Index) {
		n.keep(o, chunkEntry(key), data)
		return fillResult{data, srcPeer}, nil
	}
	return n.fillFromLeader(o, key, owners)
}

// fillFromLeader asks the chunk's leader to fill it; when the leader is
// down, the next live owner leads, and this node leads when it is next.
// Before this node leads because the owners ahead of it are suspect, it
// gives them one more try: leading means asking the origin, and a member
// that timed out once under load is usually alive.
func (n *Node) fillFromLeader(o *object, key chunk.Key, owners []string) (fillResult, error) {
	tried := map[string]bool{}
	var suspects []string
	try := func(addr string) (fillResult, bool, error) {
		data, src, err := n.peers.fill(addr, o, key, n.chunkLen(o, key.Index))
		var pe *peerError
		switch {
		case err == nil:
			n.keep(o, chunkEntry(key), data)
			return fillResult{data, src}, true, nil
		case errors.As(err, &pe):
			n.log.Warn("chunk leader failed; trying the next owner", "peer", addr, "chunk", key.String(), "err", err)
			return fillResult{}, false, nil
		default:
			return fillResult{}, true, fmt.Errorf("chunk %s via leader %s: %w", key.String(), addr, err)
		}
	}
	for _, addr := range owners {
		if tried[addr] {
			continue
		}
		tried[addr] = true
		if addr == n.cluster.self {
			break
		}
		if n.cluster.isSuspect(addr) {
			suspects = append(suspects, addr)
			continue
		}
		if r, done, err := try(addr); done {
			return r, err
		}
	}
	for _, addr := range suspects {
		if r, done, err := try(addr); done {
			return r, err
		}
	}
	return n.leadFill(o, key)
}

// leadFill fills a chunk as its leader: from local memory if it is still
// there, else from the origin, once however many local requests and peers
// ask at the same time. The leader keeps the whole chunk, so that a reader
// who comes before the shards are placed is answered from it, and places
// the shards in the background: a stalled owner must not hold up the
// response.
func (n *Node) leadFill(o *object, key chunk.Key) (fillResult, error) {
	v, err, _ := n.fills.Do("lead:"+key.String(), func() (any, error) {
		if b, ok := n.store.Get(chunkEntry(key)); ok {
			return fillResult{b, srcHit}, nil
		}
		ctx, cancel := context.WithTimeout(n.baseCtx, n.cfg.FillTimeout)
		defer cancel()
		n.stats.fillsLed.Add(1)
		b, err := n.readOrigin(ctx, o, key.Index)
		if err != nil {
			return fillResult{}, err
		}
		// A purge that overtook this fill forbids keeping or placing it.
		if n.keep(o, chunkEntry(key), b) && !n.cluster.alone() {
			n.background(func() {
				if !n.overtaken(o) {
					n.placeShards(key, b)
				}
			})
		}
		return fillResult{b, srcOrigin}, nil
	})
	if err != nil {
		return fillResult{}, err
	}
	return v.(fillResult), nil
}

// placeShards encodes a chunk and sends each shard to its owner, keeping
// this node's own. It waits for the pushes, each bounded by the peer
// timeout; a failed push leaves a hole that a later read repairs.
func (n *Node) placeShards(key chunk.Key, data []byte) {
	shards, err := n.codec.Encode(key, data)
	if err != nil {
		n.log.Error("encoding a chunk failed", "chunk", key.String(), "err", err)
		return
	}
	owners := n.cluster.shardOwners(key.Hash(), len(shards))
	n.sendShards(key, shards, owners, nil)
}

// sendShards stores or pushes the shards whose indices are in only (all
// when only is nil), in parallel, and waits for them.
func (n *Node) sendShards(key chunk.Key, shards []chunk.Shard, owners []string, only []int) {
	done := make(chan struct{}, len(shards))
	sent := 0
	for i := range shards {
		if only != nil && !containsInt(only, i) {
			continue
		}
		frame := shards[i].AppendFrame(make([]byte, 0, shards[i].FrameLen()))
		if owners[i] == n.cluster.self {
			n.store.Add(shardEntry(key, i), frame)
			continue
		}
		sent++
		go func(addr string) {
			defer func() { done <- struct{}{} }()
			if err := n.peers.pushShard(addr, frame); err != nil {
				n.log.Debug("shard push failed", "peer", addr, "chunk", key.String(), "err", err)
			}
		}(owners[i])
	}
	for range sent {
		<-done
	}
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// repair re-encodes a chunk that a read found shards of missing and puts
// the missing ones back on their owners, in the background. Repairs beyond
// a small number in flight are dropped: the next read repairs them.
func (n *Node) repair(key chunk.Key, data []byte, owners []string, missing []int) {
	select {
	case n.repairs <- struct{}{}:
	default:
		return
	}
	n.stats.repairs.Add(int64(len(missing)))
	n.background(func() {
		defer func() { <-n.repairs }()
		shards, err := n.codec.Encode(key, data)
		if err != nil {
			return
		}
		n.log.Debug("repairing shards", "chunk", key.String(), "missing", missing)
		n.sendShards(key, shards, owners, missing)
	})
}

// background runs f on its own goroutine, counted so that tests and a
// graceful stop can wait for placements and repairs to settle.
func (n *Node) background(f func()) {
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		f()
	}()
}

// readOrigin reads chunk idx of o from the origin into a new buffer.
func (n *Node) readOrigin(ctx context.Context, o *object, idx int64) ([]byte, error) {
	b := make([]byte, n.chunkLen(o, idx))
	n.stats.originChunks.Add(1)
	if err := n.origin.ReadRange(ctx, o.key, o.meta, idx*n.cfg.ChunkSize, b); err != nil {
		n.stats.originErrors.Add(1)
		return nil, fmt.Errorf("chunk %d of %s: %w", idx, o.key, err)
	}
	n.stats.originBytes.Add(int64(len(b)))
	return b, nil
}
