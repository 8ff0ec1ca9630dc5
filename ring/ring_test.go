package ring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// shards is k+m for the default 4+2 erasure code.
const shards = 6

func members(n int, prefix string) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i].Addr = fmt.Sprintf("%s.%d.%d:7070", prefix, i/250, i%250+1)
	}
	return ms
}

func addrs(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Addr
	}
	return out
}

// TestBalance checks the property: with 100 members and the default
// virtual nodes, the member that leads the most of 1,000,000 random keys
// leads at most 1.10x the mean. Three member sets (one with -short) guard
// against a lucky one.
func TestBalance(t *testing.T) {
	const n, keys = 100, 1_000_000
	sets := []string{"10.0", "10.1", "192.168"}
	if testing.Short() {
		sets = sets[:1]
	}
	for set, prefix := range sets {
		r := New(members(n, prefix))
		rng := rand.New(rand.NewPCG(42, uint64(set)))
		lead := make(map[string]int, n)
		slots := make(map[string]int, n)
		var buf []string
		for range keys {
			buf = r.AppendOwners(buf[:0], rng.Uint64(), shards)
			lead[buf[0]]++
			for _, a := range buf {
				slots[a]++
			}
		}
		if len(lead) != n {
			t.Fatalf("%s: %d members lead keys, want %d", prefix, len(lead), n)
		}
		leadRatio := float64(maxValue(lead)) / (keys / n)
		slotRatio := float64(maxValue(slots)) / (keys * shards / n)
		t.Logf("%s.x: most loaded leader %.3fx mean, most loaded shard holder %.3fx mean", prefix, leadRatio, slotRatio)
		if leadRatio > 1.10 {
			t.Errorf("%s: most loaded member leads %.3fx the mean, want <= 1.10x", prefix, leadRatio)
		}
	}
}

func maxValue(m map[string]int) int {
	mx := 0
	for _, v := range m {
		mx = max(mx, v)
	}
	return mx
}

// TestMovement checks what a membership change of one member does to owner
// sets: the issue asks that about (k+m)/N of them change and no other.
//
// Precisely, for big = small + {x} and every key, with b = big.Owners(key, 6)
// and s = small.Owners(key, 6):
//   - if x is not in b, then s == b: the owner list is untouched;
//   - if x is b[p], then s[:p] == b[:p] and s[p:5] == b[p+1:]: x is gone and
//     everyone behind it moved up one place, and s[5] is a new owner.
//
// Adding x reads the same relation from small to big. The fraction of keys
// whose owners change is then the share of owner slots x holds in big, 6/|big|
// on average. The ring's shard load (TestBalance) stays within about 5% of
// the mean for every member, and 200,000 keys add about 1% of sampling
// noise at N=50 (about 24,000 changed keys), so the measured fraction is
// asserted within 15% of the expectation: a broken ring (moving everything,
// or nothing) is far outside it, and an honest one is never near its edge.
func TestMovement(t *testing.T) {
	const keys = 200_000
	rng := rand.New(rand.NewPCG(7, 7))
	ks := make([]uint64, keys)
	for i := range ks {
		ks[i] = rng.Uint64()
	}
	for _, n := range []int{10, 20, 50} {
		ms := members(n, "10.9")
		base := New(ms)

		added := Member{Addr: "10.8.0.1:7070"}
		grown := New(append(slices.Clone(ms), added))
		frac, shardFrac := movedFraction(t, grown, base, added.Addr, ks)
		t.Logf("N=%d add one:    %.4f of owner sets changed, 6/(N+1) = %.4f, ratio %.3f; %.4f of shards change owner",
			n, frac, 6.0/float64(n+1), frac/(6.0/float64(n+1)), shardFrac)
		checkFraction(t, frac, 6.0/float64(n+1))

		removed := ms[n/2]
		shrunk := New(slices.Delete(slices.Clone(ms), n/2, n/2+1))
		frac, shardFrac = movedFraction(t, base, shrunk, removed.Addr, ks)
		t.Logf("N=%d remove one: %.4f of owner sets changed, 6/N     = %.4f, ratio %.3f; %.4f of shards change owner",
			n, frac, 6.0/float64(n), frac/(6.0/float64(n)), shardFrac)
		checkFraction(t, frac, 6.0/float64(n))
	}
}

func checkFraction(t *testing.T, got, want float64) {
	t.Helper()
	if got < 0.85*want || got > 1.15*want {
		t.Errorf("%.4f of owner sets changed, want within 15%% of %.4f", got, want)
	}
}

// movedFraction checks the precise relation between big and small = big -
// {x} (see TestMovement) for every key and returns the fraction of keys
// whose owners differ, and the fraction of shards (key, index) whose owner
// differs: the owners behind x shift one place, so shard i > p moves too.
func movedFraction(t *testing.T, big, small *Ring, x string, keys []uint64) (keyFrac, shardFrac float64) {
	t.Helper()
	if !big.Contains(x) || small.Contains(x) || big.Len() != small.Len()+1 {
		t.Fatalf("rings do not differ by exactly %s", x)
	}
	changed, moved, bad := 0, 0, 0
	var b, s []string
	for _, k := range keys {
		b = big.AppendOwners(b[:0], k, shards)
		s = small.AppendOwners(s[:0], k, shards)
		p := slices.Index(b, x)
		ok := false
		if p < 0 {
			ok = slices.Equal(b, s)
		} else {
			changed++
			moved += len(b) - p
			ok = len(s) == len(b) &&
				slices.Equal(s[:p], b[:p]) &&
				slices.Equal(s[p:len(s)-1], b[p+1:]) &&
				!slices.Contains(b, s[len(s)-1])
		}
		if !ok {
			if bad++; bad <= 5 {
				t.Errorf("key %#x: owners %v with %s, %v without: not a single insertion", k, b, x, s)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d keys changed owners beyond %s", bad, x)
	}
	return float64(changed) / float64(len(keys)), float64(moved) / float64(len(keys)*shards)
}

func TestOwnersDistinct(t *testing.T) {
	r := New(members(8, "10.0"))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		k := rng.Uint64()
		for n := 1; n <= 10; n++ {
			got := r.Owners(k, n)
			if want := min(n, 8); len(got) != want {
				t.Fatalf("Owners(%#x, %d) has %d members, want %d", k, n, len(got), want)
			}
			seen := map[string]bool{}
			for _, a := range got {
				if seen[a] || !r.Contains(a) {
					t.Fatalf("Owners(%#x, %d) = %v: %s repeated or unknown", k, n, got, a)
				}
				seen[a] = true
			}
			// Owners(k, n) is a prefix of Owners(k, n+1): growing n
			// never reshuffles the first owners.
			if n > 1 && n <= 8 && !slices.Equal(got[:n-1], r.Owners(k, n-1)) {
				t.Fatalf("Owners(%#x, %d) = %v does not extend Owners(k, %d)", k, n, got, n-1)
			}
		}
	}
}

// TestDeterminism builds the same member set in many orders, with
// duplicates, and expects the identical ring: every edge computes the same
// owners whatever order its membership source listed the peers in.
func TestDeterminism(t *testing.T) {
	ms := members(30, "10.3")
	ms[4].Weight = 3
	ref := New(ms)
	rng := rand.New(rand.NewPCG(3, 3))
	keys := make([]uint64, 1000)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	for range 5 {
		shuffled := slices.Clone(ms)
		// A duplicate of lower weight collapses into the heavier one,
		// wherever it appears.
		shuffled = append(shuffled, Member{Addr: ms[4].Addr, Weight: 1}, ms[7])
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		r := New(shuffled)
		if !slices.Equal(r.hashes, ref.hashes) || !slices.Equal(r.owners, ref.owners) {
			t.Fatal("ring points differ with member order")
		}
		for _, k := range keys {
			if a, b := r.Owners(k, shards), ref.Owners(k, shards); !slices.Equal(a, b) {
				t.Fatalf("Owners(%#x) = %v, want %v", k, a, b)
			}
		}
	}
}

func TestDuplicatesAndMembers(t *testing.T) {
	r := New([]Member{
		{Addr: "b:1", Weight: 1},
		{Addr: "a:1"},
		{Addr: ""},
		{Addr: "b:1", Weight: 3},
		{Addr: "c:1", Weight: -2},
		{Addr: "b:1", Weight: 2},
	})
	want := []Member{{"a:1", 1}, {"b:1", 3}, {"c:1", 1}}
	got := r.Members()
	if !slices.Equal(got, want) {
		t.Fatalf("Members() = %v, want %v", got, want)
	}
	got[0].Addr = "mutated"
	if r.Members()[0].Addr != "a:1" {
		t.Fatal("Members() returned the ring's own slice")
	}
	if r.Len() != 3 || !r.Contains("b:1") || r.Contains("d:1") || r.Contains("") {
		t.Fatalf("Len/Contains wrong for %v", r.Members())
	}
	if len(r.hashes) != 5*DefaultVirtualNodes {
		t.Fatalf("%d points, want %d (weights 1+3+1)", len(r.hashes), 5*DefaultVirtualNodes)
	}
}

// TestWeights checks that a member's share of keys follows its weight.
func TestWeights(t *testing.T) {
	ms := members(20, "10.4")
	ms[3].Weight = 2
	ms[11].Weight = 3
	r := New(ms)
	const keys = 400_000
	rng := rand.New(rand.NewPCG(4, 4))
	lead := map[string]int{}
	for range keys {
		lead[r.Owners(rng.Uint64(), 1)[0]]++
	}
	unit := float64(keys) / 23 // total weight: 18 of weight 1, then 2 and 3
	for _, m := range r.Members() {
		ratio := float64(lead[m.Addr]) / unit / float64(m.Weight)
		if ratio < 0.85 || ratio > 1.15 {
			t.Errorf("%s (weight %d) leads %d keys: %.3fx its weighted share", m.Addr, m.Weight, lead[m.Addr], ratio)
		}
	}
	t.Logf("weight 2: %.3fx, weight 3: %.3fx a weight-1 share",
		float64(lead[ms[3].Addr])/unit, float64(lead[ms[11].Addr])/unit)
}

func TestShardOwners(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 2, 3, 5, 6, 9} {
		r := New(members(n, "10.5"))
		for range 200 {
			k := rng.Uint64()
			got := r.ShardOwners(k, shards)
			if len(got) != shards {
				t.Fatalf("%d members: ShardOwners has %d addresses, want %d", n, len(got), shards)
			}
			distinct := r.Owners(k, shards)
			for i, a := range got {
				if want := distinct[i%len(distinct)]; a != want {
					t.Fatalf("%d members: ShardOwners(%#x) = %v, want owners %v round-robin", n, k, got, distinct)
				}
			}
			if n >= shards && !slices.Equal(got, distinct) {
				t.Fatalf("%d members: ShardOwners %v != Owners %v", n, got, distinct)
			}
		}
	}
	r := New(members(3, "10.5"))
	if got := r.ShardOwners(1, 0); got != nil {
		t.Fatalf("ShardOwners(k, 0) = %v, want nil", got)
	}
	// Append variants append after what dst holds.
	dst := r.AppendShardOwners([]string{"x"}, 1, 4)
	if want := append([]string{"x"}, r.ShardOwners(1, 4)...); !slices.Equal(dst, want) {
		t.Fatalf("AppendShardOwners = %v, want %v", dst, want)
	}
}

func TestEmptyRing(t *testing.T) {
	for _, r := range []*Ring{New(nil), New([]Member{{Addr: ""}}), new(Current).Load()} {
		if r.Len() != 0 || len(r.Members()) != 0 || r.Contains("") {
			t.Fatal("empty ring has members")
		}
		if r.Owners(1, shards) != nil || r.ShardOwners(1, shards) != nil {
			t.Fatal("empty ring has owners")
		}
		if got := r.AppendOwners([]string{"x"}, 1, shards); !slices.Equal(got, []string{"x"}) {
			t.Fatalf("AppendOwners on empty ring = %v", got)
		}
	}
}

// pinHash maps the point "A#i" of member A (a number) to i*10 + A, so that
// placement can be computed by hand, as groupcache's consistenthash_test
// does.
func pinHash(b []byte) uint64 {
	addr, i, _ := strings.Cut(string(b), "#")
	a, err1 := strconv.ParseUint(addr, 10, 64)
	j, err2 := strconv.ParseUint(i, 10, 64)
	if err1 != nil || err2 != nil {
		panic("pinHash: bad point " + string(b))
	}
	return j*10 + a
}

func TestPinnedPlacement(t *testing.T) {
	opts := []Option{WithHash(pinHash), WithVirtualNodes(3)}
	// Points: 2 4 6 12 14 16 22 24 26 (members 2, 4, 6).
	r := New([]Member{{Addr: "6"}, {Addr: "2"}, {Addr: "4"}}, opts...)
	cases := []struct {
		key  uint64
		n    int
		want []string
	}{
		{0, 3, []string{"2", "4", "6"}},
		{2, 3, []string{"2", "4", "6"}}, // a key on a point belongs to it
		{3, 3, []string{"4", "6", "2"}},
		{11, 3, []string{"2", "4", "6"}},
		{13, 3, []string{"4", "6", "2"}},
		{16, 2, []string{"6", "2"}},
		{23, 3, []string{"4", "6", "2"}},
		{27, 3, []string{"2", "4", "6"}}, // wraps around
		{^uint64(0), 1, []string{"2"}},
		{5, 9, []string{"6", "2", "4"}}, // n above Len
	}
	for _, c := range cases {
		if got := r.Owners(c.key, c.n); !slices.Equal(got, c.want) {
			t.Errorf("Owners(%d, %d) = %v, want %v", c.key, c.n, got, c.want)
		}
	}

	// Adding 8 (points 8 18 28) takes over the keys just before its points
	// and nothing else.
	r = New([]Member{{Addr: "2"}, {Addr: "4"}, {Addr: "6"}, {Addr: "8"}}, opts...)
	cases = []struct {
		key  uint64
		n    int
		want []string
	}{
		{7, 2, []string{"8", "2"}},
		{13, 3, []string{"4", "6", "8"}},
		{27, 3, []string{"8", "2", "4"}},
		{29, 3, []string{"2", "4", "6"}},
	}
	for _, c := range cases {
		if got := r.Owners(c.key, c.n); !slices.Equal(got, c.want) {
			t.Errorf("with 8: Owners(%d, %d) = %v, want %v", c.key, c.n, got, c.want)
		}
	}

	// Weight 2 doubles the points: 5 places 5 15 25 35, 2 places 2 12.
	r = New([]Member{{Addr: "2"}, {Addr: "5", Weight: 2}}, WithHash(pinHash), WithVirtualNodes(2))
	for key, want := range map[uint64][]string{13: {"5", "2"}, 16: {"5", "2"}, 36: {"2", "5"}} {
		if got := r.Owners(key, 2); !slices.Equal(got, want) {
			t.Errorf("weighted: Owners(%d, 2) = %v, want %v", key, got, want)
		}
	}
}

// TestHashTies: points with equal hashes are ordered by Addr, whatever
// order the members came in.
func TestHashTies(t *testing.T) {
	table := map[string]uint64{"b#0": 10, "a#0": 10, "c#0": 20}
	h := func(b []byte) uint64 { return table[string(b)] }
	for _, order := range [][]Member{
		{{Addr: "a"}, {Addr: "b"}, {Addr: "c"}},
		{{Addr: "c"}, {Addr: "b"}, {Addr: "a"}},
	} {
		r := New(order, WithHash(h), WithVirtualNodes(1))
		if got := r.Owners(10, 3); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("Owners(10) = %v, want [a b c]", got)
		}
		if got := r.Owners(15, 3); !slices.Equal(got, []string{"c", "a", "b"}) {
			t.Errorf("Owners(15) = %v, want [c a b]", got)
		}
	}
}

func TestAppendOwnersDoesNotAllocate(t *testing.T) {
	r := New(members(100, "10.6"))
	buf := make([]string, 0, shards)
	k := uint64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		k += 0x9e3779b97f4a7c15
		buf = r.AppendShardOwners(buf[:0], k, shards)
	})
	if allocs != 0 {
		t.Fatalf("AppendShardOwners allocates %.1f times per call, want 0", allocs)
	}
}

// TestLargeRing covers the member bitset that does not fit on the stack.
func TestLargeRing(t *testing.T) {
	r := New(members(1500, "10.7"), WithVirtualNodes(4))
	got := r.Owners(12345, r.Len())
	if len(got) != 1500 {
		t.Fatalf("Owners(k, Len) has %d members, want 1500", len(got))
	}
	slices.Sort(got)
	if !slices.Equal(got, addrs(r.Members())) {
		t.Fatal("Owners(k, Len) is not every member once")
	}
}

func TestCurrent(t *testing.T) {
	var c Current
	if c.Load() == nil || c.Load().Len() != 0 {
		t.Fatal("zero Current does not hold an empty ring")
	}
	rings := []*Ring{New(members(3, "10.0")), New(members(4, "10.0"))}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				if i == 0 {
					c.Store(rings[j%2])
					continue
				}
				if n := c.Load().Len(); n != 0 && n != 3 && n != 4 {
					t.Errorf("Load saw a ring of %d members", n)
				}
			}
		})
	}
	wg.Wait()
	c.Store(rings[1])
	if c.Load() != rings[1] {
		t.Fatal("Load does not return the stored ring")
	}
	c.Store(nil)
	if c.Load() == nil || c.Load().Len() != 0 {
		t.Fatal("Store(nil) does not hold an empty ring")
	}
}

func BenchmarkOwners_100Members_6(b *testing.B) {
	r := New(members(100, "10.0"))
	b.ReportAllocs()
	k := uint64(0)
	for b.Loop() {
		k += 0x9e3779b97f4a7c15
		_ = r.Owners(k, shards)
	}
}

func BenchmarkAppendOwners_100Members_6(b *testing.B) {
	r := New(members(100, "10.0"))
	buf := make([]string, 0, shards)
	b.ReportAllocs()
	k := uint64(0)
	for b.Loop() {
		k += 0x9e3779b97f4a7c15
		buf = r.AppendOwners(buf[:0], k, shards)
	}
}

func BenchmarkNew_100Members(b *testing.B) {
	ms := members(100, "10.0")
	b.ReportAllocs()
	for b.Loop() {
		_ = New(ms)
	}
}
