package engine_test

import (
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/engine/enginetest"
	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
)

// A leader that holds no copy of a response (it restarted, or it joined
// and now leads the key) takes the copy its keepers hold rather than ask
// the origin again; a request that wants the origin's word still gets it.
func TestLeaderTakesTheKeepersCopy(t *testing.T) {
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
	keepers := any.Cluster().Ring().Owners(xxhash.Sum64String(path), 3)
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
