package main

import (
	"os"
	"os/exec"
	"testing"
)

// requireTool returns the path of the first of names found on PATH: the
// real client a test drives (Chromium, ffmpeg). When none is installed the
// test is skipped, except under EDGECACHE_REQUIRE_TOOLS=1 (make test), where
// a missing tool fails it: CI must not pass by skipping.
func requireTool(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("EDGECACHE_REQUIRE_TOOLS") == "1" {
		t.Fatalf("none of %v is installed, and EDGECACHE_REQUIRE_TOOLS=1 requires it (make tools installs it)", names)
	}
	t.Skipf("none of %v is installed; set EDGECACHE_REQUIRE_TOOLS=1 to fail instead", names)
	return ""
}
