package engine

import (
	"context"
	"errors"
	"time"

	"github.com/edgecache/edgecache/chunk"
)

// gathered is what a read collected: the valid shards, which indices were
// found, and which members answered (so that a shard missing from a member
// that answered can be repaired).
type gathered struct {
	shards   []chunk.Shard
	present  []bool
	local    []bool // the shard of this index in shards is this node's own copy
	answered map[string]bool
	corrupt  int
}

// gatherer is one gathering of shards: what it holds, whom it asks, in
// which order, and what it knows of each read. It belongs to the goroutine
// that runs gatherShards; the reads report to it through events.
type gatherer struct {
	e        *Engine
	a        *assembly
	k, total int
	g        gathered

	order []string       // members to ask, in order
	owned map[string]int // shard indices each member owns (this node: those expected from its disk)
	first int            // how many of order to ask at once
	asked int            // how many of order were asked
	reads []*peerRead    // the reads started: this node's disk, if read, then order's
	disk  *peerRead      // the read of this node's disk, nil if none
	// events receives every shard and end the reads report; it has room
	// for all, so that no read blocks on a gatherer that has returned.
	events chan peerEvent
	// received counts the reads that ended; outstanding is how many
	// shards the members not yet heard from own: once the shards in hand
	// plus those cannot reach k, waiting on a slow member is pointless.
	received, outstanding int
	idle                  int         // hedge ticks in a row in which no read moved
	alone                 *time.Timer // a hedge delay for the one read left
}

// gatherShards collects shards of a's chunk until it has k of them,
// late-bound: the shards in memory first, then in parallel this node's
// disk and the fewest owners that make up k with what the disk should
// hold (data shards first: they need no decoding); every other owner as
// soon as one of those fails; and the next owners, enough to stand in for
// it, once the read has waited a hedge delay on one slow owner: the only
// one left to answer, or one that has sent nothing for that long while
// others did (as one that never answers). The disk is read as an owner
// is, so no read waits on a single slow peer, or a slow disk, longer than
// a hedge delay (ARCHITECTURE.md, invariant 6). Owners that are all slow
// at once are hedged only after two hedge delays: then the reading edge's
// own CPU is likely the bottleneck, and asking more owners would only add
// work (with a plain timer, a third of the reads of a loaded edge were
// hedged, each reading two more shards). Shards whose index a skips
// (known corrupt) are not taken. The caller ends the reading with
// a.finish.
func (e *Engine) gatherShards(a *assembly, owners []string) gathered {
	gr := &gatherer{e: e, a: a, k: e.codec.Data(), total: e.codec.Total()}
	gr.g = gathered{present: make([]bool, gr.total), local: make([]bool, gr.total), answered: map[string]bool{e.cluster.Self(): true}}
	gr.fromMemory()
	if len(gr.g.shards) >= gr.k {
		return gr.g
	}
	onDisk, mine := gr.diskCandidates(owners)
	gr.order, gr.owned, gr.first = e.cluster.readOrder(owners, gr.k-len(gr.g.shards)-mine)
	gr.owned[e.cluster.Self()] = mine
	gr.outstanding = mine
	for _, addr := range gr.order {
		gr.outstanding += gr.owned[addr]
	}
	gr.events = make(chan peerEvent, (len(gr.order)+1)*(gr.total+1))
	// The disk read ends with the gathering: what it has not found by
	// then is not waited for.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	gr.readDisk(ctx, onDisk)
	return gr.run()
}

// add takes s unless its index is held or known corrupt.
func (gr *gatherer) add(s chunk.Shard) {
	if !gr.g.present[s.Index] && !gr.a.skip[s.Index] {
		gr.g.present[s.Index] = true
		gr.g.shards = append(gr.g.shards, s)
	}
}

// fromMemory takes the shards this node holds in memory; a corrupt one
// is dropped.
func (gr *gatherer) fromMemory() {
	e, key := gr.e, gr.a.key
	for i := range gr.total {
		f, ok := e.store.Get(ShardEntry(key, i))
		if !ok {
			continue
		}
		s, err := chunk.ParseFrame(f)
		if err != nil {
			e.dropLocal(ShardEntry(key, i))
			gr.g.corrupt++
			e.stats.shardsCorrupt.Add(1)
			e.log.Warn("corrupt shard in memory dropped", "chunk", key.String(), "shard", i, "err", err)
			continue
		}
		gr.takeLocal(s)
	}
}

// takeLocal takes s, a shard this node holds, if it is one of the chunk's
// and not known corrupt.
func (gr *gatherer) takeLocal(s chunk.Shard) {
	if gr.a.fits(s) && !gr.a.skip[s.Index] && !gr.g.present[s.Index] {
		gr.a.have(s.Index)
		gr.add(s)
		gr.g.local[s.Index] = true
	}
}

// run reads from the owners until the shards make up k, nothing more can
// come, or the peer timeout.
func (gr *gatherer) run() gathered {
	hedge := gr.e.cfg.HedgeDelay
	gr.launch(gr.first)
	// Every hedge delay, a read that has sent nothing since the last look
	// is stalled; and a read left alone has a hedge delay to end.
	stalls := time.NewTicker(hedge)
	defer stalls.Stop()
	gr.alone = time.NewTimer(hedge)
	defer gr.alone.Stop()
	if len(gr.reads) > 1 {
		gr.alone.Stop()
	}
	deadline := time.NewTimer(gr.e.cfg.PeerTimeout)
	defer deadline.Stop()
	for len(gr.g.shards) < gr.k && gr.received < len(gr.reads) {
		select {
		case ev := <-gr.events:
			switch {
			case ev.got && ev.read == gr.disk:
				gr.takeLocal(ev.shard)
			case ev.got:
				gr.took(ev.shard)
			case gr.ended(ev):
				return gr.g
			}
		case <-stalls.C:
			gr.tick()
		case <-gr.alone.C:
			if l := gr.lone(); l != nil && !l.covered {
				gr.standIn(l)
			}
		case <-deadline.C:
			return gr.g
		}
	}
	return gr.g
}

// launch starts reads of order up to upTo members.
func (gr *gatherer) launch(upTo int) {
	// The reads capture what they need, not the gatherer, which stays on
	// its goroutine's stack.
	e, a, total := gr.e, gr.a, gr.total
	for ; gr.asked < upTo; gr.asked++ {
		r := &peerRead{a: a, addr: gr.order[gr.asked], events: gr.events}
		gr.reads = append(gr.reads, r)
		go func() {
			bad, err := e.peers.Shards(r.addr, a.key, total, a.sl, r)
			e.cluster.Blame(err)
			r.events <- peerEvent{read: r, bad: bad, foreign: r.foreign, err: err}
		}()
	}
}

// took takes a shard a read completed.
func (gr *gatherer) took(s chunk.Shard) {
	if !gr.a.inPlace(s) {
		gr.a.spare = append(gr.a.spare, s.Bytes)
	}
	gr.add(s)
}

// ended takes the end of a read; it reports whether the gathering is
// over because the shards k needs cannot come any more.
func (gr *gatherer) ended(ev peerEvent) (hopeless bool) {
	r := ev.read
	gr.received++
	r.ended = true
	gr.outstanding -= gr.owned[r.addr]
	if l := gr.lone(); l != nil && !l.covered {
		gr.alone.Reset(gr.e.cfg.HedgeDelay)
	}
	if ev.err == nil {
		gr.g.answered[r.addr] = true
	} else if !errors.Is(ev.err, ErrEnough) {
		gr.e.log.Debug("shard read failed", "peer", r.addr, "chunk", gr.a.key.String(), "err", ev.err)
	}
	if r == gr.disk {
		gr.corrupted(r.addr, ev.bad, "corrupt shards on the disk dropped")
	} else {
		gr.corrupted(r.addr, ev.bad, "peer sent corrupt shards")
	}
	gr.corrupted(r.addr, ev.foreign, "peer sent shards of another chunk")
	if len(gr.g.shards) < gr.k && len(gr.g.shards)+gr.outstanding < gr.k {
		return true
	}
	if ev.err != nil || ev.bad > 0 || ev.foreign > 0 || gr.received == len(gr.reads) {
		gr.launch(len(gr.order)) // a shard is missing: no need to wait for the hedge
	}
	return false
}

// corrupted counts n bad shards a member sent.
func (gr *gatherer) corrupted(addr string, n int, what string) {
	if n == 0 {
		return
	}
	gr.g.corrupt += n
	gr.e.stats.shardsCorrupt.Add(int64(n))
	gr.e.log.Warn(what, "peer", addr, "chunk", gr.a.key.String(), "count", n)
}

// tick looks, every hedge delay, for reads that sent nothing since the
// last look, and has others stand in for them.
func (gr *gatherer) tick() {
	var slow []*peerRead
	anyMoved := false
	for _, r := range gr.reads {
		if r.moved() {
			anyMoved = true
		} else if !r.ended && !r.covered {
			slow = append(slow, r)
		}
	}
	// A read is stalled if it sent nothing while another did. If none
	// did, this edge's own CPU may be what holds them all (a saturated
	// edge polls its sockets late): that has to last two ticks before it
	// counts.
	if gr.idle = gr.idle + 1; anyMoved {
		gr.idle = 0
	}
	if len(slow) > 0 && (anyMoved || gr.idle >= 2) {
		gr.standIn(slow...)
	}
}

// standIn asks the next owners, enough to stand in for the shards of slow
// reads: hedging costs in proportion to what is slow.
func (gr *gatherer) standIn(slow ...*peerRead) {
	lost := 0
	for _, r := range slow {
		r.covered = true
		lost += gr.owned[r.addr]
		if r == gr.disk {
			gr.e.stats.diskSlow.Add(1)
		}
	}
	upTo, got := gr.asked, 0
	for upTo < len(gr.order) && got < lost {
		got += gr.owned[gr.order[upTo]]
		upTo++
	}
	if upTo > gr.asked {
		gr.e.stats.hedges.Add(1)
		gr.launch(upTo)
	}
}

// lone returns the only read still going, if there is exactly one.
func (gr *gatherer) lone() *peerRead {
	var last *peerRead
	for _, r := range gr.reads {
		if !r.ended {
			if last != nil {
				return nil
			}
			last = r
		}
	}
	return last
}

// Rebuild rebuilds chunk key, chunkLen bytes long, from the shards its
// owners hold, without keeping it, and repairs in the background any shard
// a member that answered was missing or held corrupt.
func (e *Engine) Rebuild(key chunk.Key, chunkLen int) ([]byte, error) {
	return e.rebuild(key, chunkLen, e.cluster.ShardOwners(key.Hash(), e.codec.Total()))
}

// rebuild is Rebuild for a chunk with these owners.
func (e *Engine) rebuild(key chunk.Key, chunkLen int, owners []string) ([]byte, error) {
	skip := make([]bool, e.codec.Total())
	answered := map[string]bool{}
	for attempt := 0; ; attempt++ {
		a := newAssembly(key, chunkLen, e.codec, skip)
		g := e.gatherShards(a, owners)
		dst := a.finish()
		for addr := range g.answered {
			answered[addr] = true
		}
		if len(g.shards) < e.codec.Data() {
			a.release()
			return nil, chunk.ErrTooFewShards
		}
		data, err := e.codec.ReconstructInto(dst, g.shards)
		retry := errors.Is(err, chunk.ErrCorrupt) && attempt == 0 && e.dropCorrupt(key, g, skip) > 0
		a.release()
		if retry {
			// The shards' own checksums were skipped (chunk.ParseFrame):
			// the chunk's covers them all. The culprits are known now;
			// gather again without them.
			continue
		}
		if err != nil {
			if errors.Is(err, chunk.ErrCorrupt) || errors.Is(err, chunk.ErrMismatch) {
				e.stats.shardsCorrupt.Add(1)
				e.log.Warn("shards of a chunk disagree; refetching it", "chunk", key.String(), "err", err)
			}
			return nil, err
		}
		e.repairMissing(key, data, owners, g.present, answered)
		return data, nil
	}
}

// repairMissing repairs the shards of a rebuilt chunk that members which
// answered did not send.
func (e *Engine) repairMissing(key chunk.Key, data []byte, owners []string, present []bool, answered map[string]bool) {
	var missing []int
	for i, addr := range owners {
		if !present[i] && answered[addr] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		e.repair(key, data, owners, missing)
	}
}

// dropCorrupt checks every shard g holds against its own checksum, marks
// the corrupt ones in skip (they count as missing, so they are repaired),
// drops this node's own copy if it is one of them, and returns how many it
// found.
func (e *Engine) dropCorrupt(key chunk.Key, g gathered, skip []bool) int {
	bad := 0
	for _, s := range g.shards {
		if err := s.Verify(); err != nil {
			bad++
			skip[s.Index] = true
			e.stats.shardsCorrupt.Add(1)
			e.log.Warn("corrupt shard dropped", "chunk", key.String(), "shard", s.Index, "err", err)
			if g.local[s.Index] {
				e.dropLocal(ShardEntry(key, s.Index))
			}
		}
	}
	return bad
}
