package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// SchemaVersion is the version of the JSON report. It changes when a field
// is removed or changes meaning; adding a field keeps it. Readers should
// check it before trusting any other field.
//
// Version 1 is:
//
//	{
//	  "schema_version": 1,
//	  "tool": "edgecache bench",
//	  "generated_at": RFC 3339 time,
//	  "config": RunConfig (workload, sizes, load model, bounds, seed),
//	  "runs": [Result, ...]   one per deployment; one for a single run
//	}
//
// A Result has name, targets, started_at, summary (Summary), phases
// ([{name, start_s, end_s, summary}], split at faults), faults
// ([{name, at_s, error}]), timeseries ([{at_s, seconds, bytes, requests,
// errors, origin_bytes}], one per second), latency_distribution
// ([{percentile, latency_ms}]), verification and working_set
// ({unique_bytes, origin_bytes, egress_ratio}: the whole run, warmup
// included; absent when the origin's counters are unknown). A Summary has
// seconds, requests, ok, errors, bytes, throughput_gbit_s,
// throughput_mib_s, requests_per_s, latency_ms and ttfb_ms ({p50, p90,
// p99, p99_9, max, mean}), bytes_by_source ({HIT, PEER, MISS, other}),
// errors_by_kind, origin ({requests, body_bytes, offload}, absent when
// unknown), tiers ({memory, disk, peer, origin}: the edges' own counts,
// absent but for --local) and video ({segments, rebuffers,
// rebuffer_ratio, stall_s}, paced video only).
// Units are in the field names: _s seconds, _ms milliseconds, bytes.
const SchemaVersion = 1

// Report is what a run or a comparison produced, in the form written as
// JSON (WriteJSON), text (WriteText) and HTML (WriteHTML).
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Tool          string    `json:"tool"`
	GeneratedAt   time.Time `json:"generated_at"`
	Config        RunConfig `json:"config"`
	Runs          []*Result `json:"runs"`
	// Sustain is the capacity search, when one ran; Runs then holds its
	// best step.
	Sustain *SustainResult `json:"sustain,omitempty"`
}

// RunConfig is the part of a Config that says what was measured; every run
// of a report shares it.
type RunConfig struct {
	Workload        string  `json:"workload"`
	Catalogue       string  `json:"catalogue"` // "synthetic" or "paths"
	Objects         int     `json:"objects"`
	ObjectSize      int64   `json:"object_size"`
	SegmentSize     int64   `json:"segment_size"`
	RangeSize       int64   `json:"range_size"`
	Zipf            float64 `json:"zipf"`
	BitrateBps      int64   `json:"bitrate_bps"`
	StartupSegments int     `json:"startup_segments"`
	BufferSegments  int     `json:"buffer_segments"`
	LoadModel       string  `json:"load_model"` // "closed" or "open"
	Concurrency     int     `json:"concurrency"`
	RatePerS        float64 `json:"rate_per_s"`
	DurationS       float64 `json:"duration_s"`
	WarmupS         float64 `json:"warmup_s"`
	Requests        int64   `json:"requests"`
	TimeoutS        float64 `json:"timeout_s"`
	Seed            uint64  `json:"seed"`
}

// NewReport gathers results of runs of cfg. The first result is the
// baseline of the ratios of a comparison.
func NewReport(cfg Config, now time.Time, results ...*Result) *Report {
	c := cfg
	rc := RunConfig{
		Workload:    string(c.Workload),
		Catalogue:   "synthetic",
		Objects:     c.Objects,
		ObjectSize:  c.ObjectSize,
		SegmentSize: c.SegmentSize, RangeSize: c.RangeSize,
		Zipf: c.Zipf, BitrateBps: c.Bitrate,
		StartupSegments: c.StartupSegments, BufferSegments: c.BufferSegments,
		LoadModel: "closed", Concurrency: c.Concurrency, RatePerS: c.Rate,
		DurationS: c.Duration.Seconds(), WarmupS: c.Warmup.Seconds(),
		Requests: c.Requests, TimeoutS: c.Timeout.Seconds(), Seed: c.Seed,
	}
	if len(c.Catalogue) > 0 {
		rc.Catalogue, rc.Objects, rc.ObjectSize = "paths", len(c.Catalogue), 0
	}
	if c.Rate > 0 {
		rc.LoadModel = "open"
	}
	return &Report{SchemaVersion: SchemaVersion, Tool: "edgecache bench", GeneratedAt: now.UTC(), Config: rc, Runs: results}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a report written by WriteJSON, refusing other schema
// versions.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, err
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("report schema version %d, want %d", r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// describe is the one-line description of what was measured.
func (c RunConfig) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s workload", c.Workload)
	if c.LoadModel == "open" {
		fmt.Fprintf(&b, ", open loop at %g req/s (at most %d in flight)", c.RatePerS, c.Concurrency)
	} else if c.Workload == string(WorkloadVideo) {
		fmt.Fprintf(&b, ", %d viewers", c.Concurrency)
	} else {
		fmt.Fprintf(&b, ", closed loop with %d workers", c.Concurrency)
	}
	if c.Catalogue == "synthetic" {
		fmt.Fprintf(&b, ", %d objects of %s", c.Objects, bytesStr(c.ObjectSize))
	} else {
		fmt.Fprintf(&b, ", %d listed objects", c.Objects)
	}
	switch c.Workload {
	case string(WorkloadVideo):
		fmt.Fprintf(&b, ", segments of %s", bytesStr(c.SegmentSize))
		if c.BitrateBps > 0 {
			fmt.Fprintf(&b, " at %s", bitrateStr(c.BitrateBps))
		}
	case string(WorkloadRange):
		fmt.Fprintf(&b, ", ranges of %s", bytesStr(c.RangeSize))
	}
	if c.Zipf == 0 {
		b.WriteString(", uniform popularity")
	} else {
		fmt.Fprintf(&b, ", zipf %g", c.Zipf)
	}
	fmt.Fprintf(&b, ", %gs", c.DurationS)
	if c.WarmupS > 0 {
		fmt.Fprintf(&b, " after %gs warmup", c.WarmupS)
	}
	fmt.Fprintf(&b, ", seed %d", c.Seed)
	return b.String()
}

// WriteText writes the final table: a single run in detail, or several
// deployments side by side with their ratios to the first.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "edgecache bench: %s\n", r.Config.describe())
	if len(r.Runs) > 1 {
		if err := r.writeCompare(w); err != nil {
			return err
		}
	}
	for _, res := range r.Runs {
		if err := writeRun(w, res, len(r.Runs) > 1); err != nil {
			return err
		}
	}
	if r.Sustain != nil && len(r.Sustain.Steps) > 0 {
		return r.Sustain.WriteText(w, r.Config.BitrateBps)
	}
	return nil
}

func writeRun(w io.Writer, res *Result, named bool) error {
	fmt.Fprintln(w)
	if named {
		fmt.Fprintf(w, "== %s\n", res.Name)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	s := res.Summary
	fmt.Fprintf(tw, "targets\t%s\n", strings.Join(res.Targets, ", "))
	fmt.Fprintf(tw, "throughput\t%.3f Gbit/s\t%.1f MiB/s\n", s.ThroughputGbps, s.ThroughputMiBs)
	fmt.Fprintf(tw, "requests\t%d in %.1fs\t%.1f req/s\t%d errors\n", s.Requests, s.Seconds, s.RequestsPerSec, s.Errors)
	fmt.Fprintf(tw, "\tp50\tp90\tp99\tp99.9\tmax\n")
	fmt.Fprintf(tw, "latency ms\t%s\n", pctRow(s.Latency))
	fmt.Fprintf(tw, "ttfb ms\t%s\n", pctRow(s.TTFB))
	fmt.Fprintf(tw, "bytes by source\t%s\n", sourceRow(s))
	if s.Tiers != nil {
		fmt.Fprintf(tw, "edges' tiers\t%s\n", tiersRow(s.Tiers))
	}
	fmt.Fprintf(tw, "origin\t%s\n", originRow(s.Origin))
	if res.WorkingSet != nil {
		fmt.Fprintf(tw, "working set\t%s\n", workingSetRow(res.WorkingSet))
	}
	fmt.Fprintf(tw, "errors\t%s\n", errorsRow(s.ErrorsByKind))
	if s.Failovers > 0 {
		fmt.Fprintf(tw, "failovers\t%d requests moved to the next node, their own giving no response\n", s.Failovers)
	}
	if v := s.Video; v != nil {
		fmt.Fprintf(tw, "rebuffers\t%d of %d segments (%.2f%%)\tstalled %.1fs\n", v.Rebuffers, v.Segments, 100*v.RebufferRatio, v.StallSeconds)
	}
	vf := res.Verification
	fmt.Fprintf(tw, "verification\t%s: %s checked, %d mismatches", vf.Mode, bytesStr(vf.CheckedBytes), vf.Mismatches)
	if vf.Mode == verifySampled {
		fmt.Fprintf(tw, ", %d sampled, %d dropped, %d reference errors", vf.Sampled, vf.Dropped, vf.ReferenceErrors)
	}
	if vf.Unsent > 0 {
		fmt.Fprintf(tw, "; %d due requests never sent", vf.Unsent)
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.Faults) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nphases")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "phase\tfrom s\tto s\tGbit/s\treq/s\terrors\tp50 ms\tp99 ms\tp99.9 ms\torigin bytes\toffload\trebuffers\t\n")
	for _, p := range res.Phases {
		ps := p.Summary
		ob, off := "-", "-"
		if ps.Origin != nil {
			ob, off = bytesStr(ps.Origin.BodyBytes), fmt.Sprintf("%.1f%%", 100*ps.Origin.Offload)
		}
		rb := "-"
		if ps.Video != nil {
			rb = fmt.Sprint(ps.Video.Rebuffers)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.3f\t%.1f\t%d\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t\n", p.Name, p.StartS, p.EndS,
			ps.ThroughputGbps, ps.RequestsPerSec, ps.Errors, ps.Latency.P50, ps.Latency.P99, ps.Latency.P999, ob, off, rb)
	}
	for _, f := range res.Faults {
		if f.Error != "" {
			fmt.Fprintf(tw, "fault %s at %.1fs failed: %s\n", f.Name, f.AtS, f.Error)
		}
	}
	return tw.Flush()
}

// metric is one row of a comparison.
type metric struct {
	name string
	get  func(*Result) (float64, bool) // false: unknown
	unit string
}

func known(v float64) (float64, bool) { return v, true }

var compareMetrics = []metric{
	{"throughput", func(r *Result) (float64, bool) { return known(r.Summary.ThroughputGbps) }, "Gbit/s"},
	{"throughput", func(r *Result) (float64, bool) { return known(r.Summary.ThroughputMiBs) }, "MiB/s"},
	{"requests", func(r *Result) (float64, bool) { return known(r.Summary.RequestsPerSec) }, "req/s"},
	{"latency p50", func(r *Result) (float64, bool) { return known(r.Summary.Latency.P50) }, "ms"},
	{"latency p90", func(r *Result) (float64, bool) { return known(r.Summary.Latency.P90) }, "ms"},
	{"latency p99", func(r *Result) (float64, bool) { return known(r.Summary.Latency.P99) }, "ms"},
	{"latency p99.9", func(r *Result) (float64, bool) { return known(r.Summary.Latency.P999) }, "ms"},
	{"ttfb p50", func(r *Result) (float64, bool) { return known(r.Summary.TTFB.P50) }, "ms"},
	{"ttfb p99", func(r *Result) (float64, bool) { return known(r.Summary.TTFB.P99) }, "ms"},
	{"errors", func(r *Result) (float64, bool) { return known(float64(r.Summary.Errors)) }, ""},
	{"origin egress", func(r *Result) (float64, bool) {
		if r.Summary.Origin == nil {
			return 0, false
		}
		return float64(r.Summary.Origin.BodyBytes) / (1 << 20), true
	}, "MiB"},
	{"origin offload", func(r *Result) (float64, bool) {
		if r.Summary.Origin == nil {
			return 0, false
		}
		return 100 * r.Summary.Origin.Offload, true
	}, "%"},
	{"rebuffer ratio", func(r *Result) (float64, bool) {
		if r.Summary.Video == nil {
			return 0, false
		}
		return 100 * r.Summary.Video.RebufferRatio, true
	}, "%"},
}

// writeCompare prints one column per deployment and, for each deployment
// after the first, its ratio to the first.
func (r *Report) writeCompare(w io.Writer) error {
	t := compareRows(r.Runs)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\tunit\t%s\t%s\t\n", strings.Join(t.Names, "\t"), strings.Join(t.Ratios, "\t"))
	for _, row := range t.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", row.Metric, row.Unit, strings.Join(row.Values, "\t"), strings.Join(row.Ratio, "\t"))
	}
	return tw.Flush()
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func pctRow(p Percentiles) string {
	return fmt.Sprintf("%.2f\t%.2f\t%.2f\t%.2f\t%.2f", p.P50, p.P90, p.P99, p.P999, p.Max)
}

func sourceRow(s Summary) string {
	var total int64
	for _, n := range s.BytesBySource {
		total += n
	}
	var parts []string
	for _, name := range sourceNames[1:] {
		parts = append(parts, sourcePart(name, s.BytesBySource[name], total))
	}
	parts = append(parts, sourcePart("other", s.BytesBySource["other"], total))
	return strings.Join(parts, "  ")
}

func sourcePart(name string, n, total int64) string {
	if total == 0 {
		return name + " 0"
	}
	return fmt.Sprintf("%s %s (%.1f%%)", name, bytesStr(n), 100*float64(n)/float64(total))
}

// tiersRow splits the edges' bytes by where they found them.
func tiersRow(t *TierBytes) string {
	total := t.Total()
	return strings.Join([]string{sourcePart("memory", t.Memory, total), sourcePart("disk", t.Disk, total),
		sourcePart("peers", t.Peer, total), sourcePart("origin", t.Origin, total)}, "  ")
}

// workingSetRow sets the unique bytes asked for against the origin's
// egress over the whole run.
func workingSetRow(ws *WorkingSet) string {
	return fmt.Sprintf("%s unique asked, warmup included; the origin sent %s, %.2fx", bytesStr(ws.UniqueBytes), bytesStr(ws.OriginBytes), ws.EgressRatio)
}

func originRow(o *OriginSummary) string {
	if o == nil {
		return "unknown (give --origin-stats)"
	}
	return fmt.Sprintf("%d requests, %s; offload %.1f%%", o.Requests, bytesStr(o.BodyBytes), 100*o.Offload)
}

func errorsRow(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for k := errNone + 1; k < numErrKinds; k++ {
		if n := m[k.String()]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

// bytesStr prints a byte count in binary units.
func bytesStr(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n), 0
	for v >= unit && u < 4 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[u-1])
}

// bitrateStr prints bits per second in decimal units, as bitrates are.
func bitrateStr(bps int64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%g Gbps", float64(bps)/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%g Mbps", float64(bps)/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%g kbps", float64(bps)/1e3)
	}
	return fmt.Sprintf("%d bps", bps)
}
