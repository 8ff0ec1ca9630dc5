package engine

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/edgecache/edgecache/chunk"
)

// assembly is where one rebuild puts the shards it reads off the network.
// A data shard is read straight to its place in the chunk's buffer, so a
// rebuild that gets the k data shards copies nothing: before, the peers'
// responses were buffered (a new, zeroed buffer of twice the body each)
// and then copied into the chunk, which together cost the reading edge a
// sixth of its CPU. Parity shards, and data shards whose place is taken,
// are read into pooled buffers of their own.
type assembly struct {
	key          chunk.Key
	k, m         int
	chunkLen, sl int

	mu  sync.Mutex
	out []byte // the chunk and its padding: data shard i at out[i*sl:]
	// skip marks the indices known corrupt, which are not read: a copy of
	// the caller's, which changes for the next attempt while this one's
	// stragglers may still look.
	skip    []bool
	taken   []bool // data places in out being or been filled
	filled  []bool // indices this rebuild has whole: others' copies are skipped
	filling int    // places being filled now
	done    bool   // the rebuild has what it needs: frames still coming are refused
	// spare holds, for release, the pool buffers of the shards peers sent
	// (owned by the gatherer alone).
	spare [][]byte
}

func newAssembly(key chunk.Key, chunkLen int, codec *chunk.Codec, skip []bool) *assembly {
	k, total := codec.Data(), codec.Total()
	sl := codec.ShardLen(chunkLen)
	return &assembly{
		key: key, k: k, m: codec.Parity(), chunkLen: chunkLen, sl: sl,
		out:    make([]byte, k*sl),
		skip:   slices.Clone(skip),
		taken:  make([]bool, total),
		filled: make([]bool, total),
	}
}

// fits reports whether s is a shard of the chunk being rebuilt, with this
// cluster's parameters; a member never sends any other.
func (a *assembly) fits(s chunk.Shard) bool {
	return s.Key == a.key && s.Data == a.k && s.Parity == a.m && s.ChunkLen == a.chunkLen && s.Index < a.k+a.m
}

// have records that this node holds shard i already.
func (a *assembly) have(i int) {
	a.mu.Lock()
	a.filled[i] = true
	a.mu.Unlock()
}

func (a *assembly) place(s chunk.Shard, sl int) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.done:
		return nil, ErrEnough
	case sl != a.sl || a.skip[s.Index] || a.filled[s.Index]:
		return nil, nil
	case s.Index < a.k && !a.taken[s.Index]:
		a.taken[s.Index] = true
		a.filling++
		at := s.Index * a.sl
		return a.out[at : at+a.sl : at+a.sl], nil
	}
	return getShardBuf(a.sl), nil
}

// placed ends the read of one shard: a place in out is free again if the
// read failed, a buffer of its own goes back to the pool.
func (a *assembly) placed(s chunk.Shard, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inPlace(s) {
		a.filling--
		a.taken[s.Index] = ok
	} else if !ok {
		putShardBuf(s.Bytes)
	}
	if ok {
		a.filled[s.Index] = true
	}
}

func (a *assembly) inPlace(s chunk.Shard) bool {
	return s.Index < a.k && &s.Bytes[0] == &a.out[s.Index*a.sl]
}

// finish ends the reading: no more shards are placed. It returns the
// buffer the chunk is to be rebuilt in: out, unless a peer that is still
// reading writes to it, and then nil (the chunk gets a buffer of its own;
// the straggler's is dropped when it is done).
func (a *assembly) finish() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done = true
	if a.filling > 0 {
		return nil
	}
	return a.out
}

// release hands the pool back the buffers of the peers' shards that were
// not read into out; the shards must not be used after.
func (a *assembly) release() {
	for _, b := range a.spare {
		putShardBuf(b)
	}
	a.spare = nil
}

// shardBufs recycles the buffers of shards that are not read into a
// chunk's buffer (parity, duplicates): each would otherwise be a new,
// zeroed allocation per shard read.
var shardBufs sync.Pool

func getShardBuf(n int) []byte {
	if p, ok := shardBufs.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

func putShardBuf(b []byte) {
	b = b[:0]
	shardBufs.Put(&b)
}

// peerRead is one member's part of a rebuild: it hands the gatherer each
// shard as it completes, counts the frames of another chunk, and shows the
// gatherer that the member is answering.
type peerRead struct {
	a       *assembly
	addr    string
	events  chan<- peerEvent
	foreign int
	// progress counts the bytes of the answer read so far (and 1 for its
	// header). The rest is the gatherer's: seen is its last look at
	// progress, ended whether the read is over, and covered whether other
	// owners were asked to stand in for it.
	progress atomic.Int64
	seen     int64
	ended    bool
	covered  bool
}

// moved reports whether r has read anything since the gatherer last
// looked, and remembers what it saw.
func (r *peerRead) moved() bool {
	now := r.progress.Load()
	moved := now != r.seen
	r.seen = now
	return moved
}

// Place is ShardSink's: a shard of another chunk is counted and skipped.
func (r *peerRead) Place(s chunk.Shard, sl int) ([]byte, error) {
	if !r.a.fits(s) {
		r.foreign++
		return nil, nil
	}
	return r.a.place(s, sl)
}

// Placed is ShardSink's: a whole shard goes to the gatherer.
func (r *peerRead) Placed(s chunk.Shard, ok bool) {
	r.a.placed(s, ok)
	if ok {
		r.events <- peerEvent{read: r, shard: s, got: true}
	}
}

// Progress is ShardSink's.
func (r *peerRead) Progress(n int) { r.progress.Add(int64(n)) }

// peerEvent is what a read of one member reports: a shard as it completes
// (got), then once the end of its answer.
type peerEvent struct {
	read    *peerRead
	got     bool
	shard   chunk.Shard
	bad     int
	foreign int
	err     error
}
