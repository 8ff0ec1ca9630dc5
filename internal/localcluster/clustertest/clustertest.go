// Package clustertest starts local clusters for tests: the one cluster
// starter the command's tests and the system tests share. It is for tests
// only.
package clustertest

import (
	"context"
	"testing"
	"time"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/localcluster"
	"github.com/edgecache/edgecache/internal/testutil"
)

// Start starts cfg's cluster until the test ends, and returns it once
// every edge's ring has every member. Edges dial peers with a generous
// timeout (a loaded test machine is slow to accept) and sample their
// status history every 50 ms, before cfg.Edge tunes them further. Closing
// it with an error fails the test.
func Start(t testing.TB, cfg localcluster.Config) *localcluster.Cluster {
	t.Helper()
	tune := cfg.Edge
	cfg.Edge = func(i int, ec *edge.Config) {
		ec.PeerDialTimeout, ec.StatusInterval = 2*time.Second, 50*time.Millisecond
		if tune != nil {
			tune(i, ec)
		}
	}
	c, err := localcluster.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing the local cluster: %v", err)
		}
	})
	testutil.WaitUntil(t, "every ring to have every member", func() bool {
		for _, n := range c.Nodes() {
			if len(n.Status().Members) != cfg.Edges {
				return false
			}
		}
		return true
	})
	return c
}
