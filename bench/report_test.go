package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fakeResult is a Result with every part of the schema filled in.
func fakeResult(name string, gbps float64) *Result {
	originBytes := int64(1 << 20)
	sum := Summary{
		Seconds: 10, Requests: 1000, OK: 998, Errors: 2, Bytes: int64(gbps * 1e9 / 8 * 10),
		ThroughputGbps: gbps, ThroughputMiBs: gbps * 1e9 / 8 / (1 << 20), RequestsPerSec: 100,
		Latency:       Percentiles{P50: 1, P90: 2, P99: 4, P999: 8, Max: 16, Mean: 1.5},
		TTFB:          Percentiles{P50: 0.5, P90: 1, P99: 2, P999: 4, Max: 8, Mean: 0.7},
		BytesBySource: map[string]int64{"HIT": 900, "PEER": 50, "MISS": 50, "other": 0},
		ErrorsByKind:  map[string]int64{"connect": 2},
		Origin:        &OriginSummary{Requests: 3, BodyBytes: originBytes, Offload: 0.9},
		Video:         &VideoSummary{Segments: 500, Rebuffers: 5, RebufferRatio: 0.01, StallSeconds: 1.5},
	}
	return &Result{
		Name:      name,
		Targets:   []string{"http://127.0.0.1:8080"},
		StartedAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Summary:   sum,
		Phases: []Phase{
			{Name: "before kill edge 2", StartS: 0, EndS: 5, Summary: sum},
			{Name: "after kill edge 2", StartS: 5, EndS: 10, Summary: sum},
		},
		Faults: []FaultEvent{{Name: "kill edge 2", AtS: 5}},
		Timeseries: []Sample{
			{AtS: 1, Seconds: 1, Bytes: 1e8, Requests: 100, OriginBytes: &originBytes},
			{AtS: 2, Seconds: 1, Bytes: 2e8, Requests: 110, Errors: 2},
		},
		LatencyDistribution: []Quantile{{0, 0.1}, {50, 1}, {99, 4}, {99.9, 8}, {100, 16}},
		Verification:        Verification{Mode: verifySynthetic, CheckedBytes: 1e9},
	}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Targets, cfg.Workload, cfg.Zipf, cfg.Bitrate, cfg.Seed = []string{"http://127.0.0.1:8080"}, WorkloadVideo, 0, 5e6, 3
	return cfg
}

func TestReportJSONRoundTrip(t *testing.T) {
	rep := NewReport(testConfig(), time.Date(2025, 6, 1, 12, 0, 11, 0, time.UTC), fakeResult("edgecache", 4), fakeResult("nginx", 2))
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	// The schema's names, as documented on SchemaVersion.
	var raw map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw["schema_version"] != float64(SchemaVersion) {
		t.Errorf("schema_version = %v", raw["schema_version"])
	}
	for _, key := range []string{`"throughput_gbit_s"`, `"latency_ms"`, `"ttfb_ms"`, `"p99_9"`, `"bytes_by_source"`, `"offload"`, `"rebuffer_ratio"`, `"timeseries"`, `"phases"`, `"latency_distribution"`, `"verification"`} {
		if !bytes.Contains(buf.Bytes(), []byte(key)) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	got, err := ReadJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rep) {
		t.Errorf("round trip changed the report:\n got %+v\nwant %+v", got, rep)
	}
	bad := bytes.Replace(buf.Bytes(), []byte(`"schema_version": 1`), []byte(`"schema_version": 99`), 1)
	if _, err := ReadJSON(bytes.NewReader(bad)); err == nil {
		t.Error("ReadJSON accepted another schema version")
	}
}

func TestReportHTMLHasCharts(t *testing.T) {
	rep := NewReport(testConfig(), time.Now(), fakeResult("edgecache", 4), fakeResult("nginx", 2))
	var buf bytes.Buffer
	if err := rep.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<svg"); n != 2 {
		t.Errorf("%d svg charts, want 2", n)
	}
	for _, want := range []string{"<title>Throughput over time</title>", "<title>Latency distribution</title>", "<polyline", "<circle", "kill edge 2", "nginx/edgecache", "0.50x"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained and readable without JavaScript.
	if regexp.MustCompile(`(?i)<script|<link|src=|@import`).MatchString(page) {
		t.Error("page loads something external or runs a script")
	}
}

func TestCompareTextHasRatios(t *testing.T) {
	rep := NewReport(testConfig(), time.Now(), fakeResult("edgecache", 4), fakeResult("nginx", 2))
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	header := regexp.MustCompile(`metric\s+unit\s+edgecache\s+nginx\s+nginx/edgecache`)
	if !header.MatchString(out) {
		t.Fatalf("no comparison header in:\n%s", out)
	}
	if !regexp.MustCompile(`throughput\s+Gbit/s\s+4\s+2\s+0\.50x`).MatchString(out) {
		t.Errorf("no throughput ratio in:\n%s", out)
	}
	if !strings.Contains(out, "phases") || !strings.Contains(out, "after kill edge 2") {
		t.Errorf("no phase table in:\n%s", out)
	}
}

// Compare runs the same workload against each deployment in turn.
func TestCompareRuns(t *testing.T) {
	a := startOrigin(t, &testOrigin{})
	b := startOrigin(t, &testOrigin{})
	cfg := smallConfig("")
	cfg.Requests = 20
	res, err := Compare(context.Background(), cfg, []Deployment{{"a", []string{a.URL}}, {"b", []string{b.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Name != "a" || res[1].Targets[0] != b.URL {
		t.Fatalf("results %+v", res)
	}
	// Same seed, same workload: the same bytes asked of each.
	if res[0].Summary.Bytes != res[1].Summary.Bytes || res[0].Summary.Requests != 20 {
		t.Errorf("bytes %d and %d, want equal", res[0].Summary.Bytes, res[1].Summary.Bytes)
	}
}

// Every tick label of the charts fits in the picture: x labels are
// centred on their tick, y labels end 6 pixels left of the plot. Widths
// are bounded by 0.6 em a character at the charts' 11 px font, more than
// any digit, '.' or '%' of a sans-serif font takes.
func TestChartLabelsFit(t *testing.T) {
	const perChar = 0.6 * 11
	res := fakeResult("", 1)
	for _, c := range []chart{throughputChart([]*Result{res}), latencyChart([]*Result{res})} {
		for _, tk := range c.XTicks {
			if half := float64(len(tk.Label)) * perChar / 2; tk.Pos-half < 0 || tk.Pos+half > float64(c.Width) {
				t.Errorf("%s: x label %q at %.1f overflows the %d px picture", c.Title, tk.Label, tk.Pos, c.Width)
			}
		}
		for _, tk := range c.YTicks {
			if w := float64(len(tk.Label)) * perChar; float64(c.Left-6)-w < 0 {
				t.Errorf("%s: y label %q overflows the left edge", c.Title, tk.Label)
			}
		}
	}
}
