package bench

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// errKind classifies a failed request; the report counts each kind.
type errKind uint8

const (
	errNone      errKind = iota
	errStatus3xx         // a redirect: the bench does not follow them
	errStatus4xx
	errStatus5xx
	errConnect   // the TCP connection could not be made
	errClosed    // the server closed or reset the connection before the response
	errTimeout   // no complete response within Config.Timeout
	errShortBody // the body ended before the range did
	errBadRange  // a response for other bytes than asked: wrong status, Content-Range or length
	errMismatch  // the body's bytes differ from the origin's
	errOther     // any other transport error
	numErrKinds
)

// errKindNames are the names used in reports and the JSON schema.
var errKindNames = [numErrKinds]string{
	errNone:      "none",
	errStatus3xx: "status_3xx",
	errStatus4xx: "status_4xx",
	errStatus5xx: "status_5xx",
	errConnect:   "connect",
	errClosed:    "closed",
	errTimeout:   "timeout",
	errShortBody: "short_body",
	errBadRange:  "bad_range",
	errMismatch:  "verify_mismatch",
	errOther:     "other",
}

func (k errKind) String() string { return errKindNames[k] }

// source is where the deployment says a response came from, from its
// X-Cache header: edgecache sends HIT, PEER or MISS; other CDNs send
// variants such as "TCP_HIT" or "Hit from cloudfront", which are matched by
// the word they contain.
type source uint8

const (
	sourceOther source = iota // no X-Cache, or an unknown value
	sourceHit
	sourcePeer
	sourceMiss
	numSources
)

var sourceNames = [numSources]string{"other", "HIT", "PEER", "MISS"}

func sourceOf(v []byte) source {
	switch {
	case containsFold(v, "MISS"):
		return sourceMiss
	case containsFold(v, "PEER"):
		return sourcePeer
	case containsFold(v, "HIT"):
		return sourceHit
	}
	return sourceOther
}

// containsFold reports whether v contains word (upper-case ASCII) in any
// case, without allocating: it runs once per response.
func containsFold(v []byte, word string) bool {
	for i := 0; i+len(word) <= len(v); i++ {
		j := 0
		for j < len(word) && v[i+j]&^0x20 == word[j] {
			j++
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

// Latencies are recorded in microseconds, from 1 µs to an hour, with three
// significant digits: 0.1% resolution at any scale.
const (
	histMin     = 1
	histMax     = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFigs) }

func recordDur(h *hdrhistogram.Histogram, d time.Duration) {
	us := max(int64(d/time.Microsecond), histMin)
	_ = h.RecordValue(min(us, histMax)) // in range by construction
}

// tally is the totals of a set of requests: one phase of one shard, or,
// merged, of a whole phase or run.
type tally struct {
	latency, ttfb *hdrhistogram.Histogram

	requests int64 // completed, successful or not
	ok       int64
	bytes    int64 // body bytes received, including those of failed requests
	checked  int64 // body bytes verified, exactly or by a reference check
	bySource [numSources]int64
	errors   [numErrKinds]int64
	// failovers counts requests that a refusing target passed to the next.
	failovers int64

	segments  int64 // video segments received (paced viewers only)
	rebuffers int64
	stall     time.Duration
}

func newTally() *tally { return &tally{latency: newHist(), ttfb: newHist()} }

func (t *tally) add(o *outcome) {
	t.requests++
	t.bytes += o.bytes
	t.checked += o.checked
	t.errors[o.kind]++
	if o.failovers > 0 {
		t.failovers++
	}
	if o.kind == errNone {
		t.ok++
		t.bySource[o.source] += o.bytes
		recordDur(t.ttfb, o.ttfb)
	}
	// Failed requests count in the latency too: a viewer waited for them.
	recordDur(t.latency, o.latency)
}

func (t *tally) merge(u *tally) {
	t.latency.Merge(u.latency)
	t.ttfb.Merge(u.ttfb)
	t.requests += u.requests
	t.ok += u.ok
	t.bytes += u.bytes
	t.checked += u.checked
	for i := range t.bySource {
		t.bySource[i] += u.bySource[i]
	}
	for i := range t.errors {
		t.errors[i] += u.errors[i]
	}
	t.failovers += u.failovers
	t.segments += u.segments
	t.rebuffers += u.rebuffers
	t.stall += u.stall
}

// failed is the number of requests that did not succeed.
func (t *tally) failed() int64 { return t.requests - t.ok }

// recorder collects outcomes from all workers. Histograms are large
// (~200 KiB each), so workers share a few locked shards instead of owning
// one each: memory stays fixed whatever the number of viewers, and two
// workers rarely contend for one lock.
type recorder struct {
	shards []shard
}

type shard struct {
	mu     sync.Mutex
	phases []*tally // index: phase
}

func newRecorder(shards int) *recorder { return &recorder{shards: make([]shard, shards)} }

// record adds o, from a request started in phase, to worker w's shard.
// Rebuffer accounting comes with the outcome of its segment.
func (r *recorder) record(w, phase int, o *outcome, segment, rebuffer bool, stall time.Duration) {
	s := &r.shards[w%len(r.shards)]
	s.mu.Lock()
	for len(s.phases) <= phase {
		s.phases = append(s.phases, newTally())
	}
	t := s.phases[phase]
	t.add(o)
	if segment {
		t.segments++
	}
	if rebuffer {
		t.rebuffers++
		t.stall += stall
	}
	s.mu.Unlock()
}

// addChecked credits bytes verified after the fact (a reference check) to
// phase, and counts a mismatch it found.
func (r *recorder) addChecked(phase int, n int64, mismatch bool) {
	s := &r.shards[0]
	s.mu.Lock()
	for len(s.phases) <= phase {
		s.phases = append(s.phases, newTally())
	}
	t := s.phases[phase]
	if mismatch {
		t.errors[errMismatch]++
		t.errors[errNone]--
		t.ok--
	} else {
		t.checked += n
	}
	s.mu.Unlock()
}

// phases merges the shards into one tally per phase, for n phases.
func (r *recorder) phases(n int) []*tally {
	out := make([]*tally, n)
	for i := range out {
		out[i] = newTally()
	}
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for p, t := range s.phases {
			if p < n {
				out[p].merge(t)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// percentiles reads a histogram of microseconds as milliseconds.
func percentiles(h *hdrhistogram.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	return Percentiles{
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
		Mean: h.Mean() / 1e3,
	}
}

// distribution reads the latency at each of reportedPercentiles.
func distribution(h *hdrhistogram.Histogram) []Quantile {
	if h.TotalCount() == 0 {
		return nil
	}
	out := make([]Quantile, len(reportedPercentiles))
	for i, p := range reportedPercentiles {
		out[i] = Quantile{Percentile: p, LatencyMs: float64(h.ValueAtQuantile(p)) / 1e3}
	}
	return out
}
