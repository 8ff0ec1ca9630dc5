package bench

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestZipfShape(t *testing.T) {
	const (
		s     = 1.5
		n     = 100
		draws = 200_000
	)
	counts := make([]int, n)
	p := newPopularity(workerRand(42, 0), s, n)
	for range draws {
		counts[p.next()]++
	}
	// The most popular ranks are drawn in decreasing order.
	for k := 1; k < 10; k++ {
		if counts[k] >= counts[k-1] {
			t.Errorf("rank %d drawn %d times, rank %d %d times: not decreasing", k, counts[k], k-1, counts[k-1])
		}
	}
	// P(0)/P(1) = (1/2)^-s = 2^s.
	ratio := float64(counts[0]) / float64(counts[1])
	if want := math.Pow(2, s); math.Abs(ratio-want)/want > 0.05 {
		t.Errorf("rank 0 / rank 1 = %.3f, want %.3f within 5%%", ratio, want)
	}
}

func TestZipfUniform(t *testing.T) {
	counts := make([]int, 10)
	p := newPopularity(workerRand(1, 0), 0, 10)
	for range 100_000 {
		counts[p.next()]++
	}
	for k, c := range counts {
		if c < 9_000 || c > 11_000 {
			t.Errorf("rank %d drawn %d times of 100000, want about 10000", k, c)
		}
	}
}

// The same seed yields the same requests; another seed, others.
func TestWorkloadReproducible(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workload, cfg.Zipf = WorkloadRange, 1.2
	objs := syntheticCatalogue(50, 8<<20)
	draw := func(seed, stream uint64) []request {
		g := newGenerator(&cfg, objs, workerRand(seed, stream))
		out := make([]request, 100)
		for i := range out {
			out[i] = g.next()
		}
		return out
	}
	if a, b := draw(9, 3), draw(9, 3); !slices.Equal(a, b) {
		t.Error("same seed and stream, different requests")
	}
	if a, b := draw(9, 3), draw(10, 3); slices.Equal(a, b) {
		t.Error("different seeds, same requests")
	}
	if a, b := draw(9, 3), draw(9, 4); slices.Equal(a, b) {
		t.Error("different workers, same requests")
	}
}

func TestVideoGeneratorReadsSequentially(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workload, cfg.SegmentSize = WorkloadVideo, 1000
	objs := syntheticCatalogue(3, 2500)
	g := newGenerator(&cfg, objs, workerRand(1, 0))
	first := g.next()
	if !first.session || first.off != 0 || first.n != 1000 || first.segment != 0 {
		t.Fatalf("first request %+v", first)
	}
	second, third := g.next(), g.next()
	if second.obj != first.obj || second.off != 1000 || second.session || second.segment != 1 {
		t.Errorf("second request %+v", second)
	}
	if third.off != 2000 || third.n != 500 {
		t.Errorf("last segment %+v, want the 500-byte tail", third)
	}
	if next := g.next(); !next.session || next.off != 0 {
		t.Errorf("after the end: %+v, want a new session", next)
	}
}

func TestRangeAndSegmentsStayInObject(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workload, cfg.RangeSize = WorkloadRange, 3000
	objs := append(syntheticCatalogue(5, 10_000), object{path: "/small", size: 100})
	g := newGenerator(&cfg, objs, workerRand(3, 0))
	for range 1000 {
		rq := g.next()
		if rq.off < 0 || rq.n < 1 || rq.off+rq.n > rq.obj.size || rq.whole {
			t.Fatalf("range %+v outside its %d-byte object", rq, rq.obj.size)
		}
	}
	cfg.Workload = WorkloadSegments
	g = newGenerator(&cfg, objs, workerRand(3, 0))
	if rq := g.next(); !rq.whole || rq.off != 0 || rq.n != rq.obj.size {
		t.Errorf("segment request %+v, want the whole object", rq)
	}
}

func TestOpenScheduleEvenlySpaced(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, rate := range []float64{1000, 3, 250.5} {
		s := openSchedule{start: start, rate: rate}
		interval := float64(time.Second) / rate
		for i := int64(0); i < 10_000; i++ {
			// Computed from i, not accumulated: no drift, whatever i.
			want := float64(i) * interval
			if got := float64(s.at(i).Sub(start)); math.Abs(got-want) > 1 {
				t.Fatalf("rate %g: request %d due at %v, want %v", rate, i, time.Duration(got), time.Duration(want))
			}
			if i > 0 {
				gap := s.at(i).Sub(s.at(i - 1))
				if math.Abs(float64(gap)-interval) > 1 {
					t.Fatalf("rate %g: gap %v before request %d, want %v", rate, gap, i, time.Duration(interval))
				}
			}
		}
	}
}

func TestOpenScheduleDueBefore(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, rate := range []float64{1000, 3, 250.5} {
		s := openSchedule{start: start, rate: rate}
		for _, d := range []time.Duration{0, time.Millisecond, time.Second, 10*time.Second + 7} {
			end := start.Add(d)
			n := s.dueBefore(end)
			if (n > 0 && !s.at(n-1).Before(end)) || s.at(n).Before(end) {
				t.Errorf("rate %g: dueBefore(+%v) = %d, but at(%d) = +%v", rate, d, n, n, s.at(n).Sub(start))
			}
		}
	}
}

func TestPlayback(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// 1 Mbit/s, 125000-byte segments: one second each.
	p := newPlayback(1e6, 125_000, 2, 3)
	if p.segDur != time.Second {
		t.Fatalf("segment duration %v", p.segDur)
	}
	// Startup: back to back, no deadline, however slow.
	if !p.sendTime(0).IsZero() {
		t.Error("first segment not asked for at once")
	}
	if rb, _ := p.arrived(0, ms(5000)); rb {
		t.Error("a startup segment rebuffered")
	}
	if !p.sendTime(1).IsZero() {
		t.Error("second startup segment not asked for at once")
	}
	p.arrived(1, ms(6000)) // playback starts: segment k due at 6 s + k s
	// The buffer holds 3 segments: segment 3 once segment 0 plays, 5 at 8 s.
	if got := p.sendTime(3); got != ms(6000) {
		t.Errorf("segment 3 asked at %v, want at playback start", got.Sub(t0))
	}
	if got := p.sendTime(5); got != ms(8000) {
		t.Errorf("segment 5 asked at %v, want 8s", got.Sub(t0))
	}
	if rb, _ := p.arrived(2, ms(7900)); rb {
		t.Error("segment 2 on time (due 8s) counted as rebuffer")
	}
	rb, stall := p.arrived(3, ms(9500)) // due 9 s
	if !rb || stall != 500*time.Millisecond {
		t.Errorf("late segment: rebuffer %v stall %v, want true 500ms", rb, stall)
	}
	// Playback resumed late: segment 4 is now due at 10.5 s, not 10 s.
	if rb, _ := p.arrived(4, ms(10_400)); rb {
		t.Error("one stall counted again on the next segment")
	}
	if rb, _ := p.arrived(5, ms(11_600)); !rb {
		t.Error("segment 5 at 11.6 s (due 11.5 s) not a rebuffer")
	}
	p.reset()
	if !p.sendTime(7).IsZero() {
		t.Error("a new session did not restart with its startup buffer")
	}
}
