package edge

import (
	"context"
	"fmt"

	"github.com/edgecache/edgecache/chunk"
)

// source says where the bytes of a chunk came from. The order matters: a
// response reports the worst source among its chunks.
type source uint8

const (
	srcHit    source = iota // local memory
	srcPeer                 // rebuilt from peers' shards
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
	if b, ok := n.hot.Get(key); ok {
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

// fill brings one chunk into local memory. It runs once per chunk however
// many requests wait for it.
func (n *Node) fill(o *object, key chunk.Key) (fillResult, error) {
	if b, ok := n.hot.Get(key); ok {
		return fillResult{b, srcHit}, nil
	}
	ctx, cancel := context.WithTimeout(n.baseCtx, n.cfg.FillTimeout)
	defer cancel()
	n.stats.fillsInFlight.Add(1)
	defer n.stats.fillsInFlight.Add(-1)
	b, err := n.readOrigin(ctx, o, key.Index)
	if err != nil {
		return fillResult{}, err
	}
	n.hot.Add(key, b)
	return fillResult{b, srcOrigin}, nil
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
