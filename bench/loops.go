package bench

import "time"

// The load loops. Closed loop (closedWorker, viewer): each worker sends
// its next request when the previous one is done, so the offered load
// adapts to the deployment, as real viewers do. Open loop (generate,
// openWorker): requests are due at fixed times whatever happens, and their
// latency counts from then.

// errPause is how long a closed-loop worker waits after a failed request
// before its next one, so that a dead deployment, which refuses connections
// in microseconds, is not hammered in a tight loop that measures nothing
// but the bench's own speed at failing.
const errPause = 10 * time.Millisecond

// closedWorker is one closed-loop worker of the range or segments
// workload: it sends its next request when the previous one is done.
func (r *runner) closedWorker(w int) {
	s := newScratch()
	gen := newGenerator(&r.cfg, r.objs, workerRand(r.cfg.Seed, uint64(w)))
	samp := workerRand(r.cfg.Seed, 1<<32|uint64(w))
	for {
		phase := int(r.phase.Load())
		if !r.admit(phase) {
			return
		}
		rq := gen.next()
		o := r.send(s, samp, rq, w, time.Now(), phase)
		r.record(w, phase, rq, &o, false, false, 0)
		if o.kind != errNone && !sleepUntil(time.Now().Add(errPause), r.stop) {
			return
		}
	}
}

// viewer is one video viewer. Unpaced, it reads segments back to back;
// paced, it asks for each when its buffer has room (see playback) and
// counts the segments that arrive late. A failed segment is asked for
// again, from the next node if its node is down, as a player would: the
// viewer cannot skip it.
func (r *runner) viewer(w int) {
	s := newScratch()
	gen := newGenerator(&r.cfg, r.objs, workerRand(r.cfg.Seed, uint64(w)))
	samp := workerRand(r.cfg.Seed, 1<<32|uint64(w))
	var pb *playback
	if r.cfg.Bitrate > 0 {
		pb = newPlayback(r.cfg.Bitrate, r.cfg.SegmentSize, r.cfg.StartupSegments, r.cfg.BufferSegments)
	}
	for {
		rq := gen.next()
		if pb != nil && rq.session {
			pb.reset()
		}
		for {
			if pb != nil {
				if at := pb.sendTime(rq.segment); !at.IsZero() && !sleepUntil(at, r.stop) {
					return
				}
			}
			phase := int(r.phase.Load())
			if !r.admit(phase) {
				return
			}
			o := r.send(s, samp, rq, w, time.Now(), phase)
			if o.kind != errNone {
				r.record(w, phase, rq, &o, false, false, 0)
				if !sleepUntil(time.Now().Add(errPause), r.stop) {
					return
				}
				continue
			}
			var rebuffer bool
			var stall time.Duration
			if pb != nil {
				rebuffer, stall = pb.arrived(rq.segment, time.Now())
			}
			r.record(w, phase, rq, &o, pb != nil, rebuffer, stall)
			break
		}
	}
}

// job is one open-loop request and the time it is due.
type job struct {
	i  int64
	rq request
	at time.Time
}

// generate produces the open-loop jobs in order, from one random stream so
// the sequence does not depend on the number of workers. It blocks when
// every worker is busy; the jobs keep their due times, so the wait shows
// in their latency. Jobs still due when the run is over are counted unsent.
func (r *runner) generate(jobs chan<- job) {
	defer close(jobs)
	gen := newGenerator(&r.cfg, r.objs, workerRand(r.cfg.Seed, 0))
	sched := openSchedule{start: r.start, rate: r.cfg.Rate}
	first := sched.dueBefore(r.measureStart) // the first measured job
	last := sched.dueBefore(r.end)           // one past the last job
	if r.cfg.Requests > 0 {
		last = min(last, first+r.cfg.Requests)
	}
	for i := int64(0); i < last; i++ {
		select {
		case jobs <- job{i: i, rq: gen.next(), at: sched.at(i)}:
		case <-r.drainEnd:
			r.unsent.Add(max(0, last-max(i, first)))
			return
		}
	}
}

// openWorker sends open-loop jobs at their due times, measuring from then.
func (r *runner) openWorker(w int, jobs <-chan job) {
	s := newScratch()
	samp := workerRand(r.cfg.Seed, 1<<32|uint64(w))
	for j := range jobs {
		measured := !j.at.Before(r.measureStart)
		if !sleepUntil(j.at, r.drainEnd) || time.Now().After(r.hardStop) {
			if measured {
				r.unsent.Add(1)
			}
			continue
		}
		phase := -1
		if measured {
			phase = int(r.phase.Load())
		}
		o := r.send(s, samp, j.rq, int(j.i%int64(len(r.targets))), j.at, phase)
		r.record(w, phase, j.rq, &o, false, false, 0)
	}
}
