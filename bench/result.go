package bench

import (
	"errors"
	"fmt"
	"time"
)

// ErrMismatch is wrapped by the error Run returns when any response's bytes
// differed from the origin's: the deployment served wrong content, which no
// throughput figure makes up for.
var ErrMismatch = errors.New("verification mismatch")

// Result is one run against one deployment. It is also the element of the
// "runs" array of the JSON report (see Report), so its field names and
// units are part of the versioned schema.
type Result struct {
	// Name labels the deployment in a comparison ("" for a single run).
	Name string `json:"name"`
	// Targets are the base URLs the run was pointed at.
	Targets []string `json:"targets"`
	// StartedAt is when measurement (after warmup) began.
	StartedAt time.Time `json:"started_at"`
	// Summary covers the whole measured run.
	Summary Summary `json:"summary"`
	// Phases split the run at each fault; a run without faults has one.
	Phases []Phase `json:"phases"`
	// Faults are the faults injected, in order.
	Faults []FaultEvent `json:"faults"`
	// Timeseries has one sample per second of the measured run.
	Timeseries []Sample `json:"timeseries"`
	// LatencyDistribution is the latency at fixed percentiles, for plots.
	LatencyDistribution []Quantile `json:"latency_distribution"`
	// Verification says how bodies were checked and what was found.
	Verification Verification `json:"verification"`
	// WorkingSet is what the run asked for against the origin's egress,
	// warmup included; nil when the origin's counters are unknown.
	WorkingSet *WorkingSet `json:"working_set,omitempty"`
}

// Summary is the totals and percentiles of a run or of one of its phases.
type Summary struct {
	Seconds        float64 `json:"seconds"`
	Requests       int64   `json:"requests"`
	OK             int64   `json:"ok"`
	Errors         int64   `json:"errors"`
	Bytes          int64   `json:"bytes"`
	ThroughputGbps float64 `json:"throughput_gbit_s"`
	ThroughputMiBs float64 `json:"throughput_mib_s"`
	RequestsPerSec float64 `json:"requests_per_s"`
	// Latency runs from the send time (the intended send time in open
	// loop) to the last body byte; TTFB to the response headers. Failed
	// requests count in Latency, not in TTFB.
	Latency Percentiles `json:"latency_ms"`
	TTFB    Percentiles `json:"ttfb_ms"`
	// BytesBySource splits the body bytes of successful responses by the
	// X-Cache header: HIT, PEER, MISS, other.
	BytesBySource map[string]int64 `json:"bytes_by_source"`
	// ErrorsByKind counts failed requests: status_3xx, status_4xx,
	// status_5xx, connect, closed (before the response), timeout,
	// short_body, bad_range, verify_mismatch, other. Kinds with no error
	// are omitted.
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	// Failovers counts requests that got no response from their target
	// (the connection refused, or closed before a response byte) and went
	// to the next target, as a player moves off a node that is down; they
	// are errors (connect, closed) only if every target failed them.
	Failovers int64 `json:"failovers"`
	// Origin is nil when the origin's counters were not available.
	Origin *OriginSummary `json:"origin,omitempty"`
	// Tiers are the bytes the deployment's edges sent while measured, by
	// where they found them, as the edges count them (Config.Tiers); nil
	// when unknown. The edges count a response's bytes when it ends.
	Tiers *TierBytes `json:"tiers,omitempty"`
	// Video is set for paced video runs.
	Video *VideoSummary `json:"video,omitempty"`
}

// Percentiles are in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// OriginSummary is what the origin served while the run was measured.
type OriginSummary struct {
	Requests  int64 `json:"requests"`
	BodyBytes int64 `json:"body_bytes"`
	// Offload is 1 - origin body bytes / body bytes served to the bench:
	// the share of the traffic the deployment kept off the origin.
	Offload float64 `json:"offload"`
}

// VideoSummary is the playback quality of paced viewers.
type VideoSummary struct {
	Segments int64 `json:"segments"`
	// Rebuffers counts segments that arrived after they were due to play.
	Rebuffers int64 `json:"rebuffers"`
	// RebufferRatio is Rebuffers / Segments.
	RebufferRatio float64 `json:"rebuffer_ratio"`
	// StallSeconds is the playback time lost waiting, over all viewers.
	StallSeconds float64 `json:"stall_s"`
}

// Phase is the part of a run between two faults.
type Phase struct {
	Name    string  `json:"name"`
	StartS  float64 `json:"start_s"`
	EndS    float64 `json:"end_s"`
	Summary Summary `json:"summary"`
}

// FaultEvent is a fault as it happened.
type FaultEvent struct {
	Name  string  `json:"name"`
	AtS   float64 `json:"at_s"`
	Error string  `json:"error,omitempty"`
}

// Sample is one interval (normally one second) of the time series.
type Sample struct {
	// AtS is the end of the interval, in seconds since measurement began.
	AtS      float64 `json:"at_s"`
	Seconds  float64 `json:"seconds"`
	Bytes    int64   `json:"bytes"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	// OriginBytes is the origin's body bytes in the interval; nil unknown.
	OriginBytes *int64 `json:"origin_bytes,omitempty"`
}

// Gbps is the sample's throughput in Gbit/s.
func (s Sample) Gbps() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.Bytes) * 8 / s.Seconds / 1e9
}

// originGbps is the origin's egress in the sample in Gbit/s; 0 unknown.
func (s Sample) originGbps() float64 {
	if s.OriginBytes == nil || s.Seconds <= 0 {
		return 0
	}
	return float64(*s.OriginBytes) * 8 / s.Seconds / 1e9
}

// Quantile is one point of the latency distribution.
type Quantile struct {
	Percentile float64 `json:"percentile"`
	LatencyMs  float64 `json:"latency_ms"`
}

// Verification reports how bodies were checked.
type Verification struct {
	// Mode is "synthetic" (every byte), "sampled" (hashes of a sample of
	// responses against a reference origin; synthetic objects still every
	// byte) or "length" (lengths and ranges only).
	Mode         string `json:"mode"`
	CheckedBytes int64  `json:"checked_bytes"`
	Mismatches   int64  `json:"mismatches"`
	// Sampled, Dropped and ReferenceErrors count reference checks done,
	// skipped because the checker fell behind, and failed to fetch.
	Sampled         int64 `json:"sampled"`
	Dropped         int64 `json:"dropped"`
	ReferenceErrors int64 `json:"reference_errors"`
	// Unsent counts open-loop requests that were due but never sent
	// because the run ended first; they are not in the latency figures,
	// and a large count means the deployment fell far behind the rate.
	Unsent int64 `json:"unsent"`
}

// Err returns an error wrapping ErrMismatch when any response was wrong.
func (r *Result) Err() error {
	if r.Verification.Mismatches > 0 {
		return fmt.Errorf("%s: %d responses differed from the origin: %w", r.label(), r.Verification.Mismatches, ErrMismatch)
	}
	return nil
}

func (r *Result) label() string {
	if r.Name != "" {
		return r.Name
	}
	return "run"
}

// reportedPercentiles are the points of Result.LatencyDistribution.
var reportedPercentiles = []float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// summarize turns a tally over seconds into its Summary, with what the
// counters read over the same time (d: each part nil when unknown); video
// tells whether rebuffers were accounted.
func summarize(t *tally, seconds float64, d reading, video bool) Summary {
	origin := d.origin
	s := Summary{
		Seconds:       seconds,
		Requests:      t.requests,
		OK:            t.ok,
		Errors:        t.failed(),
		Failovers:     t.failovers,
		Bytes:         t.bytes,
		Latency:       percentiles(t.latency),
		TTFB:          percentiles(t.ttfb),
		BytesBySource: map[string]int64{},
		ErrorsByKind:  map[string]int64{},
	}
	if seconds > 0 {
		s.ThroughputGbps = float64(t.bytes) * 8 / seconds / 1e9
		s.ThroughputMiBs = float64(t.bytes) / seconds / (1 << 20)
		s.RequestsPerSec = float64(t.requests) / seconds
	}
	var served int64
	for i, n := range t.bySource {
		s.BytesBySource[sourceNames[i]] = n
		served += n
	}
	for k := errNone + 1; k < numErrKinds; k++ {
		if n := t.errors[k]; n != 0 {
			s.ErrorsByKind[k.String()] = n
		}
	}
	if origin != nil {
		o := &OriginSummary{Requests: origin.Requests, BodyBytes: origin.BodyBytes}
		if served > 0 {
			o.Offload = 1 - float64(origin.BodyBytes)/float64(served)
		}
		s.Origin = o
	}
	s.Tiers = d.tiers
	if video {
		v := &VideoSummary{Segments: t.segments, Rebuffers: t.rebuffers, StallSeconds: t.stall.Seconds()}
		if t.segments > 0 {
			v.RebufferRatio = float64(t.rebuffers) / float64(t.segments)
		}
		s.Video = v
	}
	return s
}
