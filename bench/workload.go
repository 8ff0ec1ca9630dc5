package bench

import "math/rand/v2"

// request is one HTTP GET the workload asks for.
type request struct {
	obj *object
	// off and n are the byte range [off, off+n). whole means the request
	// carries no Range header and expects the whole object (off 0, n size).
	off, n int64
	whole  bool
	// segment is the index of this range within the object, for the video
	// workload's playback deadlines; session is true on the first segment
	// of a newly chosen object.
	segment int
	session bool
}

// generator is a deterministic stream of requests: the same random source
// yields the same sequence.
type generator interface {
	next() request
}

// newGenerator returns the generator of one worker (or of the open-loop
// schedule) for the configured workload.
func newGenerator(cfg *Config, objs []object, r *rand.Rand) generator {
	pop := newPopularity(r, cfg.Zipf, len(objs))
	switch cfg.Workload {
	case WorkloadRange:
		return &rangeGen{objs: objs, pop: pop, r: r, size: cfg.RangeSize}
	case WorkloadSegments:
		return &segmentsGen{objs: objs, pop: pop}
	default:
		return &videoGen{objs: objs, pop: pop, seg: cfg.SegmentSize}
	}
}

// videoGen is a viewer: it picks an object by popularity, reads it from the
// start to the end in segment-sized ranges, then picks the next.
type videoGen struct {
	objs []object
	pop  *popularity
	seg  int64
	cur  *object
	k    int
}

func (g *videoGen) next() request {
	if g.cur == nil || int64(g.k)*g.seg >= g.cur.size {
		g.cur, g.k = &g.objs[g.pop.next()], 0
	}
	off := int64(g.k) * g.seg
	req := request{obj: g.cur, off: off, n: min(g.seg, g.cur.size-off), segment: g.k, session: g.k == 0}
	g.k++
	return req
}

// rangeGen asks for ranges of a fixed size at uniformly random offsets of
// objects chosen by popularity (the whole object when it is smaller).
type rangeGen struct {
	objs []object
	pop  *popularity
	r    *rand.Rand
	size int64
}

func (g *rangeGen) next() request {
	o := &g.objs[g.pop.next()]
	if o.size <= g.size {
		return request{obj: o, off: 0, n: o.size}
	}
	off := g.r.Int64N(o.size - g.size + 1)
	return request{obj: o, off: off, n: g.size}
}

// segmentsGen asks for whole objects chosen by popularity.
type segmentsGen struct {
	objs []object
	pop  *popularity
}

func (g *segmentsGen) next() request {
	o := &g.objs[g.pop.next()]
	return request{obj: o, off: 0, n: o.size, whole: true}
}
