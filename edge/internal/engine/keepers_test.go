package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/engine/enginetest"
	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
)

// sixWithKeepers starts six members in front of an origin holding a
// movie at path, and returns them by address with path's three keepers,
// its leader first.
func sixWithKeepers(t *testing.T) (*enginetest.Network, *enginetest.Origin, map[string]*engine.Engine, []string) {
	t.Helper()
	net := enginetest.NewNetwork(enginetest.Timeouts{Peer: 2 * time.Second, Fill: 5 * time.Second, Ping: time.Second})
	org := enginetest.NewOrigin()
	enginetest.Movie(org, path, 2, 7)
	members := map[string]*engine.Engine{}
	var any *engine.Engine
	for _, m := range enginetest.Start(t, net, org, enginetest.Config(), 6) {
		members[m.Addr], any = m.Engine, m.Engine
	}
	t.Cleanup(func() {
		for _, e := range members {
			e.Settle()
		}
		net.Wait()
	})
	return net, org, members, any.Cluster().Ring().Owners(xxhash.Sum64String(path), 3)
}

// A leader that holds no copy of a response (it restarted, or it joined
// and now leads the key) takes the copy its keepers hold rather than ask
// the origin again; a request that wants the origin's word still gets it.
func TestLeaderTakesTheKeepersCopy(t *testing.T) {
	_, org, members, keepers := sixWithKeepers(t)
	leader := members[keepers[0]]
	first := enginetest.Get(t, leader, path).Object
	leader.Settle() // the copies reach the other keepers
	for _, k := range keepers[1:] {
		if !members[k].HasObject(path) {
			t.Fatalf("keeper %s holds no copy", k)
		}
	}

	leader.Invalidate(first) // as if it had restarted empty
	if o := enginetest.Get(t, leader, path).Object; o == nil || o.Version != first.Version {
		t.Fatalf("after the leader lost its copy: %+v", o)
	}
	if n := org.Lookups(path); n != 1 {
		t.Errorf("the origin was asked %d times, want 1: the keepers' copy should answer", n)
	}

	leader.Invalidate(enginetest.Get(t, leader, path).Object)
	noCache := engine.NewRequest(path, httpcache.Fields{{Name: "Cache-Control", Value: "no-cache"}}, forward.Client{})
	if _, err := leader.Lookup(t.Context(), noCache); err != nil {
		t.Fatal(err)
	}
	if n := org.Lookups(path); n != 2 {
		t.Errorf("a no-cache request: the origin was asked %d times in all, want 2", n)
	}
}

// Keepers this node suspects are asked last, not skipped: under load a
// live member times out now and then, and skipping every suspect keeper
// sends the lookup to the origin. A keeper whose leader is down takes the
// copy the keepers behind it hold.
func TestSuspectKeepersAskedBeforeTheOrigin(t *testing.T) {
	net, org, members, keepers := sixWithKeepers(t)
	leader := members[keepers[0]]
	first := enginetest.Get(t, leader, path).Object
	leader.Settle()

	var other *engine.Engine
	for addr, e := range members {
		if addr != keepers[0] && addr != keepers[1] && addr != keepers[2] {
			other = e
		}
	}
	for _, k := range keepers {
		other.Cluster().MarkSuspect(k, errors.New("timed out under load"))
	}
	if o := enginetest.Get(t, other, path).Object; o == nil || o.Version != first.Version {
		t.Fatalf("a member suspecting every keeper: %+v", o)
	}
	if n := org.Lookups(path); n != 1 {
		t.Errorf("a member suspecting every keeper: the origin was asked %d times, want 1", n)
	}

	second := members[keepers[1]]
	second.Invalidate(enginetest.Get(t, second, path).Object) // as if it had restarted empty
	if second.HasObject(path) {
		t.Fatal("the second keeper still holds the object")
	}
	before := org.Lookups(path)
	net.Set(keepers[0], enginetest.Fault{Down: true})
	second.Cluster().MarkSuspect(keepers[2], errors.New("timed out under load"))
	if o := enginetest.Get(t, second, path).Object; o == nil || o.Version != first.Version {
		t.Fatalf("a keeper whose leader is down: %+v", o)
	}
	if n := org.Lookups(path) - before; n != 0 {
		t.Errorf("a keeper whose leader is down: the origin was asked %d times, want 0", n)
	}
}
