package bench

import "math/rand/v2"

// popularity draws catalogue ranks: rank 0 is the most popular object.
// Real audiences concentrate on few titles; a Zipf law with exponent s is
// the usual model, and the cache hit ratio a deployment reaches depends on
// it more than on anything else, so it is a parameter of every run.
type popularity struct {
	zipf *rand.Zipf // nil: uniform
	r    *rand.Rand
	n    int
}

// newPopularity draws from n ranks with exponent s: P(k) ∝ (1+k)^-s. s must
// be 0 (uniform) or greater than 1, as Config.validate ensures; math/rand/v2
// has no Zipf for s <= 1.
func newPopularity(r *rand.Rand, s float64, n int) *popularity {
	p := &popularity{r: r, n: n}
	if s != 0 && n > 1 {
		p.zipf = rand.NewZipf(r, s, 1, uint64(n-1))
	}
	return p
}

// next returns a rank in [0, n).
func (p *popularity) next() int {
	if p.zipf == nil {
		return p.r.IntN(p.n)
	}
	return int(p.zipf.Uint64())
}

// workerRand returns the random source of one stream of choices. Streams
// are derived from the run's seed and a stream number, so every worker (or
// the open-loop generator) makes the same choices in every run with that
// seed, independently of how the others interleave.
func workerRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, splitmix64(stream+0x5eed)))
}

// splitmix64 spreads consecutive stream numbers over the seed space, so that
// streams 0, 1, 2... do not start from related PCG states.
func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}
