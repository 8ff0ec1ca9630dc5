package engine_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/engine/enginetest"
)

// These tests drive the engine's timing logic (the hedge, the pings of a
// slow leader, the stand-ins for a stalled owner) through the in-memory
// network inside a testing/synctest bubble: time is virtual, so a member
// that hangs for the whole peer timeout costs nothing, and "how long did
// the read wait" has one answer, run after run.

// rig is six members (4+2 shards: each owns one shard of every chunk) over
// an in-memory network, and one chunk of one object on the origin. A
// healthy member answers in a millisecond, so that no two of a read's
// timers fall due at the same virtual instant.
type rig struct {
	net     *enginetest.Network
	org     *enginetest.Origin
	cfg     engine.Config
	members map[string]*engine.Engine
	obj     *engine.Object
	key     chunk.Key
	owners  []string                    // the chunk's shard owners: owners[0] leads, 0-3 hold data, 4-5 parity
	data    []byte                      // the chunk's bytes
	disks   map[string]*enginetest.Disk // each member's disk tier, with newRigWith(t, true)
}

const path = "/movie.mp4"

var healthy = enginetest.Fault{Delay: time.Millisecond}

func newRig(t *testing.T) *rig { return newRigWith(t, false) }

// newRigWith is newRig, each member with a disk tier of its own if disks.
func newRigWith(t *testing.T, disks bool) *rig {
	r := &rig{net: enginetest.NewNetwork(enginetest.Timeouts{Peer: 2 * time.Second, Fill: 5 * time.Second, Ping: time.Second}),
		org: enginetest.NewOrigin(), cfg: enginetest.Config(), members: map[string]*engine.Engine{},
		disks: map[string]*enginetest.Disk{}}
	data := enginetest.Movie(r.org, path, 2, 42)
	cfgs := make([]engine.Config, 6)
	fakes := make([]*enginetest.Disk, len(cfgs))
	for i := range cfgs {
		cfgs[i] = r.cfg
		if disks {
			fakes[i] = enginetest.NewDisk()
			cfgs[i].Disk = fakes[i]
		}
	}
	for i, m := range enginetest.StartEach(t, r.net, r.org, cfgs) {
		r.members[m.Addr] = m.Engine
		if disks {
			r.disks[m.Addr] = fakes[i]
		}
	}
	// Before the engines close: let placements and repairs end, then every
	// straggler time out.
	t.Cleanup(func() {
		for _, e := range r.members {
			e.Settle()
		}
		r.net.Wait()
	})
	for addr := range r.members {
		r.net.Set(addr, healthy)
	}
	var any *engine.Engine
	for _, e := range r.members {
		any = e
	}
	o := enginetest.Get(t, any, path).Object
	// Chunk 1: chunk 0 comes with the lookup, from the object's leader.
	r.obj, r.key, r.data = o, o.ChunkKey(1), data[enginetest.ChunkSize:]
	r.owners = any.Cluster().ShardOwners(r.key.Hash(), 6)
	return r
}

// at is the engine of the member at addr.
func (r *rig) at(addr string) *engine.Engine { return r.members[addr] }

// place fills the chunk at its leader, which places its shards on their
// owners, and waits for the placement.
func (r *rig) place(t *testing.T) {
	leader := r.at(r.owners[0])
	if _, _, err := leader.Chunk(t.Context(), r.obj, r.key.Index); err != nil {
		t.Fatal(err)
	}
	leader.Settle()
	for i, addr := range r.owners {
		if !r.at(addr).Store().Contains(engine.ShardEntry(r.key, i)) {
			t.Fatalf("shard %d not placed on %s", i, addr)
		}
	}
}

// rebuild rebuilds the chunk at the member at addr, checks its bytes, and
// returns how long the read took in the bubble's time.
func (r *rig) rebuild(t *testing.T, addr string) time.Duration {
	t.Helper()
	start := time.Now()
	got, err := r.at(addr).Rebuild(r.key, len(r.data))
	took := time.Since(start)
	if err != nil || !bytes.Equal(got, r.data) {
		t.Fatalf("rebuild at %s: %v, identical=%v", addr, err, bytes.Equal(got, r.data))
	}
	return took
}

// asked counts the shard reads each owner was sent so far.
func (r *rig) asked() []int {
	var n []int
	for _, addr := range r.owners {
		n = append(n, r.net.Asked(addr, "shards"))
	}
	return n
}

// since returns how many shard reads each owner was sent since before,
// which asked returned.
func (r *rig) since(before []int) []int {
	now := r.asked()
	for i := range now {
		now[i] -= before[i]
	}
	return now
}

// Late binding: a reader holding one data shard asks exactly the three
// other data owners, never the parity owners, when they answer.
func TestRebuildAsksTheFewestOwners(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.place(t)
		before := r.asked()
		if took := r.rebuild(t, r.owners[0]); took >= r.cfg.HedgeDelay {
			t.Errorf("a rebuild from healthy owners took %v, want less than a hedge delay", took)
		}
		if got := r.since(before); !slices.Equal(got, []int{0, 1, 1, 1, 0, 0}) {
			t.Errorf("shard reads per owner: %v, want each other data owner once and no parity owner", got)
		}
		if h := r.at(r.owners[0]).Stats().Hedges; h != 0 {
			t.Errorf("%d hedges", h)
		}
	})
}

// A slow owner is stood in for after one hedge delay: the read waits on
// one slow peer no longer than that (ARCHITECTURE.md, invariant 6).
func TestRebuildHedgesASlowOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.place(t)
		r.net.Set(r.owners[2], enginetest.Fault{Delay: time.Second})
		before := r.asked()
		took := r.rebuild(t, r.owners[0])
		if hedge := r.cfg.HedgeDelay; took > 2*hedge {
			t.Errorf("the read took %v with one owner a second late, want at most two hedge delays (%v)", took, 2*hedge)
		}
		if h := r.at(r.owners[0]).Stats().Hedges; h != 1 {
			t.Errorf("%d hedges, want 1", h)
		}
		if got := r.since(before); got[4]+got[5] != 1 {
			t.Errorf("shard reads per owner: %v, want one parity owner asked: hedging costs what is slow, one shard", got)
		}
	})
}

// Owners that are all slow together are not hedged at the first tick: the
// reader's own CPU is then the likelier bottleneck, and more reads would
// only add to it.
func TestRebuildDoesNotHedgeOwnersAllSlowTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.place(t)
		for _, i := range []int{1, 2, 3} {
			r.net.Set(r.owners[i], enginetest.Fault{Delay: r.cfg.HedgeDelay * 3 / 2})
		}
		before := r.asked()
		r.rebuild(t, r.owners[0])
		if h := r.at(r.owners[0]).Stats().Hedges; h != 0 {
			t.Errorf("%d hedges for three owners slow together for 1.5 hedge delays, want 0", h)
		}
		if got := r.since(before); got[4]+got[5] != 0 {
			t.Errorf("shard reads per owner: %v, want no parity owner asked", got)
		}
	})
}

// A dead owner costs no wait: its failure makes the read ask every other
// owner at once, and it is suspect, so the next read asks it last.
func TestRebuildAroundADeadOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.place(t)
		dead := r.owners[1]
		r.net.Set(dead, enginetest.Fault{Down: true})
		before := r.asked()
		if took := r.rebuild(t, r.owners[0]); took >= r.cfg.HedgeDelay {
			t.Errorf("the read took %v with a dead owner, want less than a hedge delay: its failure is news at once", took)
		}
		if !r.at(r.owners[0]).Cluster().IsSuspect(dead) {
			t.Fatal("the dead owner is not suspect")
		}
		r.rebuild(t, r.owners[0])
		if n := r.since(before)[1]; n != 1 {
			t.Errorf("the dead owner was asked %d times over two reads, want once: a suspect is asked last", n)
		}
	})
}

// An owner that stops sending half way through its answer is stood in for
// a hedge delay after the others ended, not at the peer timeout.
func TestRebuildAroundAnOwnerThatStallsMidAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.place(t)
		r.net.Set(r.owners[3], enginetest.Fault{Delay: time.Millisecond, Stall: true, StallAfter: 100})
		took := r.rebuild(t, r.owners[0])
		if hedge := r.cfg.HedgeDelay; took >= 2*hedge {
			t.Errorf("the read took %v with an owner stalled mid-answer, want less than two hedge delays (%v)", took, 2*hedge)
		}
		if h := r.at(r.owners[0]).Stats().Hedges; h != 1 {
			t.Errorf("%d hedges, want 1", h)
		}
	})
}

// An owner whose shard bytes are corrupt is caught by the chunk's
// checksum; the read is gathered again without it, and its shard is
// repaired.
func TestRebuildAroundALyingOwner(t *testing.T) {
	for _, c := range []struct {
		name string
		lie  func([]byte) []byte
	}{
		{"corrupt shard", enginetest.FlipShardByte},
		{"corrupt frame header", enginetest.FlipHeaderByte},
		{"another chunk's shard", enginetest.ForeignShard},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t)
				r.place(t)
				liar := r.owners[2]
				r.net.Set(liar, enginetest.Fault{Delay: time.Millisecond, Mangle: c.lie})
				reader := r.at(r.owners[0])
				pushes := r.net.Asked(liar, "push")
				r.rebuild(t, r.owners[0])
				if n := reader.Stats().ShardsCorrupt; n < 1 {
					t.Errorf("%d corrupt shards counted, want at least 1", n)
				}
				reader.Settle()
				if n := r.net.Asked(liar, "push") - pushes; n != 1 {
					t.Errorf("the liar's shard was pushed back %d times, want once (repair on read)", n)
				}
			})
		})
	}
}

// A shard an owner lost is put back by the read that found it missing.
func TestRebuildRepairsAMissingShard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.place(t)
		loser := r.at(r.owners[1])
		loser.Store().Remove(engine.ShardEntry(r.key, 1))
		reader := r.at(r.owners[0])
		r.rebuild(t, r.owners[0])
		reader.Settle()
		if !loser.Store().Contains(engine.ShardEntry(r.key, 1)) {
			t.Error("the lost shard was not repaired")
		}
		if n := reader.Stats().Repairs; n != 1 {
			t.Errorf("%d repairs, want 1", n)
		}
	})
}

// readAtNonLeader reads the chunk at a member that does not lead it and
// holds none of its shards yet: it must go to the leader.
func (r *rig) readAtNonLeader(t *testing.T) ([]byte, engine.Source, time.Duration) {
	t.Helper()
	start := time.Now()
	got, src, err := r.at(r.owners[5]).Chunk(context.Background(), r.obj, r.key.Index)
	if err != nil || !bytes.Equal(got, r.data) {
		t.Fatalf("read: %v, identical=%v", err, bytes.Equal(got, r.data))
	}
	return got, src, time.Since(start)
}

// A leader that is slow but answers its ping is waited for: asking the
// next owner would fetch the chunk from the origin twice.
func TestFillWaitsForASlowLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.net.Set(r.owners[0], enginetest.Fault{Delay: 10 * r.cfg.HedgeDelay})
		r.readAtNonLeader(t)
		if n := r.org.Reads(path); n != 1 {
			t.Errorf("the origin served %d reads of the chunk, want 1", n)
		}
		if n := r.net.Asked(r.owners[0], "ping"); n != 1 {
			t.Errorf("the slow leader was pinged %d times, want once", n)
		}
		if n := r.at(r.owners[1]).Stats().FillsLed; n != 0 {
			t.Errorf("the next owner led %d fills, want none", n)
		}
	})
}

// A leader that is down, or that hangs and does not answer its ping, is
// suspect, and the next owner leads: the origin still sees one request.
func TestFillFailsOverFromADeadLeader(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault enginetest.Fault
	}{
		{"down", enginetest.Fault{Down: true}},
		{"hanging", enginetest.Fault{Hang: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t)
				r.net.Set(r.owners[0], c.fault)
				_, _, took := r.readAtNonLeader(t)
				// A hedge delay, a ping timeout, and the next owner's fill.
				if limit := r.cfg.HedgeDelay + time.Second + 10*time.Millisecond; took > limit {
					t.Errorf("the read took %v, want at most a hedge delay and a ping timeout (%v)", took, limit)
				}
				if n := r.org.Reads(path); n != 1 {
					t.Errorf("the origin served %d reads of the chunk, want 1", n)
				}
				if n := r.at(r.owners[1]).Stats().FillsLed; n != 1 {
					t.Errorf("the next owner led %d fills, want 1", n)
				}
				if !r.at(r.owners[5]).Cluster().IsSuspect(r.owners[0]) {
					t.Error("the failed leader is not suspect")
				}
			})
		})
	}
}
