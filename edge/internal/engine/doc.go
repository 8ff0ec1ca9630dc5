// Package engine is the edge's cache engine: what an object is now (the
// metadata cache, with one lookup per object for the cluster at its
// leader), where a chunk's bytes come from (local memory, a rebuild from
// any k of its shards on the ring, or one fill at its leader, which asks
// the origin once for the whole cluster), the store of decoded chunks and
// shard frames, the purge fence, and the node's view of its cluster (the
// ring and who is suspect).
//
// It reaches the origin and the other members only through the interfaces
// it declares, Origin and Peers, so that its hardest logic (late-bound,
// hedged shard reads; leader failover; repair on read) is tested in memory
// with the fakes of enginetest, deterministically, and again over the
// network by the edge. It never imports the edge, never speaks HTTP itself
// and never decides a client's status line beyond StatusFor, the one
// mapping of its errors to statuses.
//
// Timing follows the real clock (time.NewTimer and friends), so that
// tests drive it with testing/synctest; Config.Now dates objects and
// suspicions.
package engine
