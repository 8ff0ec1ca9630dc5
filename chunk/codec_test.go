package chunk

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

const mib = 1 << 20

var testKey = Key{Object: "/videos/a.mp4", Version: `e:"v1"`, Index: 7}

func mustCodec(t testing.TB, k, m int) *Codec {
	t.Helper()
	c, err := NewCodec(k, m)
	if err != nil {
		t.Fatalf("NewCodec(%d, %d): %v", k, m, err)
	}
	return c
}

func randomChunk(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// subsets calls fn with every subset of {0..n-1} of at most size elements.
func subsets(n, size int, fn func([]int)) {
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		fn(cur)
		if len(cur) == size {
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
}

// without returns shards minus the given indices, shuffled: Reconstruct
// must not depend on order.
func without(rng *rand.Rand, shards []Shard, drop []int) []Shard {
	var out []Shard
	for i, s := range shards {
		if !containsInt(drop, i) {
			out = append(out, s)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestNewCodecLimits(t *testing.T) {
	for _, tc := range []struct{ k, m int }{{0, 2}, {-1, 0}, {4, -1}, {256, 0}, {200, 57}, {1, 256}} {
		if _, err := NewCodec(tc.k, tc.m); !errors.Is(err, ErrInvalidShardCount) {
			t.Errorf("NewCodec(%d, %d): %v, want ErrInvalidShardCount", tc.k, tc.m, err)
		}
	}
	for _, tc := range []struct{ k, m int }{{1, 0}, {4, 2}, {255, 1}, {1, 255}, {128, 128}} {
		c, err := NewCodec(tc.k, tc.m)
		if err != nil {
			t.Errorf("NewCodec(%d, %d): %v", tc.k, tc.m, err)
			continue
		}
		if c.Data() != tc.k || c.Parity() != tc.m || c.Total() != tc.k+tc.m {
			t.Errorf("NewCodec(%d, %d) reports %d+%d=%d", tc.k, tc.m, c.Data(), c.Parity(), c.Total())
		}
	}
}

// TestCodecRoundTrip reconstructs chunks of awkward lengths from every
// combination of up to m missing shards.
func TestCodecRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, shape := range []struct{ k, m int }{{4, 2}, {1, 0}, {1, 2}, {3, 3}, {10, 4}} {
		c := mustCodec(t, shape.k, shape.m)
		lengths := []int{1, shape.k - 1, shape.k, shape.k + 1, 1000}
		if shape.k == 4 && shape.m == 2 || testing.Short() == false && shape.k == 3 {
			lengths = append(lengths, mib, mib-1)
		}
		for _, n := range lengths {
			if n < 1 {
				continue
			}
			t.Run(fmt.Sprintf("%d+%d/%d", shape.k, shape.m, n), func(t *testing.T) {
				chunk := randomChunk(rng, n)
				shards, err := c.Encode(testKey, chunk)
				if err != nil {
					t.Fatal(err)
				}
				if len(shards) != c.Total() {
					t.Fatalf("Encode returned %d shards, want %d", len(shards), c.Total())
				}
				subsets(c.Total(), c.Parity(), func(drop []int) {
					got, err := c.Reconstruct(without(rng, shards, drop))
					if err != nil {
						t.Fatalf("without %v: %v", drop, err)
					}
					if !bytes.Equal(got, chunk) {
						t.Fatalf("without %v: reconstructed chunk differs", drop)
					}
					intoPlace(t, rng, c, shards, drop, chunk)
				})
			})
		}
	}
}

// intoPlace checks ReconstructInto against the chunk: the surviving data
// shards are put at their place in a buffer, some of them (as a reader
// does that streams data shards into the chunk), and the chunk must come
// out right, in that buffer, whichever were in place. A buffer too small
// for the chunk is replaced, not overrun.
func intoPlace(t *testing.T, rng *rand.Rand, c *Codec, shards []Shard, drop []int, chunk []byte) {
	t.Helper()
	sl := c.ShardLen(len(chunk))
	dst := make([]byte, c.Data()*sl)
	for i := range dst {
		dst[i] = 0xa5 // garbage where nothing is placed: it must be overwritten
	}
	in := without(rng, shards, drop)
	for j := range in {
		s := &in[j]
		if s.Index < c.Data() && len(s.Bytes) > 0 && rng.IntN(2) == 0 {
			at := dst[s.Index*sl : (s.Index+1)*sl]
			copy(at, s.Bytes)
			s.Bytes = at
		}
	}
	got, err := c.ReconstructInto(dst, in)
	if err != nil || !bytes.Equal(got, chunk) {
		t.Fatalf("ReconstructInto without %v: %v, equal=%v", drop, err, bytes.Equal(got, chunk))
	}
	if &got[0] != &dst[0] {
		t.Fatalf("ReconstructInto without %v: result is not in dst", drop)
	}
	small := make([]byte, c.Data()*sl-1)
	if got, err := c.ReconstructInto(small, without(rng, shards, drop)); err != nil || !bytes.Equal(got, chunk) {
		t.Fatalf("ReconstructInto a short buffer without %v: %v", drop, err)
	}
}

func TestEncodeShards(t *testing.T) {
	c := mustCodec(t, 4, 2)
	chunk := randomChunk(rand.New(rand.NewPCG(3, 4)), 4*100+3) // shard length 101
	shards, err := c.Encode(testKey, chunk)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range shards {
		if s.Key != testKey || s.Index != i || s.Data != 4 || s.Parity != 2 || s.ChunkLen != len(chunk) {
			t.Errorf("shard %d header: %+v", i, s)
		}
		if len(s.Bytes) != 101 || cap(s.Bytes) != 101 {
			t.Errorf("shard %d: len %d cap %d, want 101 and 101", i, len(s.Bytes), cap(s.Bytes))
		}
	}
	// Whole data shards alias the chunk; the straddling one is padded.
	for i := range 3 {
		if &shards[i].Bytes[0] != &chunk[i*101] {
			t.Errorf("data shard %d does not alias the chunk", i)
		}
	}
	last := shards[3].Bytes
	if !bytes.Equal(last[:100], chunk[303:]) || last[100] != 0 {
		t.Errorf("last data shard not the chunk's tail padded with a zero")
	}
}

func TestEncodeRejects(t *testing.T) {
	c := mustCodec(t, 4, 2)
	if _, err := c.Encode(testKey, nil); err == nil {
		t.Error("Encode of an empty chunk succeeded")
	}
	for _, k := range []Key{
		{Object: "/a", Version: "", Index: 0},
		{Object: "/a", Version: "e:x", Index: -1},
		{Object: string(make([]byte, maxKeyLen)), Version: "e:x", Index: 0},
	} {
		if _, err := c.Encode(k, []byte("data")); !errors.Is(err, ErrBadKey) {
			t.Errorf("Encode with key %.40q: %v, want ErrBadKey", k.String(), err)
		}
	}
}

func TestReconstructTooFewShards(t *testing.T) {
	c := mustCodec(t, 4, 2)
	shards, err := c.Encode(testKey, []byte("hello, erasure-coded world"))
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]Shard{
		"none":       nil,
		"three":      shards[1:4],
		"duplicates": {shards[0], shards[0], shards[1], shards[2]},
		"holes":      {shards[0], {}, shards[1], {}, shards[5], {}},
	} {
		if _, err := c.Reconstruct(in); !errors.Is(err, ErrTooFewShards) {
			t.Errorf("%s: %v, want ErrTooFewShards", name, err)
		}
		if _, err := c.Rebuild(in); !errors.Is(err, ErrTooFewShards) {
			t.Errorf("Rebuild %s: %v, want ErrTooFewShards", name, err)
		}
	}
	// Holes and duplicates are fine when k distinct shards remain.
	in := []Shard{{}, shards[5], shards[5], {}, shards[0], shards[3], shards[3], shards[2]}
	if _, err := c.Reconstruct(in); err != nil {
		t.Errorf("holes and duplicates around 4 distinct shards: %v", err)
	}
}

func TestReconstructMismatch(t *testing.T) {
	c := mustCodec(t, 4, 2)
	chunk := []byte("hello, erasure-coded world")
	shards, err := c.Encode(testKey, chunk)
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.Encode(Key{Object: testKey.Object, Version: `e:"v2"`, Index: testKey.Index}, chunk)
	if err != nil {
		t.Fatal(err)
	}
	longer, err := c.Encode(testKey, append(chunk, "!!!!"...))
	if err != nil {
		t.Fatal(err)
	}
	c33 := mustCodec(t, 3, 3)
	shards33, err := c33.Encode(testKey, chunk)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(i int, f func(*Shard)) Shard {
		s := shards[i]
		f(&s)
		return s
	}
	for name, odd := range map[string]Shard{
		"other key":      other[3],
		"other length":   longer[3],
		"other k and m":  shards33[3],
		"other m":        edit(3, func(s *Shard) { s.Parity = 3 }),
		"other sum":      edit(3, func(s *Shard) { s.ChunkSum++ }),
		"index too big":  edit(3, func(s *Shard) { s.Index = 6 }),
		"negative index": edit(3, func(s *Shard) { s.Index = -1 }),
		"short bytes":    edit(3, func(s *Shard) { s.Bytes = s.Bytes[:len(s.Bytes)-1] }),
		"zero length":    edit(3, func(s *Shard) { s.ChunkLen = 0 }),
	} {
		in := []Shard{shards[0], shards[1], shards[2], odd, shards[4]}
		if _, err := c.Reconstruct(in); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: %v, want ErrMismatch", name, err)
		}
		if _, err := c.Rebuild(in); !errors.Is(err, ErrMismatch) {
			t.Errorf("Rebuild %s: %v, want ErrMismatch", name, err)
		}
	}
	// Shards of a 3+3 chunk do not fit a 4+2 codec even all together.
	if _, err := c.Reconstruct(shards33); !errors.Is(err, ErrMismatch) {
		t.Errorf("3+3 shards into a 4+2 codec: %v, want ErrMismatch", err)
	}
}

// TestReconstructCorrupt damages shard bytes after framing (as memory or a
// buggy peer could) and checks that the chunk checksum catches it whether
// the damage is concatenated or decoded.
func TestReconstructCorrupt(t *testing.T) {
	c := mustCodec(t, 4, 2)
	chunk := randomChunk(rand.New(rand.NewPCG(5, 6)), 4096)
	for name, tc := range map[string]struct {
		damage int   // shard whose byte is flipped
		drop   []int // shards left out
	}{
		"data shard, no decode": {damage: 2},
		"parity shard, decoded": {damage: 4, drop: []int{0, 1}},
		"data shard, decoded":   {damage: 3, drop: []int{0}},
	} {
		shards, err := c.Encode(testKey, bytes.Clone(chunk))
		if err != nil {
			t.Fatal(err)
		}
		shards[tc.damage].Bytes = bytes.Clone(shards[tc.damage].Bytes)
		shards[tc.damage].Bytes[17] ^= 0x40
		in := without(rand.New(rand.NewPCG(7, 8)), shards, tc.drop)
		if got, err := c.Reconstruct(in); !errors.Is(err, ErrCorrupt) || got != nil {
			t.Errorf("%s: got %d bytes, %v; want nil, ErrCorrupt", name, len(got), err)
		}
		if got, err := c.Rebuild(in); !errors.Is(err, ErrCorrupt) || got != nil {
			t.Errorf("Rebuild %s: got %d shards, %v; want nil, ErrCorrupt", name, len(got), err)
		}
	}
}

// TestRebuild checks that repair restores missing shards byte-identical to
// the originals, so a repaired owner holds exactly what a fill would give it.
func TestRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	c := mustCodec(t, 4, 2)
	for _, n := range []int{1, 3, 5, mib - 1} {
		chunk := randomChunk(rng, n)
		want, err := c.Encode(testKey, chunk)
		if err != nil {
			t.Fatal(err)
		}
		subsets(c.Total(), c.Parity(), func(drop []int) {
			got, err := c.Rebuild(without(rng, want, drop))
			if err != nil {
				t.Fatalf("%d bytes without %v: %v", n, drop, err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d bytes without %v: %d shards, want %d", n, drop, len(got), len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.Key != w.Key || g.Index != w.Index || g.Data != w.Data || g.Parity != w.Parity ||
					g.ChunkLen != w.ChunkLen || g.ChunkSum != w.ChunkSum || !bytes.Equal(g.Bytes, w.Bytes) {
					t.Fatalf("%d bytes without %v: shard %d differs from Encode's", n, drop, i)
				}
			}
		})
	}
}

func TestCodecConcurrent(t *testing.T) {
	c := mustCodec(t, 4, 2)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 11))
			for range 20 {
				chunk := randomChunk(rng, 1+rng.IntN(64<<10))
				shards, err := c.Encode(testKey, chunk)
				if err != nil {
					t.Error(err)
					return
				}
				drop := []int{rng.IntN(6), rng.IntN(6)}
				got, err := c.Reconstruct(without(rng, shards, drop))
				if err != nil || !bytes.Equal(got, chunk) {
					t.Errorf("without %v: %v", drop, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func benchShards(b *testing.B) (*Codec, []byte, []Shard) {
	c := mustCodec(b, 4, 2)
	chunk := randomChunk(rand.New(rand.NewPCG(12, 13)), mib)
	shards, err := c.Encode(testKey, chunk)
	if err != nil {
		b.Fatal(err)
	}
	return c, chunk, shards
}

func BenchmarkEncode_4x2_1MiB(b *testing.B) {
	c, chunk, _ := benchShards(b)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(testKey, chunk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReconstruct_4x2_1MiB_DataPresent(b *testing.B) {
	c, chunk, shards := benchShards(b)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Reconstruct(shards[:4]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReconstructInto_4x2_1MiB_DataInPlace is a peer rebuild that
// read the data shards straight into the chunk: only the checksum is left.
func BenchmarkReconstructInto_4x2_1MiB_DataInPlace(b *testing.B) {
	c, chunk, shards := benchShards(b)
	sl := c.ShardLen(len(chunk))
	dst := make([]byte, 4*sl)
	in := append([]Shard(nil), shards[:4]...)
	for i := range in {
		copy(dst[i*sl:], in[i].Bytes)
		in[i].Bytes = dst[i*sl : (i+1)*sl]
	}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ReconstructInto(dst, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReconstruct_4x2_1MiB_TwoDataMissing(b *testing.B) {
	c, chunk, shards := benchShards(b)
	in := []Shard{shards[1], shards[3], shards[4], shards[5]}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Reconstruct(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRebuild_4x2_1MiB_OneDataMissing(b *testing.B) {
	c, chunk, shards := benchShards(b)
	in := []Shard{shards[0], shards[1], shards[3], shards[4], shards[5]}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Rebuild(in); err != nil {
			b.Fatal(err)
		}
	}
}
