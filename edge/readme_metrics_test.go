package edge_test

// The README's metrics table against what an edge registers: operators
// build alerts and dashboards from that table, so a metric without a row
// is invisible to them and a row without a metric is an alert that never
// fires. Only the package's exported API is used, so that the test holds
// whatever the package's insides look like.

import (
	"bufio"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/edge"
)

// readmeMetric is one row of the README's metrics table.
type readmeMetric struct {
	kind   string   // counter, gauge or histogram
	labels []string // sorted
}

var (
	metricRow  = regexp.MustCompile("^\\|\\s*`(edgecache_[a-z0-9_]+)`\\s*\\|([^|]*)\\|([^|]*)\\|")
	labelNames = regexp.MustCompile("`([a-z_][a-z0-9_]*)`")
)

// readmeMetrics parses the metrics table of the README: every table row
// whose first cell is a metric name in backquotes, with its type and the
// label names (in backquotes) of its labels cell.
func readmeMetrics(t *testing.T, path string) map[string]readmeMetric {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]readmeMetric{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		m := metricRow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if _, dup := rows[m[1]]; dup {
			t.Errorf("%s:%d: %s has a second row", path, line, m[1])
		}
		var labels []string
		for _, l := range labelNames.FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, l[1])
		}
		slices.Sort(labels)
		rows[m[1]] = readmeMetric{kind: strings.TrimSpace(m[2]), labels: labels}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// registeredMetrics starts an edge with a registry of the test's own and
// reads back every metric family it registered, with its type and label
// names. Every series exists from the start, so nothing needs to be served.
func registeredMetrics(t *testing.T) map[string]readmeMetric {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := edge.DefaultConfig()
	cfg.Origin = "http://127.0.0.1:1" // never asked: the node does not run
	cfg.Listen, cfg.PeerListen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Registerer, cfg.Gatherer = reg, reg
	// With a disk tier, so that its series (one per path) exist.
	cfg.DiskPaths, cfg.DiskSize = []string{t.TempDir()}, edge.MinDiskSize(cfg.ChunkSize, cfg.DiskChunkShare)
	n, err := edge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]readmeMetric{}
	for _, mf := range families {
		var labels []string
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		slices.Sort(labels)
		got[mf.GetName()] = readmeMetric{kind: strings.ToLower(mf.GetType().String()), labels: labels}
	}
	return got
}

func TestReadmeMetricsTableMatchesRegistry(t *testing.T) {
	const readme = "../README.md"
	rows := readmeMetrics(t, readme)
	if len(rows) == 0 {
		t.Fatalf("%s: no metrics table found (rows look like \"| `edgecache_…` | type | labels | … |\")", readme)
	}
	registered := registeredMetrics(t)
	for _, name := range slices.Sorted(maps.Keys(registered)) {
		want := registered[name]
		row, ok := rows[name]
		if !ok {
			t.Errorf("%s is registered by the edge but has no row in %s's metrics table", name, readme)
			continue
		}
		if row.kind != want.kind {
			t.Errorf("%s: the README says %q, the edge registers a %s", name, row.kind, want.kind)
		}
		if !slices.Equal(row.labels, want.labels) {
			t.Errorf("%s: the README lists labels %q, the edge's are %q", name, row.labels, want.labels)
		}
	}
	for name := range rows {
		if _, ok := registered[name]; !ok {
			t.Errorf("%s's metrics table lists %s, which the edge does not register", readme, name)
		}
	}
}
