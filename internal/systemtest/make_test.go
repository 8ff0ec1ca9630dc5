package systemtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `make tools` installs a C compiler when the machine has none, as a fresh
// Debian with only Go has not: `go test -race` cannot build without cgo.
// The recipe runs with a PATH of stand-ins: the players are there, gcc is
// not, and apt-get records what it is asked for.
func TestMakeToolsInstallsWhatRaceNeeds(t *testing.T) {
	mk := requireTool(t, "make")
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "apt-get.calls")
	stub := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range []string{"ffmpeg", "ffprobe", "chromium"} {
		stub(tool, "exit 0")
	}
	stub("apt-get", `echo "$@" >> `+calls)
	cmd := exec.Command(mk, "--no-print-directory", "-C", root, "tools")
	cmd.Env = []string{"PATH=" + bin}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make tools: %v\n%s", err, out)
	}
	got, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("make tools did not call apt-get with gcc missing: %v", err)
	}
	var install string
	for line := range strings.SplitSeq(string(got), "\n") {
		if strings.Contains(line, "install") {
			install = line
		}
	}
	for _, pkg := range []string{"gcc", "libc6-dev"} {
		if !strings.Contains(" "+install+" ", " "+pkg+" ") {
			t.Errorf("apt-get calls %q: no install of %s", got, pkg)
		}
	}
}
