package ring

import "math"

// Shares returns, for every member, the fraction of the key hash space it
// leads: the keys k whose Owners(k, 1) is that member. The fractions add up
// to 1 (within float64 rounding) for a non-empty ring; an empty ring returns
// an empty map. The result is exact, not sampled: point i of the ring leads
// the arc (hash[i-1], hash[i]], and point 0 the arc that wraps past the
// largest hash. A point that shares its hash with an earlier one leads
// nothing, as Owners would find the earlier one first.
//
// It walks every point once (virtual nodes x total weight), so callers that
// show it often should keep the answer per Ring: a Ring never changes.
func (r *Ring) Shares() map[string]float64 {
	out := make(map[string]float64, len(r.members))
	for _, m := range r.members {
		out[m.Addr] = 0
	}
	n := len(r.hashes)
	switch n {
	case 0:
		return out
	case 1:
		out[r.members[r.owners[0]].Addr] = 1
		return out
	}
	// Each arc is an exact uint64 difference; float64 keeps the small arcs
	// of a member exactly next to large ones well enough for a fraction.
	const space = math.MaxUint64 + 1.0 // 2^64 keys
	sums := make([]float64, len(r.members))
	// Point 0 leads from just past the last point, wrapping through 0: in
	// uint64 arithmetic that is the plain difference, except when every
	// point has the same hash and point 0 leads the whole space.
	if wrap := r.hashes[0] - r.hashes[n-1]; wrap == 0 {
		sums[r.owners[0]] += space
	} else {
		sums[r.owners[0]] += float64(wrap)
	}
	for i := 1; i < n; i++ {
		sums[r.owners[i]] += float64(r.hashes[i] - r.hashes[i-1])
	}
	for i, m := range r.members {
		out[m.Addr] = sums[i] / space
	}
	return out
}
