package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// A bad value leaves its flag as it was, so that the checks after parsing
// do not report made-up problems; bool flags still take no value; and
// every bad value is reported, from the command line and the environment,
// each naming where it came from.
func TestParseFlagsReportsEveryBadValueAndKeepsDefaults(t *testing.T) {
	f := newFlagSet("test", "a test", io.Discard)
	n, size, on, name, ttl := 7, int64(1<<20), false, "x", time.Second
	f.Int(&n, "n", "a number")
	f.Size(&size, "size", "a size")
	f.Bool(&on, "on", "a switch")
	f.String(&name, "name", "a name")
	f.Duration(&ttl, "ttl", "a duration")
	t.Setenv("EDGECACHE_NAME", "from-env")
	t.Setenv("EDGECACHE_TTL", "10")
	if err := f.parse([]string{"--n", "many", "--on", "--size", "3XB"}, 0); err != nil {
		t.Fatalf("parse stopped: %v", err)
	}
	err := f.problems()
	if err == nil {
		t.Fatal("bad values accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `invalid value "many" for --n`) || !strings.Contains(lines[1], `invalid value "3XB" for --size`) ||
		!strings.Contains(lines[2], `invalid value "10" for EDGECACHE_TTL: a duration needs a unit: write 10s`) {
		t.Errorf("problems: %q", lines)
	}
	if n != 7 || size != 1<<20 || !on || name != "from-env" || ttl != time.Second {
		t.Errorf("after bad values: n=%d size=%d on=%v name=%q ttl=%v; want 7, 1MiB, true, from-env, 1s", n, size, on, name, ttl)
	}
	if !f.given["on"] || f.given["name"] || !f.fromEnv("name") {
		t.Errorf("sources: given %v, name from env %v", f.given, f.fromEnv("name"))
	}
}

// The command line wins over the environment, which wins over the default.
func TestParseFlagsPrecedence(t *testing.T) {
	f := newFlagSet("test", "", io.Discard)
	a, b, c := "default", "default", "default"
	f.String(&a, "a", "")
	f.String(&b, "b", "")
	f.String(&c, "c", "")
	t.Setenv("EDGECACHE_A", "env")
	t.Setenv("EDGECACHE_B", "env")
	if err := f.parse([]string{"--a", "line"}, 0); err != nil || f.problems() != nil {
		t.Fatal(err, f.problems())
	}
	if a != "line" || b != "env" || c != "default" {
		t.Errorf("a=%q b=%q c=%q, want line, env, default", a, b, c)
	}
}

// A flag the command does not have, one missing its value and bad syntax
// each stop the parse with one line naming the argument with two dashes.
func TestParseFlagsRefusedArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--on=maybe"}, "unknown flag --on"},
		{[]string{"--n", "1", "-nope"}, "unknown flag --nope"},
		{[]string{"--n"}, "flag --n needs a value"},
		{[]string{"--n", "1", "---x"}, `bad flag syntax "---x"`},
	} {
		f := newFlagSet("b", "", io.Discard)
		n := 0
		f.Int(&n, "n", "")
		err := f.parse(c.args, 0)
		if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want one line with %q", c.args, err, c.want)
		}
	}
	f := newFlagSet("b", "", io.Discard)
	if err := f.parse([]string{"--help"}, 0); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

// Each flag type refuses what it cannot hold with an error that says what
// to write instead.
func TestFlagValuesSayWhatToWrite(t *testing.T) {
	for _, c := range []struct {
		set  func(string) error
		in   string
		want string
	}{
		{func(v string) error { _, err := parseDuration(v); return err }, "10", "write 10s"},
		{func(v string) error { _, err := parseDuration(v); return err }, "soon", "500ms, 10s or 2m"},
		{checkURL, "127.0.0.1:9000", "write http://127.0.0.1:9000"},
		{checkURL, "origin.example", "write http://origin.example"},
		{checkURL, "ftp://x", "http:// or https://"},
		{checkAddr, "8080", "write 127.0.0.1:8080 (this machine only) or :8080 (every interface)"},
		{checkAddr, "http://10.0.0.1:8081/", "without a scheme: write 10.0.0.1:8081"},
		{checkAddr, "127.0.0.1:70000", "not a number from 0 to 65535"},
		{checkAddr, "nonsense", "want host:port"},
		{func(v string) error { _, err := parseBitrate(v); return err }, "5", "write 5Mbps or 5kbps"},
		{func(v string) error { _, err := parseInt(v); return err }, "many", "whole number"},
		{boolValue{new(bool)}.Set, "maybe", "true or false"},
	} {
		if err := c.set(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
	for _, ok := range []string{"127.0.0.1:0", ":8080", "[::1]:9000", "edge-1.example:8081"} {
		if err := checkAddr(ok); err != nil {
			t.Errorf("checkAddr(%q) = %v", ok, err)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:9000", "https://origin.example/prefix"} {
		if err := checkURL(ok); err != nil {
			t.Errorf("checkURL(%q) = %v", ok, err)
		}
	}
}

// The twin --help names is the variable ff reads.
func TestEnvNameIsWhatFFReads(t *testing.T) {
	f := newFlagSet("test", "", io.Discard)
	v := int64(0)
	f.Size(&v, "cache-size", "")
	t.Setenv(EnvName("cache-size"), "2MiB")
	if err := f.parse(nil, 0); err != nil || v != 2<<20 || EnvName("cache-size") != "EDGECACHE_CACHE_SIZE" {
		t.Errorf("%s=2MiB: %v, value %d", EnvName("cache-size"), err, v)
	}
}

// Sizes round-trip through FormatSize, which --help and --print-config
// show.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512MiB": 512 << 20, "1GiB": 1 << 30, "1.5GiB": 3 << 29, "4k": 4 << 10, "10MB": 10e6, " 2 MiB ": 2 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
		if got, err := ParseSize(FormatSize(want)); err != nil || got != want {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", want, got, err)
		}
	}
	for _, in := range []string{"", "MiB", "1XB", "-1", "1e3", "9999999TiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}
