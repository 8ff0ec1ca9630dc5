package ring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSharesByHand pins the arcs with an identity-like hash: points at 10,
// 20 and 40 of a 2^64 space.
func TestSharesByHand(t *testing.T) {
	table := map[string]uint64{"a#0": 10, "b#0": 20, "c#0": 40}
	h := func(b []byte) uint64 { return table[string(b)] }
	r := New([]Member{{Addr: "a"}, {Addr: "b"}, {Addr: "c"}}, WithHash(h), WithVirtualNodes(1))
	got := r.Shares()
	const space = math.MaxUint64 + 1.0
	want := map[string]float64{
		"a": (space - 40 + 10) / space, // (40, 2^64) and [0, 10]
		"b": 10 / space,                // (10, 20]
		"c": 20 / space,                // (20, 40]
	}
	for addr, w := range want {
		if got[addr] != w {
			t.Errorf("share of %s = %g, want %g", addr, got[addr], w)
		}
	}
	// The small arcs must be exact, not rounded away next to the big one.
	if got["b"]*space != 10 || got["c"]*space != 20 {
		t.Errorf("small arcs %g, %g: want exactly 10 and 20 keys", got["b"]*space, got["c"]*space)
	}
}

func TestSharesEdgeCases(t *testing.T) {
	if s := New(nil).Shares(); len(s) != 0 {
		t.Errorf("empty ring: %v", s)
	}
	if s := New([]Member{{Addr: "solo"}}, WithVirtualNodes(1)).Shares(); s["solo"] != 1 {
		t.Errorf("one point: %v", s)
	}
	if s := New([]Member{{Addr: "solo"}}).Shares(); math.Abs(s["solo"]-1) > 1e-12 {
		t.Errorf("one member: %v", s)
	}
	// Two members whose points coincide: the earlier by Addr owns the key
	// at the shared hash, so the other leads nothing.
	h := func([]byte) uint64 { return 7 }
	s := New([]Member{{Addr: "y"}, {Addr: "x"}}, WithHash(h), WithVirtualNodes(1)).Shares()
	if s["x"] != 1 || s["y"] != 0 {
		t.Errorf("tied points: %v, want x=1 y=0", s)
	}
	if got := New([]Member{{Addr: "x"}, {Addr: "y"}}, WithHash(h), WithVirtualNodes(1)).Owners(7, 1); got[0] != "x" {
		t.Errorf("Owners disagrees with Shares on ties: %v", got)
	}
}

// TestSharesProperty: for random member sets and weights, shares sum to 1
// and agree with the leaders Owners picks for random keys, within the
// sampling error (5 standard deviations of a binomial proportion).
func TestSharesProperty(t *testing.T) {
	const keys = 200_000
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 12 {
		n := 1 + rng.IntN(12)
		ms := make([]Member, n)
		for i := range ms {
			ms[i] = Member{Addr: fmt.Sprintf("10.%d.%d.%d:8081", trial, i, rng.IntN(250)), Weight: 1 + rng.IntN(3)}
		}
		r := New(ms, WithVirtualNodes(20+rng.IntN(200)))
		shares := r.Shares()
		if len(shares) != r.Len() {
			t.Fatalf("trial %d: %d shares for %d members", trial, len(shares), r.Len())
		}
		sum := 0.0
		for _, s := range shares {
			if s < 0 || s > 1 {
				t.Fatalf("trial %d: share %g outside [0, 1]", trial, s)
			}
			sum += s
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("trial %d: shares sum to %.12f", trial, sum)
		}
		led := map[string]int{}
		for range keys {
			led[r.Owners(rng.Uint64(), 1)[0]]++
		}
		for addr, p := range shares {
			got := float64(led[addr]) / keys
			tol := 5 * math.Sqrt(p*(1-p)/keys)
			if math.Abs(got-p) > tol+1e-9 {
				t.Errorf("trial %d: %s leads %.5f of sampled keys, Shares says %.5f (tolerance %.5f)", trial, addr, got, p, tol)
			}
		}
	}
}
