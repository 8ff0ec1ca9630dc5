package edge

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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

// errRebuildDone stops a peer read that has become pointless.
var errRebuildDone = errors.New("the rebuild no longer needs shards")

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
		return nil, errRebuildDone
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

func (r *peerRead) Place(s chunk.Shard, sl int) ([]byte, error) {
	if !r.a.fits(s) {
		r.foreign++
		return nil, nil
	}
	return r.a.place(s, sl)
}

func (r *peerRead) Placed(s chunk.Shard, ok bool) {
	r.a.placed(s, ok)
	if ok {
		r.events <- peerEvent{read: r, shard: s, got: true}
	}
}

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

// gathered is what a read collected: the valid shards, which indices were
// found, and which members answered (so that a shard missing from a member
// that answered can be repaired).
type gathered struct {
	shards   []chunk.Shard
	present  []bool
	answered map[string]bool
	corrupt  int
}

// gatherShards collects shards of a's chunk until it has k of them,
// late-bound: local shards first, then in parallel the fewest owners that
// make up k (data shards first: they need no decoding); every other owner
// as soon as one of those fails; and the next owners, enough to stand in
// for it, once the read has waited a hedge delay on one slow owner: the
// only one left to answer, or one that has sent nothing for that long
// while others did (as one that never answers). So no read waits on a
// single slow peer longer than a hedge delay (ARCHITECTURE.md, invariant
// 6). Owners that are all slow at once are hedged only after two hedge
// delays: then the reading edge's own CPU is likely the bottleneck, and
// asking more owners would only add work (with a plain timer, a third of
// the reads of a loaded edge were hedged, each reading two more shards). Shards whose index a skips (known corrupt) are not
// taken. The caller ends the reading with a.finish.
func (n *Node) gatherShards(a *assembly, owners []string) gathered {
	key := a.key
	k, total := n.codec.Data(), n.codec.Total()
	g := gathered{present: make([]bool, total), answered: map[string]bool{n.cluster.self: true}}
	add := func(s chunk.Shard) {
		if !g.present[s.Index] && !a.skip[s.Index] {
			g.present[s.Index] = true
			g.shards = append(g.shards, s)
		}
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
			if a.fits(s) && !a.skip[i] {
				a.have(i)
				add(s)
			}
		}
	}
	if len(g.shards) >= k {
		return g
	}

	order, owned, firstBatch := n.cluster.readOrder(owners, k-len(g.shards))

	// Room for every shard and end a member may report: the reads never
	// block on a gatherer that has returned.
	events := make(chan peerEvent, len(order)*(total+1))
	var reads []*peerRead
	launch := func(upTo int) {
		for len(reads) < upTo {
			r := &peerRead{a: a, addr: order[len(reads)], events: events}
			reads = append(reads, r)
			go func() {
				bad, err := n.peers.shards(r.addr, key, total, a.sl, r, &r.progress)
				events <- peerEvent{read: r, bad: bad, foreign: r.foreign, err: err}
			}()
		}
	}
	// standIn asks the next owners, enough to stand in for the shards of
	// slow reads: hedging costs in proportion to what is slow.
	standIn := func(slow ...*peerRead) {
		lost := 0
		for _, r := range slow {
			r.covered = true
			lost += owned[r.addr]
		}
		upTo, got := len(reads), 0
		for upTo < len(order) && got < lost {
			got += owned[order[upTo]]
			upTo++
		}
		if upTo > len(reads) {
			n.stats.hedges.Add(1)
			launch(upTo)
		}
	}
	// lone returns the only read still going, if there is exactly one.
	lone := func() *peerRead {
		var last *peerRead
		for _, r := range reads {
			if !r.ended {
				if last != nil {
					return nil
				}
				last = r
			}
		}
		return last
	}
	// outstanding is how many shards the members not yet heard from own:
	// once the shards in hand plus those cannot reach k, waiting on a slow
	// member is pointless and the read goes to the leader.
	outstanding := 0
	for _, addr := range order {
		outstanding += owned[addr]
	}

	launch(firstBatch)
	// Every hedge delay, a read that has sent nothing since the last look
	// is stalled; and a read left alone has a hedge delay to end.
	stalls := time.NewTicker(n.cfg.HedgeDelay)
	defer stalls.Stop()
	idle := 0 // ticks in a row in which no read moved
	alone := time.NewTimer(n.cfg.HedgeDelay)
	defer alone.Stop()
	if len(reads) > 1 {
		alone.Stop()
	}
	deadline := time.NewTimer(n.cfg.PeerTimeout)
	defer deadline.Stop()
	for received := 0; len(g.shards) < k && received < len(reads); {
		select {
		case ev := <-events:
			r := ev.read
			if ev.got {
				if !a.inPlace(ev.shard) {
					a.spare = append(a.spare, ev.shard.Bytes)
				}
				add(ev.shard)
				continue
			}
			received++
			r.ended = true
			outstanding -= owned[r.addr]
			if l := lone(); l != nil && !l.covered {
				alone.Reset(n.cfg.HedgeDelay)
			}
			if ev.err == nil {
				g.answered[r.addr] = true
			} else if !errors.Is(ev.err, errRebuildDone) {
				n.log.Debug("shard read failed", "peer", r.addr, "chunk", key.String(), "err", ev.err)
			}
			if ev.bad > 0 {
				g.corrupt += ev.bad
				n.stats.shardsCorrupt.Add(int64(ev.bad))
				n.log.Warn("peer sent corrupt shards", "peer", r.addr, "chunk", key.String(), "count", ev.bad)
			}
			if ev.foreign > 0 {
				g.corrupt += ev.foreign
				n.stats.shardsCorrupt.Add(int64(ev.foreign))
				n.log.Warn("peer sent shards of another chunk", "peer", r.addr, "chunk", key.String(), "count", ev.foreign)
			}
			if len(g.shards) < k && len(g.shards)+outstanding < k {
				return g
			}
			if ev.err != nil || ev.bad > 0 || ev.foreign > 0 || received == len(reads) {
				launch(len(order)) // a shard is missing: no need to wait for the hedge
			}
		case <-stalls.C:
			var slow []*peerRead
			anyMoved := false
			for _, r := range reads {
				if r.moved() {
					anyMoved = true
				} else if !r.ended && !r.covered {
					slow = append(slow, r)
				}
			}
			// A read is stalled if it sent nothing while another did. If
			// none did, this edge's own CPU may be what holds them all
			// (a saturated edge polls its sockets late): that has to last
			// two ticks before it counts.
			if idle = idle + 1; anyMoved {
				idle = 0
			}
			if len(slow) > 0 && (anyMoved || idle >= 2) {
				standIn(slow...)
			}
		case <-alone.C:
			if l := lone(); l != nil && !l.covered {
				standIn(l)
			}
		case <-deadline.C:
			return g
		}
	}
	return g
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
func (c *cluster) readOrder(owners []string, needed int) (order []string, owned map[string]int, first int) {
	var suspects []string
	seen := map[string]bool{c.self: true}
	owned = map[string]int{}
	for _, addr := range owners {
		owned[addr]++
		if seen[addr] {
			continue
		}
		seen[addr] = true
		if c.isSuspect(addr) {
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

// rebuildFromPeers rebuilds chunk key, chunkLen bytes long, from the
// shards its owners hold and repairs in the background any shard a member
// that answered was missing or held corrupt.
func (n *Node) rebuildFromPeers(key chunk.Key, chunkLen int, owners []string) ([]byte, error) {
	skip := make([]bool, n.codec.Total())
	answered := map[string]bool{}
	var g gathered
	var data []byte
	for attempt := 0; ; attempt++ {
		a := newAssembly(key, chunkLen, n.codec, skip)
		g = n.gatherShards(a, owners)
		dst := a.finish()
		for addr := range g.answered {
			answered[addr] = true
		}
		if len(g.shards) < n.codec.Data() {
			a.release()
			return nil, chunk.ErrTooFewShards
		}
		var err error
		data, err = n.codec.ReconstructInto(dst, g.shards)
		retry := errors.Is(err, chunk.ErrCorrupt) && attempt == 0 && n.dropCorrupt(key, g.shards, skip) > 0
		a.release()
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
