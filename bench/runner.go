package bench

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// Run performs one run of cfg and returns its Result. The error is a
// *ConfigError for an invalid Config, another error when the run could not
// start (an unknown object size, say), or, with a non-nil Result, an error
// wrapping ErrMismatch when any response differed from the origin's bytes.
// A cancelled ctx ends the run early; requests in flight finish (within
// Config.Timeout) and the Result covers what was measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r, err := newRunner(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res := r.run(ctx)
	return res, res.Err()
}

// runner is the state of one run.
type runner struct {
	cfg     Config
	targets []target
	objs    []object
	client  *client
	rec     *recorder
	ref     *refChecker  // nil: no reference checks
	origin  *originStats // nil: origin figures unknown
	unique  *uniqueSet   // the bytes asked for, warmup included

	start, measureStart, end, hardStop time.Time

	// phase is the phase new requests belong to: -1 during warmup, then
	// 0, and one more after each fault.
	phase atomic.Int32
	// tickets counts the measured requests still allowed (Config.Requests).
	tickets atomic.Int64
	// live counts the measured run as it goes, for the time series and
	// the progress line; exact totals come from rec.
	live   struct{ bytes, requests, errors atomic.Int64 }
	unsent atomic.Int64

	stop     chan struct{} // closed: start no new request
	haltOnce sync.Once
	drainEnd chan struct{} // closed: the run is over, drop what is not sent
	// refIsOrigin: the reference origin is the one whose counters are
	// read, so the reference fetches are taken out of them.
	refIsOrigin bool
}

func newRunner(ctx context.Context, cfg Config) (*runner, error) {
	r := &runner{cfg: cfg, stop: make(chan struct{}), drainEnd: make(chan struct{})}
	for _, raw := range cfg.Targets {
		t, _ := parseTarget(raw) // validated
		r.targets = append(r.targets, t)
	}
	if len(cfg.Catalogue) == 0 {
		r.objs = syntheticCatalogue(cfg.Objects, cfg.ObjectSize)
	} else {
		base := r.targets[0]
		if cfg.VerifyOrigin != "" {
			base, _ = parseTarget(cfg.VerifyOrigin)
		}
		objs, err := resolveCatalogue(ctx, cfg.Catalogue, base, cfg.Timeout)
		if err != nil {
			return nil, err
		}
		r.objs = objs
	}
	first := map[string]int{}
	for i := range r.objs {
		if _, seen := first[r.objs[i].path]; !seen {
			first[r.objs[i].path] = i
		}
		r.objs[i].id = first[r.objs[i].path]
	}
	r.unique = newUniqueSet(r.objs)
	r.rec = newRecorder(min(cfg.Concurrency, 4*runtime.GOMAXPROCS(0)))
	r.client = newClient(r.targets, cfg.Concurrency, cfg.Timeout)
	if cfg.VerifyOrigin != "" && r.verifyMode() == verifySampled {
		base, _ := parseTarget(cfg.VerifyOrigin)
		r.ref = newRefChecker(base, cfg.Timeout, r.rec)
	}
	r.origin = newOriginStats(cfg.OriginStats)
	if r.ref != nil && r.origin != nil {
		stats, _ := parseTarget(strings.TrimSuffix(strings.TrimRight(cfg.OriginStats, "/"), origin.StatsPath))
		r.refIsOrigin = stats.host == r.ref.base.host
	}
	r.tickets.Store(cfg.Requests)
	return r, nil
}

func (r *runner) verifyMode() string {
	for _, o := range r.objs {
		if !o.synthetic {
			if r.cfg.VerifyOrigin != "" {
				return verifySampled
			}
			return verifyLength
		}
	}
	return verifySynthetic
}

// halt stops new requests from starting.
func (r *runner) halt() { r.haltOnce.Do(func() { close(r.stop) }) }

func (r *runner) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// sleepUntil waits until t or until any of chans (at most three) is
// closed, and reports whether t was reached.
func sleepUntil(t time.Time, chans ...<-chan struct{}) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	var a, b, c <-chan struct{}
	switch len(chans) {
	case 3:
		c = chans[2]
		fallthrough
	case 2:
		b = chans[1]
		fallthrough
	case 1:
		a = chans[0]
	}
	select {
	case <-timer.C:
		return true
	case <-a:
	case <-b:
	case <-c:
	}
	return false
}

// admit takes a ticket for a request of phase and reports whether it may
// be sent.
func (r *runner) admit(phase int) bool {
	if r.stopped() {
		return false
	}
	if phase < 0 || r.cfg.Requests == 0 {
		return true
	}
	n := r.tickets.Add(-1)
	if n <= 0 {
		r.halt()
	}
	return n >= 0
}

// send performs rq, preferring target pref. phase is the phase the request
// started in: during warmup (-1) its bytes are not counted live.
//
// A request that got no response at all (its connection refused, or
// closed before a response byte, as a node that stops does to the
// requests it never took) goes to the next target that is not marked
// down, as a player whose node is restarting moves to another: it is an
// error only when every target fails it. Its latency counts from start,
// the time the move took included, and the report counts the move
// (Summary.Failovers).
func (r *runner) send(s *scratch, samp *rand.Rand, rq request, pref int, start time.Time, phase int) outcome {
	r.unique.add(rq.obj.id, rq.off, rq.n)
	wantSum := r.ref != nil && !rq.obj.synthetic && samp.Float64() < r.cfg.VerifySample
	var live *atomic.Int64
	if phase >= 0 {
		live = &r.live.bytes
	}
	ti := r.client.pick(pref, time.Now())
	failovers := 0
	for {
		out := r.client.fetch(s, ti, rq, start, wantSum, live)
		out.failovers = failovers
		switch out.kind {
		case errConnect: // fetch marked the target down
		case errClosed:
			r.client.markDown(ti, time.Now())
		default:
			return out
		}
		next := r.client.pick(pref, time.Now())
		if next == ti || failovers+1 >= len(r.client.targets) {
			return out
		}
		ti = next
		failovers++
	}
}

// record files the outcome of rq, which started in startPhase. Warmup
// requests are dropped. A measured one counts in the phase current when it
// completes, so that an error a fault caused always shows after the fault,
// never before it.
func (r *runner) record(w, startPhase int, rq request, o *outcome, segment, rebuffer bool, stall time.Duration) {
	if startPhase < 0 {
		return
	}
	phase := int(r.phase.Load())
	r.rec.record(w, phase, o, segment, rebuffer, stall)
	r.live.requests.Add(1)
	if o.kind != errNone {
		r.live.errors.Add(1)
	}
	if o.sampled && o.kind == errNone && r.ref != nil {
		r.ref.offer(sample{rq: rq, sum: o.sum, phase: phase})
	}
}

// run drives the run: workers, warmup, faults, the time series, the end.
func (r *runner) run(ctx context.Context) *Result {
	cfg := &r.cfg
	// The counters are read before the first request can reach the
	// deployment: the working set's egress counts from here, and so does
	// the measured run's without warmup.
	initial := r.read(ctx)
	baseline := initial
	r.start = time.Now()
	r.measureStart = r.start.Add(cfg.Warmup)
	r.end = r.measureStart.Add(cfg.Duration)
	r.hardStop = r.end.Add(cfg.Timeout)
	if cfg.Warmup > 0 {
		r.phase.Store(-1)
	}

	workersDone := r.startWorkers()

	// At each boundary the phase moves before the origin's counters are
	// read: a request that starts between the two is then misfiled only if
	// it reaches the origin before the read does, a window of one loopback
	// send rather than of the whole stats round trip.
	if cfg.Warmup > 0 {
		sleepUntil(r.measureStart, ctx.Done(), r.stop)
		r.phase.Store(0)
		baseline = r.read(ctx)
	}
	readings := []reading{baseline}
	sampler := newSampler(r, r.measureStart, baseline.origin)
	samplerDone := make(chan []Sample)
	samplerStop := make(chan struct{})
	go func() { samplerDone <- sampler.loop(ctx, samplerStop) }()

	bounds, readings, events := r.injectFaults(ctx, readings)

	sleepUntil(r.end, ctx.Done(), r.stop)
	r.halt()
	// Requests in flight finish; an open-loop backlog drains until
	// hardStop, when what is still unsent is dropped and counted.
	sleepUntil(r.hardStop, workersDone, ctx.Done())
	close(r.drainEnd)
	<-workersDone
	finish := time.Now()
	close(samplerStop)
	samples := <-samplerDone
	if r.ref != nil {
		r.ref.close()
	}
	readings = append(readings, r.read(ctx))
	return r.result(bounds, finish, initial, readings, events, samples)
}

// startWorkers starts the run's workers, and returns a channel closed
// once they have all returned (which also halts the run).
func (r *runner) startWorkers() <-chan struct{} {
	cfg := &r.cfg
	var wg sync.WaitGroup
	switch {
	case cfg.Rate > 0:
		jobs := make(chan job, cfg.Concurrency)
		go r.generate(jobs)
		for w := range cfg.Concurrency {
			wg.Go(func() { r.openWorker(w, jobs) })
		}
	case cfg.Workload == WorkloadVideo:
		for w := range cfg.Concurrency {
			wg.Go(func() { r.viewer(w) })
		}
	default:
		for w := range cfg.Concurrency {
			wg.Go(func() { r.closedWorker(w) })
		}
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
		r.halt()
	}()
	return done
}

// injectFaults injects each fault at its time of the measured run, unless
// the run ends first. Each starts a phase: it returns the phases' start
// times, the counters at each (after readings, those before the first),
// and what each fault did.
func (r *runner) injectFaults(ctx context.Context, readings []reading) ([]time.Time, []reading, []FaultEvent) {
	bounds := []time.Time{r.measureStart}
	var events []FaultEvent
	for _, f := range r.cfg.Faults {
		if !sleepUntil(r.measureStart.Add(f.At), ctx.Done(), r.stop) {
			break
		}
		// The new phase begins before the fault, so that everything the
		// fault causes is counted after it.
		now := time.Now()
		bounds = append(bounds, now)
		r.phase.Add(1)
		readings = append(readings, r.read(ctx))
		ev := FaultEvent{Name: f.Name, AtS: now.Sub(r.measureStart).Seconds()}
		if err := f.Inject(); err != nil {
			ev.Error = err.Error()
			r.cfg.Logger.Warn("fault failed", "fault", f.Name, "err", err)
		}
		events = append(events, ev)
	}
	return bounds, readings, events
}

// reading is the counters at one instant: the origin's and the
// deployment's bytes by tier, each nil when unknown.
type reading struct {
	origin *originCounters
	tiers  *TierBytes
}

// read reads every counter the run knows of.
func (r *runner) read(ctx context.Context) reading {
	rd := reading{origin: r.readOrigin(ctx)}
	if r.cfg.Tiers != nil {
		t := r.cfg.Tiers()
		rd.tiers = &t
	}
	return rd
}

// readOrigin reads the origin's counters; nil when unknown.
func (r *runner) readOrigin(ctx context.Context) *originCounters {
	if r.origin == nil {
		return nil
	}
	c, err := r.origin.read(ctx)
	if err != nil {
		r.cfg.Logger.Warn("origin stats unavailable", "err", err)
		return nil
	}
	if r.refIsOrigin {
		c.Requests -= r.ref.fetches.Load()
		c.BodyBytes -= r.ref.fetchedBytes.Load()
	}
	return &c
}

// result assembles the Result from the recorder, the readings taken at
// each phase boundary, and the one taken before the run began.
func (r *runner) result(bounds []time.Time, finish time.Time, initial reading, readings []reading, events []FaultEvent, samples []Sample) *Result {
	video := r.cfg.Workload == WorkloadVideo && r.cfg.Bitrate > 0
	tallies := r.rec.phases(len(bounds))
	total := newTally()
	res := &Result{
		Targets:    append([]string(nil), r.cfg.Targets...),
		StartedAt:  r.measureStart,
		Faults:     events,
		Timeseries: samples,
	}
	for i, t := range tallies {
		total.merge(t)
		end := finish
		if i+1 < len(bounds) {
			end = bounds[i+1]
		}
		name := "run"
		switch {
		case i > 0:
			name = "after " + events[i-1].Name
		case len(events) > 0:
			name = "before " + events[0].Name
		}
		res.Phases = append(res.Phases, Phase{
			Name:    name,
			StartS:  bounds[i].Sub(r.measureStart).Seconds(),
			EndS:    end.Sub(r.measureStart).Seconds(),
			Summary: summarize(t, end.Sub(bounds[i]).Seconds(), diff(readings[i+1], readings[i]), video),
		})
	}
	res.Summary = summarize(total, finish.Sub(r.measureStart).Seconds(), diff(readings[len(readings)-1], readings[0]), video)
	res.WorkingSet = r.workingSet(diff(readings[len(readings)-1], initial).origin)
	res.LatencyDistribution = distribution(total.latency)
	res.Verification = Verification{
		Mode:         r.verifyMode(),
		CheckedBytes: total.checked,
		Mismatches:   total.errors[errMismatch],
		Unsent:       r.unsent.Load(),
	}
	if r.ref != nil {
		res.Verification.Sampled = r.ref.sampled.Load()
		res.Verification.Dropped = r.ref.dropped.Load()
		res.Verification.ReferenceErrors = r.ref.failed.Load()
	}
	return res
}

// workingSet sets the bytes asked for against egress, the origin's
// counters over the whole run; nil when those are unknown.
func (r *runner) workingSet(egress *originCounters) *WorkingSet {
	if egress == nil {
		return nil
	}
	ws := &WorkingSet{UniqueBytes: r.unique.total(), OriginBytes: egress.BodyBytes}
	if ws.UniqueBytes > 0 {
		ws.EgressRatio = float64(ws.OriginBytes) / float64(ws.UniqueBytes)
	}
	return ws
}

// diff is b - a, each part nil when unknown in either reading.
func diff(b, a reading) reading {
	var d reading
	if a.origin != nil && b.origin != nil {
		o := b.origin.sub(*a.origin)
		d.origin = &o
	}
	if a.tiers != nil && b.tiers != nil {
		t := b.tiers.sub(*a.tiers)
		d.tiers = &t
	}
	return d
}
