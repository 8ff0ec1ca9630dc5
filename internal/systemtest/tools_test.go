package systemtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/edgecache/edgecache/internal/cli"
	"github.com/edgecache/edgecache/internal/localcluster"
	"github.com/edgecache/edgecache/internal/localcluster/clustertest"
)

// requireToolsEnv makes a missing external tool fail the tests that need
// it instead of skipping them. `make test` sets it, so that CI cannot pass
// by skipping the tests that drive real players.
const requireToolsEnv = "EDGECACHE_REQUIRE_TOOLS"

// requireTool returns the path of the first of names found on PATH. When
// none is, the test is skipped, or failed if EDGECACHE_REQUIRE_TOOLS=1.
func requireTool(t testing.TB, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv(requireToolsEnv) == "1" {
		t.Fatalf("%v not found on PATH, and %s=1 (run `make tools`)", names, requireToolsEnv)
	}
	t.Skipf("%v not found on PATH (set %s=1 to fail instead)", names, requireToolsEnv)
	return ""
}

// startTestRing starts the demo's deployment, the embedded media library
// behind a ring of three edges with cold caches, until the test ends.
func startTestRing(t *testing.T) *localcluster.Cluster {
	t.Helper()
	return clustertest.Start(t, cli.DemoConfig("127.0.0.1:0"))
}

// toolOutput runs a tool with a deadline and returns its stdout and
// stderr; a failure to run or a non-zero exit fails the test with both.
func toolOutput(t *testing.T, timeout time.Duration, path string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\nstderr:\n%s", path, args, err, errOut.Bytes())
	}
	return out.Bytes(), errOut.Bytes()
}
