// Package ring decides where chunks live in an edgecache cluster, and
// knows who is in it.
//
// # Placement
//
// A Ring places members on a consistent-hash ring with virtual nodes
// (xxhash64 of "addr#i"). The owners of a chunk are the first k+m distinct
// members clockwise from the chunk key's hash: shard i lives on owner i
// (ShardOwners), and owner 0 is the chunk's leader, the one edge that fills
// it from the origin for the whole cluster. Placement is computed, never
// stored or negotiated: every edge that sees the same member set computes
// the same owners, whatever order it learned the members in. That is what
// lets any edge find a shard without asking anyone where it is, and what
// makes the origin see one request per chunk.
//
// A membership change builds a new, immutable Ring and swaps it into a
// Current; readers load the ring once per operation and never lock. Adding
// or removing one member of N changes the owners of about (k+m)/N of the
// chunks, and only of those the member is (or becomes) an owner of: the
// member is inserted into or removed from their owner list, and no other
// chunk's owners change at all.
//
// # Membership
//
// A Source reports the member list as it changes: Static (--peers),
// DNS (--peers-dns, a Kubernetes headless Service) or Gossip (--join,
// hashicorp/memberlist). Members are named by their peer address
// (host:port), which is both their identity on the ring and where shards
// are fetched from.
//
// # What it must never do
//
// The package never imports edge, chunk, origin or bench, never does I/O
// to place a key, and never keeps state about keys: a Ring is a pure
// function of its member set and options. It does not track failing peers
// (the edge marks them suspect and skips them for reads; the ring keeps
// them until membership drops them, so a blip does not move data). Sources
// must not drop every peer on a transient failure (a DNS lookup that fails
// keeps the last known set), must not block memberlist's goroutines, and
// must release every socket and goroutine when their context ends. Every
// edge must use the same virtual nodes and hash, or they will disagree on
// placement.
package ring
