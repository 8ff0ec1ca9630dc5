package origin

import (
	"context"
	"net/http/httptest"
	"testing"
)

func BenchmarkSyntheticFill_1MiB(b *testing.B) {
	dst := make([]byte, 1<<20)
	b.SetBytes(int64(len(dst)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		SyntheticFill(dst, 1<<30, "bench.mp4", int64(i%1024)<<20)
	}
}

// BenchmarkSyntheticFill_Unaligned_64KiB measures the partial-block path
// a ranged read at an arbitrary offset takes.
func BenchmarkSyntheticFill_Unaligned_64KiB(b *testing.B) {
	dst := make([]byte, 64<<10)
	b.SetBytes(int64(len(dst)))
	b.ReportAllocs()
	for b.Loop() {
		SyntheticFill(dst, 1<<30, "bench.mp4", 12345)
	}
}

// BenchmarkReadRange_1MiB is one chunk fill from the reference origin over
// loopback: the client's cost plus the server's generation.
func BenchmarkReadRange_1MiB(b *testing.B) {
	s, err := NewServer(ServerConfig{Synthetic: true})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	c, err := NewClient(Config{BaseURL: hs.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()
	p := SyntheticPath(1<<30, "bench.mp4")
	m, err := c.Stat(ctx, p)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 1<<20)
	b.SetBytes(int64(len(dst)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := c.ReadRange(ctx, p, m, nil, int64(i%1024)<<20, dst); err != nil {
			b.Fatal(err)
		}
	}
}
