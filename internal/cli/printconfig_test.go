package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// testOrigin is an origin URL for configurations that are printed or
// refused, never started.
const testOrigin = "http://origin.example:9000"

// Each configuration problem has one clear line, exit 2.
func TestEdgeConfigProblemMessages(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cache-size", "12XB"}, `invalid value "12XB" for --cache-size: unknown size unit "XB"`},
		{[]string{"--data-shards", "200", "--parity-shards", "57"}, "200 data + 57 parity shards = 257 shards, over the codec's limit of 256"},
		{[]string{"--cache-size", "1MiB", "--chunk-size", "4MiB"}, "cache size 1048576 bytes is smaller than one chunk (4194304 bytes"},
		{[]string{"--listen", ":9000", "--peer-listen", "0.0.0.0:9000"}, "the client listener (:9000) and the peer listener (0.0.0.0:9000) would bind the same port"},
		{[]string{"--peer-listen", "127.0.0.1:9001", "--admin-listen", "127.0.0.1:9001"}, "the peer listener (127.0.0.1:9001) and the admin listener (127.0.0.1:9001) would bind the same port"},
		{[]string{"--refuse-methods", "TRACE,GET"}, "refused method GET: GET and HEAD are what the cache serves"},
		{[]string{"--refuse-methods", "PUT,DE LETE"}, `refused method "DE LETE" is not an HTTP method token`},
		{[]string{"--max-body-size", "0"}, "max body size must be positive"},
		{[]string{"--disk-size", "12XB"}, `invalid value "12XB" for --disk-size: unknown size unit "XB"`},
		{[]string{"--disk-path", dir, "--disk-size", "1MiB"}, "disk size 1048576 bytes is under 67108864 (16 chunks, and at least 512 KiB, for decoded chunks and for shards)"},
		{[]string{"--disk-path", file, "--disk-size", "1GiB"}, "disk path " + file + " is not a directory"},
	} {
		code, _, errs := runCmd(t, append([]string{"edge", "--origin", testOrigin}, c.args...), nil)
		if code != 2 || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "edgecache edge: ") || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, errs, c.want)
		}
	}
}

// All problems come together, one line each, whatever their kind: bad
// values, a bad log format, conflicting listeners, too many shards.
func TestEdgeConfigProblemsReportedTogether(t *testing.T) {
	code, _, errs := runCmd(t, []string{"edge", "--cache-size", "12XB", "--readahead", "many", "--log-format", "xml",
		"--listen", ":9000", "--admin-listen", ":9000", "--data-shards", "250", "--parity-shards", "10"},
		map[string]string{"EDGECACHE_MAX_RANGES": "lots", "EDGECACHE_ORIGIN": testOrigin})
	lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
	wants := []string{"--cache-size", "--readahead", "EDGECACHE_MAX_RANGES", "--log-format", "would bind the same port", "over the codec's limit"}
	if code != 2 || len(lines) != len(wants) {
		t.Fatalf("exit %d, %d lines, want 2 and %d:\n%s", code, len(lines), len(wants), errs)
	}
	for _, w := range wants {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "edgecache edge: ") && strings.Contains(l, w) }) {
			t.Errorf("no line about %s:\n%s", w, errs)
		}
	}
}

// --print-config prints the effective configuration with each value's
// source, never the secret, and exits 0 without starting an edge.
func TestEdgePrintConfig(t *testing.T) {
	const envSecret, fileSecret = "env-secret-that-must-not-print", "file-secret-that-must-not-print"
	env := map[string]string{"EDGECACHE_CLUSTER_SECRET": envSecret, "EDGECACHE_CACHE_SIZE": "1GiB", "EDGECACHE_CHUNK_SIZE": "4MiB",
		"EDGECACHE_ORIGIN": testOrigin}
	// The listeners are the defaults: were an edge started, they could
	// clash with anything on this machine; printing binds nothing.
	code, out, errs := runCmd(t, []string{"edge", "--print-config", "--chunk-size", "2MiB", "--peers", "10.0.0.1:8081,10.0.0.2:8081",
		"--refuse-methods", "CONNECT, TRACE,PATCH", "--share-set-cookie", "--disk-path", "/mnt/a,/mnt/b", "--disk-size", "100GiB"}, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, re := range []string{
		`(?m)^--cache-size=1GiB +env EDGECACHE_CACHE_SIZE$`,
		`(?m)^--chunk-size=2MiB +command line$`, // the command line wins over the environment
		`(?m)^--origin=http://origin\.example:9000 +env EDGECACHE_ORIGIN$`,
		`(?m)^--node-name=\S* +default$`,
		`(?m)^--advertise="" +default$`,
		`(?m)^--peers=10\.0\.0\.1:8081,10\.0\.0\.2:8081 +command line$`,
		`(?m)^cluster secret: <redacted> +30 bytes from EDGECACHE_CLUSTER_SECRET$`,
		`(?m)^memory limit: 1781504KiB +cache size \+ 1/4 \+ 256MiB \+ disk tier 208640KiB \(queues, index, I/O buffers\)$`, // 1536MiB, and two disks of 204,800 entries (512 KiB shards) of 112 bytes and 64 MiB of queue, and 32 MiB of I/O buffers
		`(?m)^--refuse-methods=CONNECT,TRACE,PATCH +command line$`,
		`(?m)^--share-set-cookie=true +command line$`,
		`(?m)^--max-body-size=64MiB +default$`,
		`(?m)^--default-ttl=0s +default$`,
		`(?m)^--disk-path=/mnt/a,/mnt/b +command line$`,
		`(?m)^--disk-size=100GiB +command line$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("the configuration does not match %s:\n%s", re, out)
		}
	}
	if strings.Contains(out+errs, envSecret) || strings.Contains(out, "--print-config") {
		t.Errorf("printed the secret or the --print-config flag itself:\n%s", out)
	}

	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCmd(t, []string{"edge", "--print-config", "--cluster-secret-file", file}, env)
	if code != 0 || strings.Contains(out+errs, fileSecret) || strings.Contains(out+errs, envSecret) ||
		!strings.Contains(out, "--cluster-secret-file="+file) || !strings.Contains(out, "31 bytes from --cluster-secret-file") {
		t.Errorf("with a secret file: exit %d\n%s%s", code, out, errs)
	}

	// During a rotation the second secret is shown as accepted, redacted.
	const accepted = "second-secret-that-must-not-print"
	if err := os.WriteFile(file, []byte(fileSecret+"\n"+accepted+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCmd(t, []string{"edge", "--print-config", "--cluster-secret-file", file}, env)
	if code != 0 || strings.Contains(out+errs, fileSecret) || strings.Contains(out+errs, accepted) ||
		!regexp.MustCompile(`(?m)^cluster secret accepted: <redacted> +33 bytes, line 2 of --cluster-secret-file`).MatchString(out) {
		t.Errorf("with two secrets: exit %d\n%s%s", code, out, errs)
	}

	// A configuration with problems is not printed: it would not start.
	if code, out, errs := runCmd(t, []string{"edge", "--print-config", "--data-shards", "300"}, nil); code != 2 || out != "" || !strings.Contains(errs, "over the codec's limit") {
		t.Errorf("--print-config of a bad configuration: exit %d\n%s%s", code, out, errs)
	}
}

func TestSecretFlagRedaction(t *testing.T) {
	for name, want := range map[string]bool{"cluster-secret": true, "api-token": true, "password": true, "cluster-secret-file": false, "origin": false} {
		if secretFlag(name) != want {
			t.Errorf("secretFlag(%q) = %v", name, !want)
		}
	}
}

// Every flag of every command shows its default and its environment twin
// in --help.
func TestHelpShowsDefaultAndEnvOfEveryFlag(t *testing.T) {
	flagLine := regexp.MustCompile(`^  --([a-z0-9-]+)$`)
	tail := regexp.MustCompile(`\(default (.*); env ([A-Z0-9_]+)\)$`)
	for name := range commands {
		code, out, errs := runCmd(t, []string{name, "--help"}, nil)
		if code != 0 || errs != "" {
			t.Errorf("%s --help: exit %d, stderr %q", name, code, errs)
			continue
		}
		lines := strings.Split(out, "\n")
		flags := 0
		for i, l := range lines {
			m := flagLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			flags++
			if i+1 >= len(lines) {
				t.Errorf("%s --help: --%s has no description", name, m[1])
				continue
			}
			tm := tail.FindStringSubmatch(lines[i+1])
			if tm == nil || tm[1] == "" || tm[2] != EnvName(m[1]) {
				t.Errorf("%s --help: --%s: %q lacks (default ...; env %s)", name, m[1], lines[i+1], EnvName(m[1]))
			}
		}
		if flags == 0 {
			t.Errorf("%s --help lists no flags:\n%s", name, out)
		}
	}
}
