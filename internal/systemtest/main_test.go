package systemtest

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/edgecache/edgecache/internal/testutil"
)

// root is the repository's top directory, from this package's.
const root = "../.."

// TestMain fails the package if any test leaves a goroutine behind;
// fasthttp's own timers, which hold no connection, are ignored. The tests
// start from an environment without the EDGECACHE_* variables the commands
// read, whatever the shell that runs them has; requireToolsEnv is kept.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "EDGECACHE_") && name != requireToolsEnv {
			os.Unsetenv(name)
		}
	}
	goleak.VerifyTestMain(m, testutil.FasthttpTimers()...)
}
