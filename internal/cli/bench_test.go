package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/bench"
	"github.com/edgecache/edgecache/origin"
)

// benchCmd runs `edgecache bench args` with env added to the environment.
func benchCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	setenv(t, env)
	var stdout, stderr bytes.Buffer
	err := runBench(context.Background(), args, &stdout, &stderr)
	return stdout.String(), err
}

// quick are the flags of a short run on small objects.
var quick = []string{"--workload", "range", "--objects", "4", "--object-size", "1MiB", "--range-size", "100KiB",
	"--concurrency", "2", "--requests", "40", "--duration", "5s", "--log-level", "warn"}

// syntheticOrigin serves the reference origin's synthetic objects.
func syntheticOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	o, err := origin.NewServer(origin.ServerConfig{Synthetic: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return srv
}

func TestBenchHelpListsFlagsAndEnv(t *testing.T) {
	out, err := benchCmd(t, nil, "--help")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"--target", "--compare", "--local", "--kill", "--zipf", "(default 1.1; env EDGECACHE_ZIPF)", "--json", "--html", "EDGECACHE_DURATION"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestBenchUsageErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{nil, "--target"},
		{[]string{"--target", "http://127.0.0.1:1", "--zipf", "0.5"}, "--zipf"},
		{[]string{"--target", "http://127.0.0.1:1", "--bitrate", "fast"}, "-bitrate"},
		{[]string{"--target", "http://127.0.0.1:1", "--kill", "1@2s"}, "--kill"},
		{[]string{"--local", "2", "--kill", "3@1s"}, "--kill"},
		{[]string{"--target", "ftp://x"}, "--target"},
		{[]string{"--target", "http://127.0.0.1:1", "--workload", "video", "--rate", "5"}, "--rate"},
		{[]string{"--target", "http://127.0.0.1:1", "--concurrency", "0"}, "--concurrency"},
		{[]string{"--compare", "nourl"}, "-compare"},
		{[]string{"--target", "http://127.0.0.1:1", "--sustain-max", "-1"}, "--sustain-max"},
		{[]string{"--compare", "a=http://127.0.0.1:1", "--sustain-max", "10"}, "--sustain-max"},
		{[]string{"--target", "http://127.0.0.1:1", "--workload", "range", "--sustain-max", "10"}, "--bitrate"},
		{[]string{"--target", "http://127.0.0.1:1", "--workload", "video", "--bitrate", "1Mbps", "--concurrency", "20", "--sustain-max", "10"}, "--concurrency"},
		{[]string{"--target", "http://127.0.0.1:1", "--disk-size", "1GiB"}, "--disk-size"},
		{[]string{"--local", "2", "--disk-size", "lots"}, "-disk-size"},
		{[]string{"--local", "2", "--disk-size", "1MiB"}, "--disk-size"},
		{[]string{"--local", "2", "--disk-dir", os.TempDir()}, "--disk-dir"},
		{[]string{"--local", "2", "--disk-size", "64MiB", "--disk-dir", filepath.Join(os.TempDir(), "edgecache-no-such-dir")}, "--disk-dir"},
	} {
		_, err := benchCmd(t, nil, tc.args...)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(ue.msg, tc.flag) || strings.Contains(ue.msg, "\n") {
			t.Errorf("%v: err = %v, want a one-line usage error naming %s", tc.args, err, tc.flag)
		}
	}
}

func TestBenchTargetFromEnvWritesReports(t *testing.T) {
	srv := syntheticOrigin(t)
	dir := t.TempDir()
	jsonFile, htmlFile := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	env := map[string]string{"EDGECACHE_TARGET": srv.URL, "EDGECACHE_ORIGIN_STATS": srv.URL}
	out, err := benchCmd(t, env, append(quick, "--json", jsonFile, "--html", htmlFile)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "throughput") || !strings.Contains(out, "offload") {
		t.Errorf("no table in:\n%s", out)
	}
	rep := readReport(t, jsonFile)
	if s := rep.Runs[0].Summary; s.Requests != 40 || s.Errors != 0 || s.Origin == nil {
		t.Errorf("summary %+v", s)
	}
	page, err := os.ReadFile(htmlFile)
	if err != nil || !bytes.Contains(page, []byte("<svg")) {
		t.Errorf("html report: %v", err)
	}
}

func TestBenchMismatchFailsTheRun(t *testing.T) {
	o, err := origin.NewServer(origin.ServerConfig{Synthetic: true})
	if err != nil {
		t.Fatal(err)
	}
	// A cache that serves the right ranges of the wrong bytes.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.ServeHTTP(&flipWriter{ResponseWriter: w}, r)
	}))
	defer srv.Close()
	_, err = benchCmd(t, nil, append(quick, "--target", srv.URL)...)
	if !errors.Is(err, bench.ErrMismatch) {
		t.Fatalf("err = %v, want ErrMismatch", err)
	}
}

// readReport reads the JSON report bench wrote to path.
func readReport(t *testing.T, path string) *bench.Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := bench.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

type flipWriter struct{ http.ResponseWriter }

func (f *flipWriter) Write(p []byte) (int, error) {
	q := bytes.Clone(p)
	q[0] ^= 0x80
	return f.ResponseWriter.Write(q)
}

func TestBenchCompare(t *testing.T) {
	a, b := syntheticOrigin(t), syntheticOrigin(t)
	out, err := benchCmd(t, nil, append(quick, "--compare", "a="+a.URL, "--compare", "b="+b.URL)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "b/a") || !regexp.MustCompile(`Gbit/s .* \d+\.\d\dx\n`).MatchString(out) {
		t.Errorf("no ratios in:\n%s", out)
	}
}

func TestBenchLocalWithKill(t *testing.T) {
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "r.json")
	args := []string{"--local", "2", "--kill", "2@300ms", "--duration", "800ms", "--requests", "0", "--json", jsonFile}
	out, err := benchCmd(t, nil, append(quick, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	rep := readReport(t, jsonFile)
	run := rep.Runs[0]
	if len(run.Targets) != 2 || len(run.Phases) != 2 || run.Phases[1].Name != "after kill edge 2" {
		t.Fatalf("targets %v phases %+v", run.Targets, run.Phases)
	}
	if run.Summary.Origin == nil || run.Summary.Origin.BodyBytes == 0 {
		t.Errorf("origin egress unknown or zero: %+v", run.Summary.Origin)
	}
	if run.Phases[1].Summary.OK == 0 {
		t.Errorf("nothing served after the kill:\n%s", out)
	}
}

// bench --local --disk-size gives each edge a disk tier, reports the bytes
// the edges sent by tier (memory, disk, peers, origin) and the working
// set against the origin's egress, and removes the disks when it ends.
func TestBenchLocalWithDisks(t *testing.T) {
	dir := t.TempDir()
	jsonFile, htmlFile := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	args := []string{"--local", "2", "--chunk-size", "256KiB", "--cache-size", "1MiB", "--disk-size", "16MiB",
		"--disk-dir", dir, "--json", jsonFile, "--html", htmlFile}
	out, err := benchCmd(t, nil, append(slices.Clone(quick), args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "edges' tiers") || !strings.Contains(out, "working set") {
		t.Errorf("no tiers or working set in:\n%s", out)
	}
	rep := readReport(t, jsonFile)
	run := rep.Runs[0]
	// 16 chunks, a memory of fewer than 4 per edge: most reads are the
	// disk's.
	if tiers := run.Summary.Tiers; tiers == nil || tiers.Disk == 0 || tiers.Total() == 0 {
		t.Errorf("bytes by tier %+v: want the disk's among them", tiers)
	}
	if ws := run.WorkingSet; ws == nil || ws.UniqueBytes == 0 || ws.UniqueBytes > 4<<20 || ws.OriginBytes == 0 {
		t.Errorf("working set %+v: want at most the 4 MiB catalogue, and origin egress", ws)
	}
	if page, err := os.ReadFile(htmlFile); err != nil || !bytes.Contains(page, []byte("<td>edges' tiers</td><td>memory ")) {
		t.Errorf("the HTML report has no bytes by tier (%v)", err)
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 2 {
		t.Errorf("--disk-dir holds %v after the run (%v), want the reports alone", left, err)
	}
}

// bench --local keeps the edges' and the origin's logs out of what it
// prints (in --local-log when asked), and says where it wrote the reports.
func TestBenchLocalKeepsClusterLogsOutOfTheReport(t *testing.T) {
	dir := t.TempDir()
	htmlFile, logFile := filepath.Join(dir, "r.html"), filepath.Join(dir, "cluster.log")
	var stdout, stderr bytes.Buffer
	args := append(slices.Clone(quick), "--local", "2", "--log-level", "info", "--html", htmlFile, "--local-log", logFile)
	if err := runBench(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "node=") || strings.Contains(stdout.String(), "node=") {
		t.Errorf("the cluster's log lines are mixed with the report:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	logs, err := os.ReadFile(logFile)
	if err != nil || !bytes.Contains(logs, []byte(`"node":"edge 1"`)) {
		t.Errorf("--local-log %s: %v\n%s", logFile, err, logs)
	}
	if !strings.HasSuffix(stdout.String(), "HTML report written to "+htmlFile+"\n") {
		t.Errorf("the output does not end saying where the HTML report is:\n%s", stdout.String())
	}
	if _, err := os.Stat(htmlFile); err != nil {
		t.Error(err)
	}
}
