package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// A bad value leaves its flag as it was, so that the checks after parsing
// do not report made-up problems; bool flags still take no value; and
// every bad value is reported, from the command line and the environment.
func TestParseFlagsReportsEveryBadValueAndKeepsDefaults(t *testing.T) {
	fs := newFlagSet("test", "a test", io.Discard)
	n := fs.Int("n", 7, "a number")
	size := sizeValue(1 << 20)
	fs.Var(&size, "size", "a size")
	on := fs.Bool("on", false, "a switch")
	list := fs.String("name", "x", "a name")
	env := map[string]string{"EDGECACHE_NAME": "from-env"}
	_, err := parseCommandLine(fs, []string{"--n", "many", "--on", "--size", "3XB"}, func(k string) string { return env[k] }, 0)
	if err == nil {
		t.Fatal("bad values accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `invalid value "many" for --n`) || !strings.Contains(lines[1], `invalid value "3XB" for --size`) {
		t.Errorf("problems: %q", lines)
	}
	if *n != 7 || size != 1<<20 || !*on || *list != "from-env" {
		t.Errorf("after bad values: n=%d size=%d on=%v name=%q; want 7, 1MiB, true, from-env", *n, size, *on, *list)
	}
	if _, ok := fs.Lookup("n").Value.(keepOnError); ok {
		t.Error("the wrapper outlives parsing")
	}
	_, err = parseCommandLine(newFlagSet("b", "", io.Discard), []string{"--on=maybe"}, func(string) string { return "" }, 0)
	if err == nil || !strings.Contains(err.Error(), "unknown flag --on") {
		t.Errorf("unknown flag: %v", err)
	}
}

// runCmd runs the edgecache command line with env as its environment.
func runCmd(args []string, env map[string]string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}
