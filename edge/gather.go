package edge

import (
	"errors"
	"time"

	"github.com/edgecache/edgecache/chunk"
)

// peerShards is one peer's answer to "which shards of this chunk do you
// hold".
type peerShards struct {
	addr    string
	shards  []chunk.Shard
	bad     int
	release func() // hands back the response the shards alias; nil if none
	err     error
}

// gathered is what a read collected: the valid shards, which indices were
// found, and which members answered (so that a shard missing from a member
// that answered can be repaired).
type gathered struct {
	shards   []chunk.Shard
	present  []bool
	answered map[string]bool
	corrupt  int
	releases []func() // of the peer responses the shards alias
}

// release hands back the peer responses g's shards alias; the shards must
// not be used after.
func (g *gathered) release() {
	for _, f := range g.releases {
		f()
	}
	g.releases, g.shards = nil, nil
}

// gatherShards collects shards of key until it has k of them, late-bound:
// local shards first, then in parallel the fewest owners that make up k
// (data shards first: they need no decoding), and, once the hedge delay
// passes or any of those fails, every other owner. A peer that stalls costs a read the hedge delay, no more.
// Shards whose index skip marks (known corrupt) are not taken.
func (n *Node) gatherShards(key chunk.Key, owners []string, skip []bool) gathered {
	k, total := n.codec.Data(), n.codec.Total()
	g := gathered{present: make([]bool, total), answered: map[string]bool{n.cluster.self: true}}
	// add takes s if it is a shard of key the read still needs; it reports
	// false for a frame of another chunk or other parameters, which a peer
	// should never send.
	add := func(s chunk.Shard) bool {
		if s.Key != key || s.Data != k || s.Parity != n.codec.Parity() || s.Index >= total {
			return false
		}
		if !g.present[s.Index] && !skip[s.Index] {
			g.present[s.Index] = true
			g.shards = append(g.shards, s)
		}
		return true
	}
	for i := range total {
		if f, ok := n.store.Get(shardEntry(key, i)); ok {
			s, err := chunk.ParseFrame(f)
			if err != nil {
				n.store.Remove(shardEntry(key, i))
				g.corrupt++
				n.stats.shardsCorrupt.Add(1)
				n.log.Warn("corrupt shard in memory dropped", "chunk", key.String(), "shard", i, "err", err)
				continue
			}
			add(s)
		}
	}
	if len(g.shards) >= k {
		return g
	}

	// Remote owners in shard order (data shards first), each once; the
	// first batch is the fewest that make up k with the shards in hand.
	// No spare is asked up front: it would add 1/k to every read's peer
	// traffic, and a slow or failing owner is covered by the hedge. Suspects
	// come last: asked only when the others cannot make up k, since a
	// member that timed out once under load is more likely alive than the
	// origin is cheap.
	var order, suspects []string
	seen := map[string]bool{n.cluster.self: true}
	owned := map[string]int{} // shard indices each member owns
	for _, addr := range owners {
		owned[addr]++
		if seen[addr] {
			continue
		}
		seen[addr] = true
		if n.cluster.isSuspect(addr) {
			suspects = append(suspects, addr)
			continue
		}
		order = append(order, addr)
	}
	order = append(order, suspects...)
	firstBatch, covered := 0, len(g.shards)
	for firstBatch < len(order) && covered < k {
		covered += owned[order[firstBatch]]
		firstBatch++
	}

	results := make(chan peerShards, len(order))
	launched := 0
	// outstanding is how many shards the members not yet heard from own:
	// once the shards in hand plus those cannot reach k, waiting on a slow
	// member is pointless and the read goes to the leader.
	outstanding := 0
	for _, addr := range order {
		outstanding += owned[addr]
	}
	launch := func(upTo int) {
		for ; launched < upTo; launched++ {
			addr := order[launched]
			go func() {
				shards, bad, release, err := n.peers.shards(addr, key)
				results <- peerShards{addr: addr, shards: shards, bad: bad, release: release, err: err}
			}()
		}
	}
	launch(firstBatch)
	hedge := time.NewTimer(n.cfg.HedgeDelay)
	defer hedge.Stop()
	deadline := time.NewTimer(n.cfg.PeerTimeout)
	defer deadline.Stop()
	for received := 0; len(g.shards) < k && received < launched; {
		select {
		case r := <-results:
			received++
			outstanding -= owned[r.addr]
			if r.release != nil {
				g.releases = append(g.releases, r.release)
			}
			if r.err == nil {
				g.answered[r.addr] = true
			} else {
				n.log.Debug("shard read failed", "peer", r.addr, "chunk", key.String(), "err", r.err)
			}
			foreign := 0
			for _, s := range r.shards {
				if !add(s) {
					foreign++
				}
			}
			if r.bad > 0 {
				g.corrupt += r.bad
				n.stats.shardsCorrupt.Add(int64(r.bad))
				n.log.Warn("peer sent corrupt shards", "peer", r.addr, "chunk", key.String(), "count", r.bad)
			}
			if foreign > 0 {
				r.bad += foreign
				g.corrupt += foreign
				n.stats.shardsCorrupt.Add(int64(foreign))
				n.log.Warn("peer sent shards of another chunk", "peer", r.addr, "chunk", key.String(), "count", foreign)
			}
			if len(g.shards) < k && len(g.shards)+outstanding < k {
				return g
			}
			if r.err != nil || r.bad > 0 || received == launched {
				launch(len(order)) // a shard is missing: no need to wait for the hedge
			}
		case <-hedge.C:
			if launched < len(order) {
				n.stats.hedges.Add(1)
				launch(len(order))
			}
		case <-deadline.C:
			return g
		}
	}
	return g
}

// rebuildFromPeers rebuilds chunk key from the shards its owners hold and
// repairs in the background any shard a member that answered was missing
// or held corrupt.
func (n *Node) rebuildFromPeers(key chunk.Key, owners []string) ([]byte, error) {
	skip := make([]bool, n.codec.Total())
	answered := map[string]bool{}
	var g gathered
	var data []byte
	for attempt := 0; ; attempt++ {
		g = n.gatherShards(key, owners, skip)
		for addr := range g.answered {
			answered[addr] = true
		}
		if len(g.shards) < n.codec.Data() {
			g.release()
			return nil, chunk.ErrTooFewShards
		}
		var err error
		data, err = n.codec.Reconstruct(g.shards) // a new buffer: the shards can go
		retry := errors.Is(err, chunk.ErrCorrupt) && attempt == 0 && n.dropCorrupt(key, g.shards, skip) > 0
		g.release()
		if retry {
			// The shards' own checksums were skipped (chunk.ParseFrame):
			// the chunk's covers them all. The culprits are known now;
			// gather again without them.
			continue
		}
		if err != nil {
			if errors.Is(err, chunk.ErrCorrupt) || errors.Is(err, chunk.ErrMismatch) {
				n.stats.shardsCorrupt.Add(1)
				n.log.Warn("shards of a chunk disagree; refetching it", "chunk", key.String(), "err", err)
			}
			return nil, err
		}
		break
	}
	g.answered = answered
	var missing []int
	for i, addr := range owners {
		if !g.present[i] && g.answered[addr] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		n.repair(key, data, owners, missing)
	}
	return data, nil
}

// dropCorrupt checks every shard against its own checksum, marks the
// corrupt ones in skip (they count as missing, so they are repaired), drops
// this node's own copy if it is one of them, and returns how many it found.
func (n *Node) dropCorrupt(key chunk.Key, shards []chunk.Shard, skip []bool) int {
	bad := 0
	for _, s := range shards {
		if err := s.Verify(); err != nil {
			bad++
			skip[s.Index] = true
			n.stats.shardsCorrupt.Add(1)
			n.log.Warn("corrupt shard dropped", "chunk", key.String(), "shard", s.Index, "err", err)
			// Local shards are gathered first, so a local copy of this
			// index is the one that was used.
			n.store.Remove(shardEntry(key, s.Index))
		}
	}
	return bad
}
