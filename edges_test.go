package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/edge"
)

// startEdges runs n edges in this process in front of a synthetic origin,
// forming one ring authenticated by secret, until the test ends. It
// returns them once every ring has every member.
func startEdges(t *testing.T, n int, secret []byte) []*edge.Node {
	t.Helper()
	originURL := startOrigin(t, []string{"--synthetic"}, nil)
	members := make(chan []string, n)
	ctx, cancel := context.WithCancel(context.Background())
	var runs sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		runs.Wait()
	})
	var nodes []*edge.Node
	for i := range n {
		cfg := edge.DefaultConfig()
		cfg.Listen, cfg.AdminListen, cfg.PeerListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		cfg.Origin, cfg.CacheSize, cfg.ChunkSize = originURL, 32<<20, 64<<10
		cfg.Membership, cfg.ClusterSecret = lateStatic(members), secret
		cfg.PeerDialTimeout, cfg.StatusInterval = 2*time.Second, 50*time.Millisecond
		node, err := edge.New(cfg)
		if err != nil {
			t.Fatalf("edge %d: %v", i+1, err)
		}
		nodes = append(nodes, node)
		runs.Go(func() {
			if err := node.Run(ctx); err != nil {
				t.Errorf("edge %d: %v", i+1, err)
			}
		})
	}
	var addrs []string
	for _, node := range nodes {
		addrs = append(addrs, node.Advertise())
	}
	for range n {
		members <- addrs
	}
	waitUntil(t, "every ring to have every member", func() bool {
		for _, node := range nodes {
			if len(node.Status().Members) != n {
				return false
			}
		}
		return true
	})
	return nodes
}

// waitUntil polls cond until it holds, for at most 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
