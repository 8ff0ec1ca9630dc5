package edge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/edgecache/edgecache/ring"
)

// cluster is the node's view of its peers: the ring of members, which of
// them failed recently, and the membership source that keeps the ring
// current. Placement is computed from the member set, never stored.
type cluster struct {
	self       string
	ring       ring.Current
	source     ring.Source
	now        func() time.Time
	suspectFor time.Duration
	changes    func(members int) // observes ring changes (metrics, logs)
	// suspected observes a member becoming suspect and why (logs); it is
	// not called again while the member stays suspect.
	suspected func(member string, why error)

	// synced is set once the membership source has spoken: until then the
	// node would think itself alone and fill everything from the origin,
	// so it does not report ready.
	synced atomic.Bool

	mu      sync.Mutex
	suspect map[string]time.Time // member -> until when reads skip it
}

func newCluster(self string, src ring.Source, now func() time.Time, suspectFor time.Duration) *cluster {
	c := &cluster{self: self, source: src, now: now, suspectFor: suspectFor, suspect: map[string]time.Time{}, changes: func(int) {},
		suspected: func(string, error) {}}
	c.ring.Store(ring.New([]ring.Member{{Addr: self}}))
	c.synced.Store(src == nil)
	return c
}

// run follows the membership source until ctx ends. Every update builds a
// new ring, always including this node, and swaps it in at once.
func (c *cluster) run(ctx context.Context) error {
	if c.source == nil {
		return nil
	}
	updates := make(chan []string)
	errc := make(chan error, 1)
	go func() { errc <- c.source.Run(ctx, updates) }()
	for {
		select {
		case addrs := <-updates:
			c.setMembers(addrs)
		case err := <-errc:
			return err
		}
	}
}

func (c *cluster) setMembers(addrs []string) {
	members := []ring.Member{{Addr: c.self}}
	for _, a := range addrs {
		if a != c.self {
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
	c.changes(r.Len())
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

// alone reports whether this node is the whole ring: then there is no one
// to share shards with, and chunks are kept whole only.
func (c *cluster) alone() bool { return c.ring.Load().Len() <= 1 }

// shardOwners returns the member holding each of the n shards of key.
func (c *cluster) shardOwners(key uint64, n int) []string {
	return c.ring.Load().ShardOwners(key, n)
}

// isSuspect reports whether member failed a request recently. Reads skip
// suspects at once instead of waiting for membership to notice.
func (c *cluster) isSuspect(member string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.suspect[member]
	if ok && c.now().After(until) {
		delete(c.suspect, member) // retried from now on
		return false
	}
	return ok
}

// markSuspect makes reads skip member for suspectFor, because of why.
func (c *cluster) markSuspect(member string, why error) {
	now := c.now()
	c.mu.Lock()
	until, was := c.suspect[member]
	c.suspect[member] = now.Add(c.suspectFor)
	c.mu.Unlock()
	if !was || now.After(until) {
		c.suspected(member, why)
	}
}

// suspects counts the members reads skip now. Expired marks linger in the
// map until isSuspect next looks at them: they do not count.
func (c *cluster) suspects() int {
	now := c.now()
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

// leadsObject reports whether this node is the leader of an object: the
// first owner of its path on the ring.
func (n *Node) leadsObject(key string) bool {
	if n.cluster.alone() {
		return true
	}
	owners := n.cluster.ring.Load().Owners(xxhash.Sum64String(key), 1)
	return len(owners) == 1 && owners[0] == n.cluster.self
}

// remoteObject asks an object's leader what the object is now, so that the
// origin sees one metadata request per object for the cluster. ok is false
// when this node leads, or no leader answered: then it asks the origin.
func (n *Node) remoteObject(_ context.Context, key string) (*object, bool, error) {
	if n.cluster.alone() {
		return nil, false, nil
	}
	for _, addr := range n.cluster.ring.Load().Owners(xxhash.Sum64String(key), 2) {
		if addr == n.cluster.self {
			return nil, false, nil
		}
		if n.cluster.isSuspect(addr) {
			continue
		}
		r, err := n.peers.meta(addr, key)
		var pe *peerError
		switch {
		case errors.As(err, &pe):
			continue
		case err != nil:
			return nil, true, fmt.Errorf("object %s via leader %s: %w", key, addr, err)
		case !r.Found:
			return n.objects.negative(key, r.FetchedAt()), true, nil
		default:
			return n.objects.newObject(key, r.Meta, r.FetchedAt()), true, nil
		}
	}
	return nil, false, nil
}
