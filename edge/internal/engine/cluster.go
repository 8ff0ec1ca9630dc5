package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/edgecache/edgecache/ring"
)

// ClusterConfig configures a node's view of its cluster.
type ClusterConfig struct {
	// Self is this node's address on the ring.
	Self string
	// Source reports the members as they change; nil: a ring of this node
	// alone.
	Source ring.Source
	// Now is the clock suspicions are dated by.
	Now func() time.Time
	// SuspectFor is how long a member that failed is asked last.
	SuspectFor time.Duration
	// Changed observes each new ring's size (metrics, logs); may be nil.
	Changed func(members int)
	// Suspected observes a member becoming suspect and why (logs); it is
	// not called again while the member stays suspect. May be nil.
	Suspected func(member string, why error)
}

// Cluster is a node's view of its peers: the ring of members, which of
// them failed recently, and the membership source that keeps the ring
// current. Placement is computed from the member set, never stored.
type Cluster struct {
	cfg  ClusterConfig
	ring ring.Current

	// synced is set once the membership source has spoken: until then the
	// node would think itself alone and fill everything from the origin,
	// so it does not report ready.
	synced atomic.Bool

	mu      sync.Mutex
	suspect map[string]time.Time // member -> until when reads skip it
}

// NewCluster returns the view of a node that is, for now, alone.
func NewCluster(cfg ClusterConfig) *Cluster {
	if cfg.Changed == nil {
		cfg.Changed = func(int) {}
	}
	if cfg.Suspected == nil {
		cfg.Suspected = func(string, error) {}
	}
	c := &Cluster{cfg: cfg, suspect: map[string]time.Time{}}
	c.ring.Store(ring.New([]ring.Member{{Addr: cfg.Self}}))
	c.synced.Store(cfg.Source == nil)
	return c
}

// Run follows the membership source until ctx ends. Every update builds a
// new ring, always including this node, and swaps it in at once.
func (c *Cluster) Run(ctx context.Context) error {
	if c.cfg.Source == nil {
		return nil
	}
	updates := make(chan []string)
	errc := make(chan error, 1)
	go func() { errc <- c.cfg.Source.Run(ctx, updates) }()
	for {
		select {
		case addrs := <-updates:
			c.SetMembers(addrs)
		case err := <-errc:
			return err
		}
	}
}

// SetMembers makes addrs, and this node, the ring.
func (c *Cluster) SetMembers(addrs []string) {
	members := []ring.Member{{Addr: c.cfg.Self}}
	for _, a := range addrs {
		if a != c.cfg.Self {
			members = append(members, ring.Member{Addr: a})
		}
	}
	defer c.synced.Store(true)
	old := c.ring.Load()
	if old != nil && slices.Equal(memberAddrs(old), sortedAddrs(members)) {
		return
	}
	r := ring.New(members)
	c.ring.Store(r)
	c.cfg.Changed(r.Len())
}

func memberAddrs(r *ring.Ring) []string {
	ms := r.Members()
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Addr
	}
	return out
}

func sortedAddrs(ms []ring.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Addr
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Self is this node's address on the ring.
func (c *Cluster) Self() string { return c.cfg.Self }

// Ring is the current ring.
func (c *Cluster) Ring() *ring.Ring { return c.ring.Load() }

// Synced reports whether the membership source has given a member list.
func (c *Cluster) Synced() bool { return c.synced.Load() }

// Alone reports whether this node is the whole ring: then there is no one
// to share shards with, and chunks are kept whole only.
func (c *Cluster) Alone() bool { return c.ring.Load().Len() <= 1 }

// ShardOwners returns the member holding each of the n shards of key.
func (c *Cluster) ShardOwners(key uint64, n int) []string {
	return c.ring.Load().ShardOwners(key, n)
}

// objectOwners returns the first n owners of an object's path: its
// metadata leader first.
func (c *Cluster) objectOwners(key string, n int) []string {
	return c.ring.Load().Owners(xxhash.Sum64String(key), n)
}

// IsSuspect reports whether member failed a request recently. Reads skip
// suspects at once instead of waiting for membership to notice.
func (c *Cluster) IsSuspect(member string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.suspect[member]
	if ok && c.cfg.Now().After(until) {
		delete(c.suspect, member) // retried from now on
		return false
	}
	return ok
}

// MarkSuspect makes reads ask member last for SuspectFor, because of why.
func (c *Cluster) MarkSuspect(member string, why error) {
	now := c.cfg.Now()
	c.mu.Lock()
	until, was := c.suspect[member]
	c.suspect[member] = now.Add(c.cfg.SuspectFor)
	c.mu.Unlock()
	if !was || now.After(until) {
		c.cfg.Suspected(member, why)
	}
}

// Blame marks the member a request failed on suspect when its error says
// so (a *PeerError with Suspect set); other errors are not the member's.
func (c *Cluster) Blame(err error) {
	if err == nil {
		return // the common case, which must not allocate
	}
	var pe *PeerError
	if errors.As(err, &pe) && pe.Suspect {
		c.MarkSuspect(pe.Addr, pe.Err)
	}
}

// Suspects counts the members reads skip now. Expired marks linger in the
// map until IsSuspect next looks at them: they do not count.
func (c *Cluster) Suspects() int {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, until := range c.suspect {
		if !now.After(until) {
			n++
		}
	}
	return n
}

// readOrder returns the members other than this one to ask for the shards
// of a chunk with these owners (in shard order), each once, with how many
// shard indices each owns, and how many of them to ask first: the fewest
// that own the shards still needed. Data shards come first: they need no
// decoding. No spare is asked up front: it would add 1/k to every read's
// peer traffic, and a slow or failing owner is covered by the hedge.
// Suspects come last: asked only when the others cannot make up k, since a
// member that timed out once under load is more likely alive than the
// origin is cheap.
func (c *Cluster) readOrder(owners []string, needed int) (order []string, owned map[string]int, first int) {
	var suspects []string
	seen := map[string]bool{c.cfg.Self: true}
	owned = map[string]int{}
	for _, addr := range owners {
		owned[addr]++
		if seen[addr] {
			continue
		}
		seen[addr] = true
		if c.IsSuspect(addr) {
			suspects = append(suspects, addr)
			continue
		}
		order = append(order, addr)
	}
	order = append(order, suspects...)
	for covered := 0; first < len(order) && covered < needed; first++ {
		covered += owned[order[first]]
	}
	return order, owned, first
}
