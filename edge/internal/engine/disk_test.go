package engine_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/engine/enginetest"
)

// These tests drive the disk tier through fakes (enginetest.Disk): a disk
// that answers is read instead of a peer or the origin, and one that
// stalls costs a read what a slow peer costs, a hedge delay, after which
// the ring answers (ARCHITECTURE.md, invariant 6); where only the origin
// would, the disk has up to the peer timeout. A stalled disk here never
// answers at all: a read that waited on it would never end.

// forget drops everything the member at addr holds in memory, so that
// what it holds is on its disk alone.
func (r *rig) forget(addr string) {
	r.at(addr).Store().RemoveFunc(func(engine.StoreKey) bool { return true })
}

// chunkAt reads the chunk through the member at addr, as a player's
// request does, and checks its bytes.
func (r *rig) chunkAt(t *testing.T, addr string) engine.Source {
	t.Helper()
	got, src, err := r.at(addr).Chunk(context.Background(), r.obj, r.key.Index)
	if err != nil || !bytes.Equal(got, r.data) {
		t.Fatalf("chunk at %s: %v, identical=%v", addr, err, bytes.Equal(got, r.data))
	}
	return src
}

// rebuildOffTheDisk places a chunk's shards, leaves owner 1's own shard
// on its disk alone (a disk that stalls, if stall), and rebuilds the chunk
// there. It returns the rig, that owner, and the shard reads per owner.
func rebuildOffTheDisk(t *testing.T, stall bool) (*rig, string, []int) {
	t.Helper()
	r := newRigWith(t, true)
	r.place(t)
	reader := r.owners[1]
	r.forget(reader)
	r.disks[reader].Stall(stall)
	before := r.asked()
	r.rebuild(t, reader)
	return r, reader, r.since(before)
}

// A shard this node owns that only its disk holds counts towards k: the
// read asks the other data owners and no one else.
func TestRebuildTakesTheOwnShardFromTheDisk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, reader, got := rebuildOffTheDisk(t, false)
		if !slices.Equal(got, []int{1, 0, 1, 1, 0, 0}) {
			t.Errorf("shard reads per owner: %v, want the three other data owners once: the disk holds shard 1", got)
		}
		if s := r.at(reader).Stats(); s.DiskHits != 1 || s.DiskSlow != 0 || s.Hedges != 0 {
			t.Errorf("disk hits %d, slow %d, hedges %d; want 1, 0, 0", s.DiskHits, s.DiskSlow, s.Hedges)
		}
	})
}

// A disk that stalls is stood in for as a slow owner is: a parity owner
// is asked, the chunk is rebuilt, and the disk counts as slow. The shard
// it did not send is not repaired: it may be there still.
func TestRebuildHedgesAStalledDisk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, reader, got := rebuildOffTheDisk(t, true)
		if got[1] != 0 || got[4]+got[5] != 1 {
			t.Errorf("shard reads per owner: %v, want one parity owner asked in the stalled disk's place", got)
		}
		r.at(reader).Settle()
		if s := r.at(reader).Stats(); s.DiskSlow != 1 || s.Hedges != 1 || s.Repairs != 0 {
			t.Errorf("disk slow %d, hedges %d, repairs %d; want 1, 1, 0", s.DiskSlow, s.Hedges, s.Repairs)
		}
	})
}

// A decoded chunk that only the disk holds is served from it, as the
// disk's (SourceDisk); once the disk stalls, the same chunk comes rebuilt
// from the peers, and the origin is not asked again. The chunk kept again
// is not written to the disk again: the disk is a log, and each rewrite
// would push out older entries sooner.
func TestChunkFromTheDiskOrPastIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRigWith(t, true)
		r.place(t)
		reader := r.owners[5]
		if src := r.chunkAt(t, reader); src != engine.SourcePeer {
			t.Fatalf("first read: %v, want PEER", src)
		}
		reads := r.org.Reads(path)
		r.forget(reader)
		if src := r.chunkAt(t, reader); src != engine.SourceDisk {
			t.Errorf("with the chunk on the disk alone: source %d, want SourceDisk", src)
		}
		r.forget(reader)
		r.disks[reader].Stall(true)
		puts := r.disks[reader].Puts()
		if src := r.chunkAt(t, reader); src != engine.SourcePeer {
			t.Errorf("with the disk stalled: source %d, want SourcePeer", src)
		}
		r.at(reader).Settle()
		if n := r.disks[reader].Puts() - puts; n != 0 {
			t.Errorf("%d writes to the disk for a chunk and a shard it holds, want none", n)
		}
		// The chunk's read, then its own shard's in the rebuild.
		if n := r.at(reader).Stats().DiskSlow; n != 2 {
			t.Errorf("%d slow disk reads, want 2", n)
		}
		if n := r.org.Reads(path); n != reads {
			t.Errorf("the origin served %d more reads of the chunk, want none", n-reads)
		}
	})
}

// A leader waits for its disk when busy, since the origin is its only
// other source; one whose disk stalls answers a fill from the origin
// after the hedge delay rather than hold the member that asked longer.
func TestLeaderPastAStalledDisk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRigWith(t, true)
		leader := r.owners[0]
		if src := r.chunkAt(t, leader); src != engine.SourceOrigin {
			t.Fatalf("the leader's first read: %v, want MISS", src)
		}
		r.at(leader).Settle()
		r.forget(leader)
		r.disks[leader].Busy(time.Second)
		asker := r.net.Peers(t, r.owners[5])
		got, src, err := asker.Fill(leader, r.key, r.obj, len(r.data))
		if err != nil || !bytes.Equal(got, r.data) || src != engine.SourcePeer {
			t.Fatalf("fill from a leader with a busy disk: %v, %v, identical=%v; want the leader's own bytes", err, src, bytes.Equal(got, r.data))
		}
		if n := r.at(leader).Stats().DiskHits; n != 1 {
			t.Errorf("%d disk hits at the leader, want 1", n)
		}
		r.forget(leader)
		r.disks[leader].Busy(0)
		r.disks[leader].Stall(true)
		got, src, err = asker.Fill(leader, r.key, r.obj, len(r.data))
		if err != nil || !bytes.Equal(got, r.data) || src != engine.SourceOrigin {
			t.Fatalf("fill from a leader with a stalled disk: %v, %v, identical=%v; want the origin's bytes", err, src, bytes.Equal(got, r.data))
		}
		if n := r.at(leader).Stats().DiskSlow; n != 1 {
			t.Errorf("%d slow disk reads at the leader, want 1", n)
		}
	})
}

// aloneOnADisk starts one member on a fake disk, in front of an origin
// holding a movie of two chunks at path.
func aloneOnADisk(t *testing.T) (*engine.Engine, *enginetest.Origin, *enginetest.Disk, engine.Config, []byte) {
	t.Helper()
	net := enginetest.NewNetwork(enginetest.Timeouts{Peer: 2 * time.Second, Fill: 5 * time.Second, Ping: time.Second})
	org := enginetest.NewOrigin()
	data := enginetest.Movie(org, path, 2, 9)
	cfg := enginetest.Config()
	disk := enginetest.NewDisk()
	cfg.Disk = disk
	e := enginetest.StartEach(t, net, org, []engine.Config{cfg})[0].Engine
	t.Cleanup(net.Wait)
	return e, org, disk, cfg, data
}

// A node alone has only the origin to go to past its disk, so it waits
// for a disk that is busy (ending other reads), up to the peer timeout,
// rather than send the origin what it holds. A disk that ends no read for
// a hedge delay, then for ten more, is stalled, and not waited on longer;
// one stalled, or busy past the peer timeout, is waited on for the hedge
// delay only for the suspect period, and the origin fills.
func TestAlonePastAStalledDisk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, org, disk, cfg, data := aloneOnADisk(t)
		o := enginetest.Get(t, e, path).Object
		read := func(want engine.Source, took time.Duration) {
			t.Helper()
			e.Store().RemoveFunc(func(engine.StoreKey) bool { return true })
			start := time.Now()
			got, src, err := e.Chunk(context.Background(), o, 1)
			if err != nil || !bytes.Equal(got, data[enginetest.ChunkSize:]) || src != want {
				t.Fatalf("chunk 1: %v, source %d, identical=%v; want source %d", err, src, bytes.Equal(got, data[enginetest.ChunkSize:]), want)
			}
			if d := time.Since(start); d != took {
				t.Errorf("chunk 1 from source %d took %v, want %v", src, d, took)
			}
		}
		read(engine.SourceOrigin, 0)
		read(engine.SourceDisk, 0)
		busy := 40 * cfg.HedgeDelay
		disk.Busy(busy)
		read(engine.SourceDisk, busy)
		if n := org.Reads(path); n != 1 {
			t.Errorf("the origin served %d reads of chunk 1 with the disk busy, want 1", n)
		}

		disk.Busy(0)
		disk.Stall(true) // ends no read: given up when it ends none within 10 more hedge delays
		read(engine.SourceOrigin, 11*cfg.HedgeDelay)
		read(engine.SourceOrigin, cfg.HedgeDelay) // held slow
		if n := e.Stats().DiskSlow; n != 2 {
			t.Errorf("%d slow disk reads, want 2", n)
		}
		if n := org.Reads(path); n != 3 {
			t.Errorf("the origin served %d reads of chunk 1, want 3", n)
		}
		time.Sleep(enginetest.SuspectFor)
		disk.Stall(false)
		disk.Busy(busy)
		read(engine.SourceDisk, busy) // the suspect period over, the busy disk is waited for again
		disk.Busy(2 * cfg.PeerTimeout)
		read(engine.SourceOrigin, cfg.PeerTimeout) // busy past the peer timeout
		read(engine.SourceOrigin, cfg.HedgeDelay)  // and held slow
	})
}

// With a ChunkDisk, decoded chunks are kept there and nowhere else, and
// the shards on Disk: chunks written by every member for what it serves
// never push the ring's shards out of their log. Both are read after a
// memory miss, and a purge empties both.
func TestChunksOnTheirOwnDisk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := enginetest.NewNetwork(enginetest.Timeouts{Peer: 2 * time.Second, Fill: 5 * time.Second, Ping: time.Second})
		org := enginetest.NewOrigin()
		data := enginetest.Movie(org, path, 2, 9)
		cfgs := make([]engine.Config, 6)
		owned, served := make([]*enginetest.Disk, 6), make([]*enginetest.Disk, 6)
		for i := range cfgs {
			owned[i], served[i] = enginetest.NewDisk(), enginetest.NewDisk()
			cfgs[i] = enginetest.Config()
			cfgs[i].Disk, cfgs[i].ChunkDisk = owned[i], served[i]
		}
		members := enginetest.StartEach(t, net, org, cfgs)
		t.Cleanup(net.Wait)
		e := members[0].Engine
		o := enginetest.Get(t, e, path).Object
		if _, _, err := e.Chunk(context.Background(), o, 1); err != nil {
			t.Fatal(err)
		}
		shards := 0
		for i, m := range members {
			m.Engine.Settle()
			if keys := served[i].Keys(); !all(keys, decoded) {
				t.Errorf("member %d: chunk disk holds %q, want decoded chunks only", i, keys)
			}
			if keys := owned[i].Keys(); slices.ContainsFunc(keys, decoded) {
				t.Errorf("member %d: disk holds %q, want shards only", i, keys)
			}
			shards += owned[i].Len()
		}
		if shards == 0 || served[0].Len() == 0 {
			t.Fatalf("%d shards on the disks, %d chunks on the reader's chunk disk; want both", shards, served[0].Len())
		}
		e.Store().RemoveFunc(func(engine.StoreKey) bool { return true })
		got, src, err := e.Chunk(context.Background(), o, 1)
		if err != nil || src != engine.SourceDisk || !bytes.Equal(got, data[enginetest.ChunkSize:]) {
			t.Errorf("chunk 1 after memory is emptied: %v, source %d, identical=%v; want it from the chunk disk", err, src, bytes.Equal(got, data[enginetest.ChunkSize:]))
		}
		for i, m := range members {
			m.Engine.Purge(path)
			if owned[i].Len()+served[i].Len() != 0 {
				t.Errorf("member %d after a purge: the disks hold %q and %q, want nothing", i, owned[i].Keys(), served[i].Keys())
			}
		}
	})
}

// decoded reports whether a disk key names a decoded chunk.
func decoded(k string) bool { return strings.HasSuffix(k, "/-1") }

func all(s []string, f func(string) bool) bool {
	for _, v := range s {
		if !f(v) {
			return false
		}
	}
	return true
}

// A chunk that only the disk holds is lent to the caller the first time,
// and not kept in memory; read again soon after, it goes into memory, and
// is a memory hit from then on. A disk that does not lend in time is not
// asked again by the fill that follows.
func TestChunkLent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, org, disk, _, data := aloneOnADisk(t)
		want := data[enginetest.ChunkSize:]
		o := enginetest.Get(t, e, path).Object
		key := o.ChunkKey(1)
		read := func(wantSrc engine.Source, wantLent bool) {
			t.Helper()
			got, src, release, err := e.ChunkLent(context.Background(), o, 1)
			if err != nil || !bytes.Equal(got, want) || src != wantSrc || (release != nil) != wantLent {
				t.Fatalf("chunk 1: %v, source %d, lent %v, identical=%v; want source %d, lent %v",
					err, src, release != nil, bytes.Equal(got, want), wantSrc, wantLent)
			}
			if wantLent {
				if n := disk.Outstanding(); n != 1 {
					t.Errorf("%d buffers lent, want 1", n)
				}
				release()
				if n := disk.Outstanding(); n != 0 {
					t.Errorf("%d buffers lent after the release, want 0", n)
				}
			}
		}
		read(engine.SourceOrigin, false)
		e.Store().RemoveFunc(func(engine.StoreKey) bool { return true })
		read(engine.SourceDisk, true)
		if e.Holds(key) {
			t.Error("a chunk lent from the disk once is in memory")
		}
		read(engine.SourceDisk, false) // read again soon: into memory
		if !e.Holds(key) {
			t.Error("a chunk read from the disk twice is not in memory")
		}
		read(engine.SourceHit, false)
		if n := org.Reads(path); n != 1 {
			t.Errorf("the origin served %d reads of chunk 1, want 1", n)
		}
		if s := e.Stats(); s.DiskHits < 2 || s.DiskLent != 1 {
			t.Errorf("%d disk hits, %d lent; want at least 2 (the lent read and the one into memory), 1 lent", s.DiskHits, s.DiskLent)
		}

		e.Store().RemoveFunc(func(engine.StoreKey) bool { return true })
		disk.Stall(true)
		gets := disk.Gets()
		read(engine.SourceOrigin, false)
		if n := disk.Gets() - gets; n != 1 {
			t.Errorf("the disk was read %d times for one chunk, want once", n)
		}
	})
}
