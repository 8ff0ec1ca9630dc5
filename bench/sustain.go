package bench

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

// SustainThreshold is the share of segments that may rebuffer (or fail) in
// a step that counts as sustained: the industry's usual bar for a stream
// that plays smoothly.
const SustainThreshold = 0.01

// maxSustainSteps bounds a search: doubling from 1 to 10^5 viewers and
// bisecting to 10% takes about 20 runs; no search should run longer.
const maxSustainSteps = 24

// SustainStep is one run of a capacity search.
type SustainStep struct {
	Viewers int `json:"viewers"`
	// RebufferRatio counts failed segments as rebuffered: a player that
	// got an error stalls too.
	RebufferRatio float64 `json:"rebuffer_ratio"`
	Errors        int64   `json:"errors"`
	Sustained     bool    `json:"sustained"`
	Result        *Result `json:"-"`
}

// SustainResult is the answer to "how many viewers does this deployment
// carry": the most viewers a step sustained (0 if none did), and every step.
type SustainResult struct {
	Viewers int           `json:"viewers"`
	Max     int           `json:"max_viewers"`
	Steps   []SustainStep `json:"steps"`
	// Best is the run at Viewers (or the first step, if none sustained),
	// for the full report.
	Best *Result `json:"-"`
}

// Sustain searches for the most concurrent viewers cfg's deployment
// sustains with under SustainThreshold of segments rebuffered: it runs the
// paced video workload (Workload video, Bitrate set) with cfg.Concurrency
// viewers, doubles while they are sustained, up to most, then bisects
// between the last sustained count and the first that was not, to within
// 10%. Each step is a whole run (warmup, duration, same seed), so caches
// stay warm from one step to the next, as they would under growing load.
func Sustain(ctx context.Context, cfg Config, most int) (*SustainResult, error) {
	if cfg.Workload != WorkloadVideo || cfg.Bitrate <= 0 {
		return nil, &ConfigError{Field: "Bitrate", Msg: "a capacity search needs the video workload paced at a bitrate"}
	}
	if cfg.Concurrency < 1 || most < cfg.Concurrency {
		return nil, &ConfigError{Field: "Concurrency", Msg: fmt.Sprintf("the search starts at %d viewers and may go up to %d: give a start of at least 1, at most the maximum", cfg.Concurrency, most)}
	}
	res := &SustainResult{Max: most}
	var runErr error
	res.Viewers = sustainSearch(cfg.Concurrency, most, func(v int) bool {
		if runErr != nil || ctx.Err() != nil {
			return false
		}
		c := cfg
		c.Concurrency = v
		r, err := Run(ctx, c)
		if r == nil {
			runErr = err
			return false
		}
		step := SustainStep{Viewers: v, Errors: r.Summary.Errors, Result: r}
		if vs := r.Summary.Video; vs != nil && vs.Segments+r.Summary.Errors > 0 {
			step.RebufferRatio = float64(vs.Rebuffers+r.Summary.Errors) / float64(vs.Segments+r.Summary.Errors)
			step.Sustained = step.RebufferRatio < SustainThreshold && err == nil
		}
		res.Steps = append(res.Steps, step)
		return step.Sustained
	})
	for _, s := range res.Steps {
		if s.Viewers == res.Viewers && s.Sustained {
			res.Best = s.Result
		}
	}
	if res.Best == nil && len(res.Steps) > 0 {
		res.Best = res.Steps[0].Result
	}
	return res, runErr
}

// sustainSearch returns the largest v in [start, most] for which sustained
// held, trying start, doubling, then bisecting to within 10%; 0 if start
// itself failed. sustained is called at most maxSustainSteps times.
func sustainSearch(start, most int, sustained func(int) bool) int {
	best, failed := 0, 0 // failed: the smallest count that was not sustained
	v := start
	for range maxSustainSteps {
		if sustained(v) {
			best = v
		} else {
			failed = v
		}
		switch {
		case failed == 0 && best == most:
			return best
		case failed == 0:
			v = min(2*v, most)
		case best == 0 || failed-best <= max(1, best/10):
			return best
		default:
			v = best + (failed-best)/2
		}
	}
	return best
}

// WriteText writes the search's steps and its answer.
func (s *SustainResult) WriteText(w io.Writer, bitrate int64) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "viewers\trebuffered\terrors\tthroughput\tttfb p99\t\n")
	for _, st := range s.Steps {
		verdict := "sustained"
		if !st.Sustained {
			verdict = "not sustained"
		}
		fmt.Fprintf(tw, "%d\t%.2f%%\t%d\t%.1f MiB/s\t%.1f ms\t%s\n", st.Viewers, 100*st.RebufferRatio, st.Errors,
			st.Result.Summary.ThroughputMiBs, st.Result.Summary.TTFB.P99, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rate := fmt.Sprintf("%.2f Mbit/s", float64(bitrate)/1e6)
	switch {
	case s.Viewers == 0:
		_, err := fmt.Fprintf(w, "\nsustained: none; %d viewers at %s already rebuffered %.1f%% of segments (bar: %.0f%%)\n",
			s.Steps[0].Viewers, rate, 100*s.Steps[0].RebufferRatio, 100*SustainThreshold)
		return err
	case s.Viewers == s.Max:
		_, err := fmt.Fprintf(w, "\nsustained: %d viewers at %s with under %.0f%% rebuffering (the most tried; raise the maximum to search further)\n",
			s.Viewers, rate, 100*SustainThreshold)
		return err
	default:
		_, err := fmt.Fprintf(w, "\nsustained: %d viewers at %s with under %.0f%% rebuffering\n", s.Viewers, rate, 100*SustainThreshold)
		return err
	}
}
