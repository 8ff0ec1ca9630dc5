package ring

import (
	"cmp"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// DefaultVirtualNodes is the number of points a member of weight 1 places
// on the ring when WithVirtualNodes is not given.
//
// It is chosen for balance. A member's share of the ring varies by about
// 1/sqrt(points) around the mean, and the most loaded of 100 members sits
// some 2.5 of those spreads above it. With 1000 points, the exact arc share
// of the heaviest of 100 members reached 1.11x the mean over 20 random
// member sets; with 2000 it stayed under 1.08x, which leaves room for the
// sampling noise of real keys under the 1.10x the issue asks for
// (ring_test.go measures it with 1,000,000 keys). Shard load, spread over
// the 6 owners of a key, is smoother still.
//
// Memory: every point costs 12 bytes (an 8-byte hash and a 4-byte member
// index), so a ring holds 12 x DefaultVirtualNodes x (total weight) bytes:
// 2.4 MB for 100 members of weight 1, 24 MB for 1000. A membership change
// builds a new ring and the old one is freed when its last reader lets go,
// so two rings may live at once. Large clusters that can accept a less even
// spread may lower it with WithVirtualNodes.
const DefaultVirtualNodes = 2000

// Member is one edge of the cluster as the ring sees it.
type Member struct {
	// Addr is the member's peer address (host:port). It is the member's
	// identity on the ring: its points are hashed from it, so every edge
	// must name a member by the same string.
	Addr string
	// Weight is the member's relative share of keys: a member of weight 2
	// places twice the points of a member of weight 1 and so owns about
	// twice the keys. 0 (or negative) means 1. Memory grows with the total
	// weight (see DefaultVirtualNodes).
	Weight int
}

// Option tunes New. Every member of a cluster must build its ring with the
// same options, or they will disagree on placement.
type Option func(*options)

type options struct {
	vnodes int
	hash   func([]byte) uint64
}

// WithVirtualNodes sets the number of points per unit of weight (default
// DefaultVirtualNodes). n <= 0 is ignored.
func WithVirtualNodes(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.vnodes = n
		}
	}
}

// WithHash sets the function that places member points on the ring
// (default xxhash64). Tests pass a hash whose values they can compute by
// hand, to pin placement exactly. A nil h is ignored. Keys are not hashed
// with it: callers pass keys already hashed.
func WithHash(h func([]byte) uint64) Option {
	return func(o *options) {
		if h != nil {
			o.hash = h
		}
	}
}

// Ring is a consistent-hash ring of members with virtual nodes. It is
// immutable, so it is safe for concurrent use without locks; a membership
// change builds a new Ring (see Current).
//
// Placement is a pure function of the member set (addresses and weights)
// and the options: member i of the set places its points at
// hash(Addr + "#" + j) for j in [0, virtualNodes x Weight), and points with
// equal hashes are ordered by Addr. The order in which members are given
// never matters. Changing this scheme changes placement in a mixed-version
// cluster, so it must not change lightly.
type Ring struct {
	members []Member // sorted by Addr, deduplicated, weights normalized
	hashes  []uint64 // point hashes, ascending
	owners  []int32  // owners[i] is the index in members of point i
}

// New builds a ring of members.
//
// Members with an empty Addr are ignored. Duplicates by Addr collapse into
// one member with the largest of their weights: unlike first-wins or
// last-wins, this does not depend on the order of members, so edges given
// the same list in different orders still agree on placement. An empty ring
// is allowed; it owns nothing.
func New(members []Member, opts ...Option) *Ring {
	o := options{vnodes: DefaultVirtualNodes, hash: xxhash.Sum64}
	for _, opt := range opts {
		opt(&o)
	}

	ms := make([]Member, 0, len(members))
	for _, m := range members {
		if m.Addr == "" {
			continue
		}
		if m.Weight <= 0 {
			m.Weight = 1
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b Member) int {
		return cmp.Or(cmp.Compare(a.Addr, b.Addr), cmp.Compare(b.Weight, a.Weight))
	})
	// Sorted by Addr then heaviest first: keep the first of each Addr.
	ms = slices.CompactFunc(ms, func(a, b Member) bool { return a.Addr == b.Addr })
	ms = slices.Clip(ms)

	total := 0
	for _, m := range ms {
		total += o.vnodes * m.Weight
	}
	points := make([]point, 0, total)
	var buf []byte
	for i, m := range ms {
		for j := range o.vnodes * m.Weight {
			buf = append(buf[:0], m.Addr...)
			buf = append(buf, '#')
			buf = strconv.AppendInt(buf, int64(j), 10)
			points = append(points, point{o.hash(buf), int32(i)})
		}
	}
	// Points were made in member order, which is Addr order, and the sort
	// is stable: equal hashes stay ordered by Addr, a total order that does
	// not depend on the input.
	points = sortPoints(points)

	r := &Ring{
		members: ms,
		hashes:  make([]uint64, len(points)),
		owners:  make([]int32, len(points)),
	}
	for i, p := range points {
		r.hashes[i] = p.hash
		r.owners[i] = p.owner
	}
	return r
}

// Members returns the ring's members sorted by Addr, with weights
// normalized (0 becomes 1). It returns a copy the caller may modify.
func (r *Ring) Members() []Member {
	return slices.Clone(r.members)
}

// Len returns the number of distinct members.
func (r *Ring) Len() int {
	return len(r.members)
}

// Contains reports whether addr is a member of the ring.
func (r *Ring) Contains(addr string) bool {
	_, ok := slices.BinarySearchFunc(r.members, addr, func(m Member, a string) int {
		return cmp.Compare(m.Addr, a)
	})
	return ok
}

// Owners returns the first n distinct members clockwise from key: the
// members of the first points whose hash is >= key, wrapping around. It
// returns fewer than n if the ring has fewer members, and nil for an empty
// ring or n <= 0. Owner 0 is the key's leader.
//
// key must already be a well-mixed hash (chunk keys have Hash() uint64):
// the ring does not hash it again.
//
// Adding or removing a member x changes a key's owners only if x is among
// them (before or after): removing x deletes it from the list and appends
// the next distinct member; adding x inserts it and drops the last owner.
func (r *Ring) Owners(key uint64, n int) []string {
	if n <= 0 || len(r.members) == 0 {
		return nil
	}
	return r.AppendOwners(make([]string, 0, min(n, len(r.members))), key, n)
}

// AppendOwners appends Owners(key, n) to dst and returns the extended
// slice. It does not allocate when dst has room and the ring has at most
// 1024 members, so the read path can reuse one buffer per request.
func (r *Ring) AppendOwners(dst []string, key uint64, n int) []string {
	m := len(r.members)
	if n <= 0 || m == 0 {
		return dst
	}
	n = min(n, m)

	// seen marks members already taken, one bit each; small rings keep it
	// on the stack.
	var small [16]uint64
	seen := small[:]
	if m > len(small)*64 {
		seen = make([]uint64, (m+63)/64)
	}

	i, _ := slices.BinarySearch(r.hashes, key)
	found := 0
	for range len(r.hashes) {
		if i == len(r.hashes) {
			i = 0
		}
		o := r.owners[i]
		i++
		if seen[o/64]&(1<<(o%64)) != 0 {
			continue
		}
		seen[o/64] |= 1 << (o % 64)
		dst = append(dst, r.members[o].Addr)
		if found++; found == n {
			break
		}
	}
	return dst
}

// ShardOwners returns exactly n addresses: shard i of the key lives on
// ShardOwners(key, n)[i]. With at least n members they are Owners(key, n).
// With fewer, the distinct owners are reused round-robin, so a member holds
// several shards (shard i on owner i mod Len()). It returns nil for an empty
// ring or n <= 0.
//
// When a member x joins at position p of a key's owners, shards p..n-1 each
// move one owner along (and leaving is the reverse): about half the shards
// of an affected key change owner, not one. Reads are late-bound (a peer
// answers with whatever shard of the chunk it holds), so shards still sit
// where they were until repair moves them.
func (r *Ring) ShardOwners(key uint64, n int) []string {
	if n <= 0 || len(r.members) == 0 {
		return nil
	}
	return r.AppendShardOwners(make([]string, 0, n), key, n)
}

// AppendShardOwners appends ShardOwners(key, n) to dst and returns the
// extended slice, without allocating under the same conditions as
// AppendOwners.
func (r *Ring) AppendShardOwners(dst []string, key uint64, n int) []string {
	start := len(dst)
	dst = r.AppendOwners(dst, key, n)
	d := len(dst) - start
	if d == 0 {
		return dst
	}
	for j := d; j < n; j++ {
		dst = append(dst, dst[start+j%d])
	}
	return dst
}

type point struct {
	hash  uint64
	owner int32
}

// sortPoints sorts points by hash, keeping points with equal hashes in
// their order, and returns the sorted slice (p or a buffer of its size). It
// is an LSD radix sort, a byte per pass: New sorts hundreds of thousands of
// points, and this is several times faster than a comparison sort.
func sortPoints(p []point) []point {
	if len(p) < 2 {
		return p
	}
	tmp := make([]point, len(p))
	for shift := 0; shift < 64; shift += 8 {
		var count [256]int
		for _, x := range p {
			count[byte(x.hash>>shift)]++
		}
		if count[byte(p[0].hash>>shift)] == len(p) {
			continue // every point has this byte: the pass would not move any
		}
		sum := 0
		for b, c := range count {
			count[b] = sum
			sum += c
		}
		for _, x := range p {
			b := byte(x.hash >> shift)
			tmp[count[b]] = x
			count[b]++
		}
		p, tmp = tmp, p
	}
	return p
}

// emptyRing is what Current holds before its first Store. A Ring is
// immutable, so sharing one is safe.
var emptyRing = New(nil)

// Current holds the cluster's current ring. A membership change builds a
// new Ring and Stores it; readers Load the ring once per operation, so one
// operation sees one consistent placement even while membership changes.
// The zero value is ready to use and safe for concurrent use.
type Current struct {
	p atomic.Pointer[Ring]
}

// Load returns the current ring: an empty ring before the first Store,
// never nil.
func (c *Current) Load() *Ring {
	if r := c.p.Load(); r != nil {
		return r
	}
	return emptyRing
}

// Store makes r the current ring. A nil r stores an empty ring.
func (c *Current) Store(r *Ring) {
	if r == nil {
		r = emptyRing
	}
	c.p.Store(r)
}
