package origin

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

func TestSyntheticFillSubRangesMatchFullGeneration(t *testing.T) {
	const size = 5*syntheticBlock + 123
	full := make([]byte, size)
	SyntheticFill(full, size, "movie.mp4", 0)
	rng := rand.New(rand.NewPCG(1, 2))
	cases := [][2]int{{0, 1}, {0, size}, {1, size - 1}, {syntheticBlock - 1, 2}, {syntheticBlock, syntheticBlock},
		{syntheticBlock - 3, 2*syntheticBlock + 7}, {size - 1, 1}, {size - 123, 123}}
	for range 200 {
		off := rng.IntN(size)
		cases = append(cases, [2]int{off, 1 + rng.IntN(size-off)})
	}
	for _, c := range cases {
		off, n := c[0], c[1]
		got := make([]byte, n)
		SyntheticFill(got, size, "movie.mp4", int64(off))
		if !bytes.Equal(got, full[off:off+n]) {
			t.Fatalf("SyntheticFill(off=%d, n=%d) differs from the same bytes of a full generation", off, n)
		}
	}
}

func TestSyntheticFillDependsOnNameAndSize(t *testing.T) {
	const n = 3 * syntheticBlock
	a, b, c, again := make([]byte, n), make([]byte, n), make([]byte, n), make([]byte, n)
	SyntheticFill(a, 1<<20, "a.mp4", 0)
	SyntheticFill(b, 1<<20, "b.mp4", 0)
	SyntheticFill(c, 1<<20+1, "a.mp4", 0)
	SyntheticFill(again, 1<<20, "a.mp4", 0)
	if bytes.Equal(a, b) {
		t.Error("different names generate the same bytes")
	}
	if bytes.Equal(a, c) {
		t.Error("different sizes generate the same bytes")
	}
	if !bytes.Equal(a, again) {
		t.Error("generation is not deterministic")
	}
	// Blocks must differ from each other too, or a misplaced chunk would
	// go unnoticed by verification.
	if bytes.Equal(a[:syntheticBlock], a[syntheticBlock:2*syntheticBlock]) {
		t.Error("two blocks of one object are equal")
	}
}

func TestSyntheticPathRoundTrip(t *testing.T) {
	for _, c := range []struct {
		size int64
		name string
	}{{0, "empty"}, {1 << 30, "v/seg-1.m4s"}, {12345, "a b.ts"}} {
		p := SyntheticPath(c.size, c.name)
		size, name, ok := ParseSyntheticPath(p)
		if !ok || size != c.size || name != c.name {
			t.Errorf("ParseSyntheticPath(%q) = %d, %q, %v", p, size, name, ok)
		}
	}
	for _, p := range []string{"/synthetic/", "/synthetic/10", "/synthetic/10/", "/synthetic//x", "/synthetic/-1/x",
		"/synthetic/1e3/x", "/synthetic/99999999999999999999/x", "/other/10/x", "synthetic/10/x"} {
		if _, _, ok := ParseSyntheticPath(p); ok {
			t.Errorf("ParseSyntheticPath(%q) accepted", p)
		}
	}
}

func TestSyntheticETag(t *testing.T) {
	e := SyntheticETag(100, "x")
	if !isStrongETag(e) {
		t.Errorf("SyntheticETag = %s, not a strong ETag", e)
	}
	if e == SyntheticETag(101, "x") || e == SyntheticETag(100, "y") {
		t.Error("SyntheticETag ignores the size or the name")
	}
	if e != SyntheticETag(100, "x") {
		t.Error("SyntheticETag is not deterministic")
	}
}

func TestSyntheticReaderSeeksAndReads(t *testing.T) {
	const size = 10000
	want := make([]byte, size)
	SyntheticFill(want, size, "r", 0)
	r := &syntheticReader{size: size, name: "r"}
	if n, err := r.Seek(-100, io.SeekEnd); err != nil || n != size-100 {
		t.Fatalf("Seek(-100, End) = %d, %v", n, err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want[size-100:]) {
		t.Fatalf("read after SeekEnd: %d bytes, %v", len(got), err)
	}
	if _, err := r.Seek(-size-1, io.SeekCurrent); err == nil {
		t.Error("seek to a negative offset accepted")
	}
	if _, err := r.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.Seek(10, io.SeekCurrent); n != 15 {
		t.Fatalf("SeekCurrent = %d, want 15", n)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf, want[15:22]) {
		t.Fatalf("read after seeks = %x, %v", buf, err)
	}
	if _, err := r.Seek(0, 42); err == nil {
		t.Error("bad whence accepted")
	}
}
