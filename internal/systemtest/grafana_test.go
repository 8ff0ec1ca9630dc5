package systemtest

// The Grafana dashboard in k8s/ against the binary it charts: it parses,
// every panel queries something, and every metric and label its queries
// name is one a real edge exports.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/localcluster"
	"github.com/edgecache/edgecache/internal/localcluster/clustertest"
	"github.com/edgecache/edgecache/internal/testutil"
	"github.com/edgecache/edgecache/origin"
)

// grafanaPanel is the part of a Grafana panel the test reads.
type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	Targets    []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

type grafanaDashboard struct {
	Title      string         `json:"title"`
	UID        string         `json:"uid"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// series is what an edge's /metrics exports: for each sample name (a
// histogram's _bucket, _sum and _count apart), its label sets.
type series map[string][]map[string]string

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func scrapeSeries(t *testing.T, url string, into series) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d", url, res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := sampleLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[p[1]] = p[2]
		}
		into[m[1]] = append(into[m[1]], labels)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// ringSeries runs a ring of two edges, each with a disk tier, through a
// small workload (misses, hits, chunks rebuilt from the other edge's
// shards, a 404) and returns what their /metrics export.
func ringSeries(t *testing.T) series {
	t.Helper()
	cluster := clustertest.Start(t, localcluster.Config{
		Edges:  2,
		Origin: origin.ServerConfig{Synthetic: true},
		Edge: func(_ int, cfg *edge.Config) {
			cfg.CacheSize, cfg.ChunkSize = 32<<20, 64<<10
			cfg.DiskPaths, cfg.DiskSize = []string{t.TempDir()}, edge.MinDiskSize(cfg.ChunkSize, cfg.DiskChunkShare)
		},
	})
	path := origin.SyntheticPath(300<<10, "dash.mp4")
	for _, target := range append(cluster.Targets(), cluster.Targets()...) {
		for _, p := range []string{path, "/not-synthetic.mp4"} {
			testutil.Get(t, target+p, "bytes=1000-200000")
		}
	}
	exported := series{}
	for _, n := range cluster.Nodes() {
		scrapeSeries(t, "http://"+n.AdminAddr()+"/metrics", exported)
	}
	return exported
}

// PromQL parts that are not metric names.
var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promSelector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	promMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	// Matchers, ranges, variables and numbers (1e3 would look like e3).
	promNoise    = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]|\$[a-zA-Z_]+|\b[0-9][0-9.]*(?:[eE][+-]?[0-9]+)?\b`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
	// Labels Prometheus adds when it scrapes: no edge exports them.
	targetLabels = map[string]bool{"instance": true, "job": true}
)

// checkExpr reports what in a PromQL expression no edge exports: metric
// names, label names in selectors and groupings, and label values that
// selectors ask for with =.
func checkExpr(expr string, exported series) []string {
	var problems []string
	var names []string
	// Selectors first: each names a metric and the labels it needs.
	for _, sel := range promSelector.FindAllStringSubmatch(expr, -1) {
		name := sel[1]
		for _, m := range promMatcher.FindAllStringSubmatch(sel[2], -1) {
			label, op := m[1], m[2]
			var value string
			if err := json.Unmarshal([]byte(m[3]), &value); err != nil {
				problems = append(problems, fmt.Sprintf("bad matcher %s", m[0]))
				continue
			}
			if targetLabels[label] {
				continue
			}
			found := false
			for _, ls := range exported[name] {
				if v, ok := ls[label]; ok && (op != "=" || v == value) {
					found = true
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("%s has no series with %s%s%q", name, label, op, value))
			}
		}
	}
	// Without strings, matchers, ranges and groupings, what is left is
	// functions (an identifier and a parenthesis), keywords, numbers and
	// metric names.
	bare := promString.ReplaceAllString(expr, `""`)
	bare = promNoise.ReplaceAllString(bare, " ")
	var grouped []string
	for _, g := range promGrouping.FindAllStringSubmatch(bare, -1) {
		for l := range strings.SplitSeq(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				grouped = append(grouped, l)
			}
		}
	}
	bare = promGrouping.ReplaceAllString(bare, " ")
	for _, id := range promIdent.FindAllStringSubmatch(bare, -1) {
		if id[1] != "" || promKeywords[strings.ToLower(id[0])] {
			continue
		}
		names = append(names, id[0])
		if _, ok := exported[id[0]]; !ok {
			problems = append(problems, fmt.Sprintf("no edge exports %s", id[0]))
		}
	}
	if len(names) == 0 {
		problems = append(problems, "no metric")
	}
	// A grouping label must exist on some metric of the expression.
	for _, l := range grouped {
		found := targetLabels[l]
		for _, n := range names {
			for _, ls := range exported[n] {
				if _, ok := ls[l]; ok {
					found = true
				}
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("no metric of the expression has the label %s", l))
		}
	}
	return problems
}

func flattenPanels(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flattenPanels(p.Panels)...)
	}
	return out
}

func TestGrafanaDashboardMatchesMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(k8sDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("the dashboard does not parse: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("the dashboard needs a title and a uid (%q, %q) to be provisioned", dash.Title, dash.UID)
	}

	exported := ringSeries(t)
	seenIDs := map[int]bool{}
	queries := 0
	for _, p := range flattenPanels(dash.Panels) {
		if seenIDs[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		seenIDs[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		if p.Datasource["uid"] != "${datasource}" {
			t.Errorf("panel %q does not use the dashboard's data source variable: %v", p.Title, p.Datasource)
		}
		for _, target := range p.Targets {
			queries++
			for _, problem := range checkExpr(target.Expr, exported) {
				t.Errorf("panel %q: %s\n  in %s", p.Title, problem, target.Expr)
			}
		}
	}
	for _, v := range dash.Templating.List {
		if m := regexp.MustCompile(`label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)`).FindStringSubmatch(v.Definition); m != nil {
			if _, ok := exported[m[1]]; !ok {
				t.Errorf("variable %s lists the values of %s, which no edge exports", v.Name, m[1])
			}
		}
	}
	if queries < 20 {
		t.Errorf("only %d queries found: is the dashboard's structure still what this test reads?", queries)
	}
}

// The expression checker finds what it must: without this, a checker
// that accepts everything would pass the dashboard.
func TestCheckExprFindsProblems(t *testing.T) {
	exported := series{
		"edgecache_served_bytes_total":         {{"source": "hit"}, {"source": "origin"}},
		"edgecache_client_ttfb_seconds_bucket": {{"cache": "hit", "le": "0.001"}},
	}
	for expr, want := range map[string]string{
		`sum(rate(edgecache_served_bytes_total{instance=~"$instance"}[5m]))`:                                      "",
		`histogram_quantile(0.99, sum by (le, cache) (rate(edgecache_client_ttfb_seconds_bucket[5m])))`:           "",
		`sum(rate(edgecache_served_bytes_total{source="hit"}[5m])) / sum(rate(edgecache_served_bytes_total[5m]))`: "",
		`sum(rate(edgecache_served_bytes[5m]))`:                                                                   "no edge exports edgecache_served_bytes",
		`sum(rate(edgecache_served_bytes_total{source="peer"}[5m]))`:                                              `no series with source="peer"`,
		`sum(rate(edgecache_served_bytes_total{kind="x"}[5m]))`:                                                   `no series with kind="x"`,
		`sum by (kind) (rate(edgecache_served_bytes_total[5m]))`:                                                  "has the label kind",
		`max(edgecache_ring_members) or vector(0)`:                                                                "no edge exports edgecache_ring_members",
		`sum(rate(edgecache_served_bytes_total[5m])) and on (source) edgecache_origin_bytes_total`:                "no edge exports edgecache_origin_bytes_total",
		`sum(rate(edgecache_served_bytes_total[5m])) * 1e3`:                                                       "",
		`vector(1)`: "no metric",
	} {
		got := strings.Join(checkExpr(expr, exported), "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("checkExpr(%s) = %q, want %q", expr, got, want)
		}
	}
}
