package bench

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/edgecache/edgecache/internal/testutil"
)

// TestMain fails the package if any test leaves a goroutine behind: a run
// must stop every viewer, loop and reporter it started. fasthttp's own
// timers, which hold no connection, are ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.FasthttpTimers()...)
}
