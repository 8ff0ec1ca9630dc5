package edge

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/edgecache/edgecache/edge/internal/leakcheck"
)

// TestMain fails the package if any test leaves a goroutine behind: a node
// that stops must stop every fill, placement, repair, connection and
// listener it started. fasthttp's process-wide timers are not leaks
// (leakcheck.FastHTTP says why).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.FastHTTP()...)
}
