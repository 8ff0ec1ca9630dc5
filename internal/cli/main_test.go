package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/edgecache/edgecache/internal/testutil"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// commands run edges, origins and benches in process, and each must stop
// everything it started when its context ends. fasthttp's own timers,
// which hold no connection, are ignored.
//
// The commands read their flags' twins from the process environment:
// the tests start from one without EDGECACHE_* variables, whatever the
// shell that runs them has, and set what they need with t.Setenv.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, envPrefix) {
			os.Unsetenv(name)
		}
	}
	goleak.VerifyTestMain(m, testutil.FasthttpTimers()...)
}

// runCmd runs the edgecache command line to its end with env added to
// the environment while it runs.
func runCmd(t *testing.T, args []string, env map[string]string) (code int, stdout, stderr string) {
	t.Helper()
	for k, v := range env {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		defer func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		}()
	}
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// setenv sets env for the rest of the test, for a command that runs in
// the background and reads it when it starts.
func setenv(t *testing.T, env map[string]string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
}
