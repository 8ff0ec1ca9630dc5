package bench

import (
	"context"
	"fmt"
	"time"
)

// counts is a reading of a run's live counters.
type counts struct{ bytes, requests, errors int64 }

func (c counts) sub(d counts) counts {
	return counts{c.bytes - d.bytes, c.requests - d.requests, c.errors - d.errors}
}

// sampler takes the per-second time series of a run from its live
// counters, reads the origin's counters at the same pace, and rewrites the
// progress line.
type sampler struct {
	r      *runner
	start  time.Time
	last   counts // at the last sample
	lastAt time.Time
	origin *originCounters
	recent Sample // the last interval, for the progress line
}

func newSampler(r *runner, start time.Time, origin *originCounters) *sampler {
	// The live counters count measured requests only, so they start at
	// zero when measurement does.
	return &sampler{r: r, start: start, lastAt: start, origin: origin}
}

func (r *runner) counts() counts {
	return counts{r.live.bytes.Load(), r.live.requests.Load(), r.live.errors.Load()}
}

// loop samples once a second until stop is closed, then takes a last,
// shorter sample, and returns the series.
func (s *sampler) loop(ctx context.Context, stop <-chan struct{}) []Sample {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var out []Sample
	for {
		select {
		case now := <-tick.C:
			out = append(out, s.take(ctx, now))
			s.progress(now.Sub(s.start).Truncate(time.Second).String())
		case <-stop:
			now := time.Now()
			last := s.take(ctx, now)
			// A tail too short to be a rate of its own joins the sample
			// before it, rather than plotting as a spike.
			if n := len(out); n > 0 && last.Seconds < 0.25 {
				out[n-1] = out[n-1].merge(last)
			} else {
				out = append(out, last)
			}
			if w := s.r.cfg.Progress; w != nil {
				// The final line shows the averages of the whole run, under
				// a label of its own: the run rarely ends on a whole
				// second, so its elapsed time would repeat the last tick's.
				s.recent = Sample{Seconds: now.Sub(s.start).Seconds(), Bytes: s.last.bytes}
				s.progress("total")
				fmt.Fprintln(w)
			}
			return out
		}
	}
}

func (s *sampler) take(ctx context.Context, now time.Time) Sample {
	c := s.r.counts()
	d := c.sub(s.last)
	smp := Sample{
		AtS:      now.Sub(s.start).Seconds(),
		Seconds:  now.Sub(s.lastAt).Seconds(),
		Bytes:    d.bytes,
		Requests: d.requests,
		Errors:   d.errors,
	}
	if s.r.origin != nil {
		o := s.r.readOrigin(ctx)
		if od := diff(reading{origin: o}, reading{origin: s.origin}).origin; od != nil {
			smp.OriginBytes = &od.BodyBytes
		}
		s.origin = o
	}
	s.last, s.lastAt, s.recent = c, now, smp
	return smp
}

// progress rewrites the live line: its label (the elapsed time, or
// "total" for the last line), throughput of the last interval, requests
// and errors so far. The trailing spaces erase what a longer previous line
// left.
func (s *sampler) progress(label string) {
	w := s.r.cfg.Progress
	if w == nil {
		return
	}
	total := s.last
	fmt.Fprintf(w, "\r%6s %8.3f Gbit/s %9.1f MiB/s %10d requests %7d errors   ",
		label, s.recent.Gbps(), s.recent.Gbps()*1e9/8/(1<<20), total.requests, total.errors)
}

// merge extends s by the interval after it.
func (s Sample) merge(next Sample) Sample {
	s.AtS = next.AtS
	s.Seconds += next.Seconds
	s.Bytes += next.Bytes
	s.Requests += next.Requests
	s.Errors += next.Errors
	if s.OriginBytes != nil && next.OriginBytes != nil {
		b := *s.OriginBytes + *next.OriginBytes
		s.OriginBytes = &b
	} else {
		s.OriginBytes = nil
	}
	return s
}
