package enginetest_test

import (
	"testing"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine/enginetest"
)

// The in-memory network keeps the contract the network client keeps.
func TestNetworkPeers(t *testing.T) {
	enginetest.TestPeers(t, enginetest.NewNetwork(enginetest.Timeouts{Peer: 2 * time.Second, Fill: 5 * time.Second, Ping: time.Second}))
}
