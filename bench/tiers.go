package bench

import "sync/atomic"

// TierBytes are the body bytes a deployment sent to its clients, by where
// its edges found them, as the edges themselves count them. Unlike the
// X-Cache split (Summary.BytesBySource), which files a whole response
// under its worst chunk, every byte counts under its own source.
type TierBytes struct {
	Memory int64 `json:"memory"` // from the answering edge's memory
	Disk   int64 `json:"disk"`   // from the answering edge's disk tier
	Peer   int64 `json:"peer"`   // rebuilt from peers' shards, or a leader's memory
	Origin int64 `json:"origin"` // fetched from the origin
}

func (t TierBytes) sub(u TierBytes) TierBytes {
	return TierBytes{Memory: t.Memory - u.Memory, Disk: t.Disk - u.Disk, Peer: t.Peer - u.Peer, Origin: t.Origin - u.Origin}
}

// Total is the bytes of every tier.
func (t TierBytes) Total() int64 { return t.Memory + t.Disk + t.Peer + t.Origin }

// WorkingSet is the data a run asked for against what the origin sent
// for it, warmup included: a deployment that keeps its working set sends
// each unique byte from the origin about once, however many times it is
// read.
type WorkingSet struct {
	// UniqueBytes are the object bytes asked for at least once, warmup
	// included, counted in 4 KiB blocks of each object that a request
	// covered whole (an object's last block may be shorter): a range
	// that starts or ends inside a block does not count that block, so
	// the figure errs low, and the ratio high, by up to 8 KiB a request
	// for unaligned ranges.
	UniqueBytes int64 `json:"unique_bytes"`
	// OriginBytes are the origin's body bytes over the whole run, warmup
	// included.
	OriginBytes int64 `json:"origin_bytes"`
	// EgressRatio is OriginBytes / UniqueBytes; 0 when nothing was asked.
	EgressRatio float64 `json:"egress_ratio"`
}

// uniqueBlock is the unit in which the bytes asked for are tracked.
const uniqueBlock = 4 << 10

// uniqueSet records which blocks of each object the run asked for. It
// takes an atomic load per 256 KiB asked and no lock, so that tracking
// costs the workers nothing measurable: one bit per 4 KiB, 32 KiB for
// each GiB of catalogue.
type uniqueSet struct {
	sizes []int64
	bits  [][]atomic.Uint64
}

func newUniqueSet(objs []object) *uniqueSet {
	u := &uniqueSet{sizes: make([]int64, len(objs)), bits: make([][]atomic.Uint64, len(objs))}
	for i, o := range objs {
		blocks := (o.size + uniqueBlock - 1) / uniqueBlock
		u.sizes[i], u.bits[i] = o.size, make([]atomic.Uint64, (blocks+63)/64)
	}
	return u
}

// add records the request of bytes [off, off+n) of object id.
func (u *uniqueSet) add(id int, off, n int64) {
	size := u.sizes[id]
	first, end := (off+uniqueBlock-1)/uniqueBlock, (off+n)/uniqueBlock
	if off+n >= size {
		end = (size + uniqueBlock - 1) / uniqueBlock
	}
	words := u.bits[id]
	for b := first; b < end; b = (b/64 + 1) * 64 {
		lo, hi := b%64, min(end-b/64*64, 64) // the bits [lo, hi) of this word
		mask := ^uint64(0) >> (64 - (hi - lo)) << lo
		// Popular objects are read by many workers at once: a load
		// shares the cache line, where a write of set bits would not.
		if w := &words[b/64]; w.Load()&mask != mask {
			w.Or(mask)
		}
	}
}

// total is the bytes of every block asked for.
func (u *uniqueSet) total() int64 {
	var n int64
	for id, words := range u.bits {
		size := u.sizes[id]
		for i := range words {
			v := words[i].Load()
			for bit := int64(0); v != 0; bit, v = bit+1, v>>1 {
				if v&1 != 0 {
					b := int64(i)*64 + bit
					n += min(uniqueBlock, size-b*uniqueBlock)
				}
			}
		}
	}
	return n
}
