package disk_test

import (
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/chunk/disk"
)

// The benchmarks run on the real file system: in b.TempDir(), or in
// $EDGECACHE_DISK_BENCH_DIR to measure a given device (a store there is
// kept between runs, so that a large one is filled once). The stores of
// BenchmarkDiskGetSequential_1MiB and BenchmarkDiskOpen are
// $EDGECACHE_DISK_BENCH_SIZE bytes (default 256 MiB; suffixes KiB, MiB,
// GiB), and $EDGECACHE_DISK_BENCH_BUFFERED=1 opens them with buffered I/O
// instead of O_DIRECT. scripts/disk-vs-dd.sh drives them.

func benchDir(b *testing.B, name string) string {
	if d := os.Getenv("EDGECACHE_DISK_BENCH_DIR"); d != "" {
		return d + "/" + name
	}
	return b.TempDir()
}

func benchSize(b *testing.B) int64 {
	s := os.Getenv("EDGECACHE_DISK_BENCH_SIZE")
	if s == "" {
		return 256 << 20
	}
	for suffix, mult := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, err := strconv.ParseInt(s[:max(len(s)-3, 0)], 10, 64); err == nil && s[max(len(s)-3, 0):] == suffix {
			return n * mult
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		b.Fatalf("EDGECACHE_DISK_BENCH_SIZE=%q: not a size", s)
	}
	return n
}

func benchConfig(b *testing.B, dir string, size int64) disk.Config {
	return disk.Config{Dir: dir, Size: size, Buffered: os.Getenv("EDGECACHE_DISK_BENCH_BUFFERED") == "1"}
}

// fill puts values of n bytes under keys 0, 1, ... until the store holds
// as many as fit without an eviction, unless it already does, and returns
// how many it holds.
func fill(b *testing.B, s *disk.Store, n int) int {
	st := s.Stats()
	perRegion := int((st.RegionSize - 2*disk.BlockSize) / (int64(n) + 2*disk.BlockSize))
	want := (st.Regions - 1) * perRegion
	if s.Len() >= want && s.Contains(strconv.Itoa(want-1)) {
		return want
	}
	v := make([]byte, n)
	for i := range want {
		for !s.Put(strconv.Itoa(i), "g"+strconv.Itoa(i/64), v) {
			if err := s.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if st := s.Stats(); st.Evictions != 0 || s.Len() != want {
		b.Fatalf("filled %d entries with %d evictions, want %d and none", s.Len(), st.Evictions, want)
	}
	return want
}

func benchPut(b *testing.B, n int) {
	s := mustOpen(b, disk.Config{Dir: b.TempDir(), Size: 512 << 20})
	defer mustClose(b, s)
	v := make([]byte, n)
	dropped := 0
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for !s.Put(strconv.Itoa(i), "g", v) {
			dropped++ // the queue is full: the device is the bottleneck
			if err := s.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(s.Stats().WrittenBytes)/float64(b.N)/float64(n), "written/put")
}

// BenchmarkDiskPut_256KiB measures writing: Puts of one size until the
// device is the bottleneck (a full queue waits for a Flush), in a store
// of 512 MiB that wraps and evicts as the benchmark runs. written/put is
// the write amplification: padding, headers and summaries.
func BenchmarkDiskPut_256KiB(b *testing.B) { benchPut(b, 256<<10) }

// BenchmarkDiskPut_1MiB is BenchmarkDiskPut_256KiB for 1 MiB values.
func BenchmarkDiskPut_1MiB(b *testing.B) { benchPut(b, 1<<20) }

func benchGet(b *testing.B, n int, parallel bool) {
	s := mustOpen(b, disk.Config{Dir: b.TempDir(), Size: 128<<20 + disk.BlockSize, RegionSize: 16 << 20})
	defer mustClose(b, s)
	entries := fill(b, s, n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	get := func(rng *rand.Rand) {
		if _, err := s.Get(context.Background(), strconv.Itoa(rng.IntN(entries))); err != nil {
			b.Fatal(err)
		}
	}
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
			for pb.Next() {
				get(rng)
			}
		})
		return
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		get(rng)
	}
}

// BenchmarkDiskGet_256KiB measures random reads by one caller from a
// store of 128 MiB: each Get reads a record with O_DIRECT and checks it.
func BenchmarkDiskGet_256KiB(b *testing.B) { benchGet(b, 256<<10, false) }

// BenchmarkDiskGet_1MiB is BenchmarkDiskGet_256KiB for 1 MiB values.
func BenchmarkDiskGet_1MiB(b *testing.B) { benchGet(b, 1<<20, false) }

// BenchmarkDiskGetParallel_1MiB is BenchmarkDiskGet_1MiB with GOMAXPROCS
// callers at once, sharing the store's readers.
func BenchmarkDiskGetParallel_1MiB(b *testing.B) { benchGet(b, 1<<20, true) }

// BenchmarkDiskGetSequential_1MiB reads 1 MiB values in the order they
// were written, four at a time (as a player's readahead asks the edge
// for the next chunks), each with GetValue and released once read, as a
// server that sends a value and is done with it: the device's sequential
// read bandwidth as the store delivers it, to set against dd
// iflag=direct on the same file (scripts/disk-vs-dd.sh).
func BenchmarkDiskGetSequential_1MiB(b *testing.B) { benchSequential(b, true) }

// BenchmarkDiskGetSequentialKept_1MiB is BenchmarkDiskGetSequential_1MiB
// with Get, whose values the caller keeps: every read allocates its
// buffer.
func BenchmarkDiskGetSequentialKept_1MiB(b *testing.B) { benchSequential(b, false) }

func benchSequential(b *testing.B, lend bool) {
	s := mustOpen(b, benchConfig(b, benchDir(b, "seq"), benchSize(b)))
	defer mustClose(b, s)
	entries := fill(b, s, 1<<20)
	b.ResetTimer() // Open's rebuild is BenchmarkDiskOpen's to measure, not a read's
	var next atomic.Int64
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.SetParallelism(max(1, 4/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := strconv.Itoa(int((next.Add(1) - 1) % int64(entries)))
			if !lend {
				if _, err := s.Get(context.Background(), key); err != nil {
					b.Error(err)
					return
				}
				continue
			}
			v, err := s.GetValue(context.Background(), key)
			if err != nil {
				b.Error(err)
				return
			}
			v.Release()
		}
	})
}

// BenchmarkDiskOpen measures Open of a full store of 1 MiB values: the
// index rebuild from the regions' summaries and the scan of the region
// being written.
func BenchmarkDiskOpen(b *testing.B) {
	cfg := benchConfig(b, benchDir(b, "seq"), benchSize(b))
	s := mustOpen(b, cfg)
	entries := fill(b, s, 1<<20)
	if !s.Contains("tail") {
		s.Put("tail", "g", make([]byte, 1<<20)) // the open region has a tail to scan
	}
	mustClose(b, s)
	b.ReportAllocs()
	var rebuild time.Duration
	for b.Loop() {
		s := mustOpen(b, cfg)
		if s.Len() < entries {
			b.Fatalf("reopened with %d entries, want %d", s.Len(), entries)
		}
		rebuild += s.Stats().Rebuild
		mustClose(b, s)
	}
	b.ReportMetric(float64(rebuild.Microseconds())/1000/float64(b.N), "rebuild-ms")
	b.ReportMetric(float64(entries), "entries")
	b.ReportMetric(float64(cfg.Size)/(1<<30), "GiB")
}
