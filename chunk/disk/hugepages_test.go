package disk

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// addr is where b's bytes start.
func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// TestHugeSlabsLendWithinTheirLimit checks the slabs' buffers: aligned
// for direct I/O, of the class's length, apart from each other; none
// past the limit; a buffer given back is lent again, and one from the
// heap is not taken.
func TestHugeSlabsLendWithinTheirLimit(t *testing.T) {
	const n = 257 * BlockSize        // a 1 MiB chunk's record
	h := &hugeSlabs{limit: 16 << 20} // one slab: 15 such buffers, and 0.9 MiB left over
	c, _ := bufClass(257)
	var got []*[]byte
	for {
		p := h.get(c, n)
		if p == nil {
			break
		}
		if len(*p) != n || cap(*p) != n || !aligned(*p) {
			t.Fatalf("buffer %d: %d bytes of %d, aligned %v", len(got), len(*p), cap(*p), aligned(*p))
		}
		got = append(got, p)
	}
	if len(got) != 15 || h.mapped > h.limit {
		t.Fatalf("%d buffers, %d bytes mapped, for a limit of %d: want 15 within it", len(got), h.mapped, h.limit)
	}
	for _, s := range h.ranges {
		if s.start%hugePage != 0 {
			t.Errorf("a slab at %#x: not on a huge page's boundary", s.start)
		}
	}
	seen := map[uintptr]bool{}
	for _, p := range got {
		a := addr(*p)
		for o := range seen {
			if a < o+n && o < a+n {
				t.Fatalf("buffers at %#x and %#x overlap", a, o)
			}
		}
		seen[a] = true
		(*p)[0], (*p)[n-1] = 1, 1 // the memory is there to write
	}
	if !h.put(c, got[3]) {
		t.Fatal("a slab's buffer was not taken back")
	}
	if p := h.get(c, n); p == nil || addr(*p) != addr(*got[3]) {
		t.Error("the buffer given back was not lent again")
	}
	heap := alignedBuf(n)
	if h.put(c, &heap) {
		t.Error("a heap buffer was taken as a slab's")
	}
	if p := h.get(c, n); p != nil {
		t.Error("a buffer past the limit")
	}
}

// TestHugeSlabsNeverLendABufferTwice lends and takes back buffers from
// several goroutines at once, each stamping the buffers it holds and
// checking its stamp before it gives them back: a buffer lent twice would
// carry another's stamp. Buffers of two classes, so that classes do not
// mix either.
func TestHugeSlabsNeverLendABufferTwice(t *testing.T) {
	h := &hugeSlabs{limit: 4 << 20}
	classes := []int{17, 65} // blocks: a 64 KiB and a 256 KiB value behind a header
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var held []*[]byte
			for i := range 2000 {
				if len(held) > 0 && (len(held) > 4 || r.IntN(2) == 0) {
					k := r.IntN(len(held))
					p := held[k]
					if id := binary.LittleEndian.Uint64((*p)[len(*p)-8:]); id != uint64(g) {
						t.Errorf("goroutine %d: a buffer it holds says %d", g, id)
						return
					}
					c, _ := bufClass(cap(*p) / BlockSize)
					h.put(c, p)
					held = append(held[:k], held[k+1:]...)
					continue
				}
				blocks := classes[i%2]
				c, size := bufClass(blocks)
				p := h.get(c, size*BlockSize)
				if p == nil {
					continue // the limit: the caller would use the heap
				}
				if cap(*p) != size*BlockSize {
					t.Errorf("class %d: a buffer of %d bytes, want %d", c, cap(*p), size*BlockSize)
					return
				}
				binary.LittleEndian.PutUint64((*p)[len(*p)-8:], uint64(g))
				held = append(held, p)
			}
		})
	}
	wg.Wait()
	if h.mapped > h.limit {
		t.Errorf("%d bytes mapped, over the limit of %d", h.mapped, h.limit)
	}
}

// TestGetBufFromTheSlabsThenTheHeap checks that getBuf lends from the
// process's slabs while they have room, then from the heap, and that
// putBuf gives each back where it came from.
func TestGetBufFromTheSlabsThenTheHeap(t *testing.T) {
	inSlabs := func(p *[]byte) bool {
		slabs.mu.Lock()
		defer slabs.mu.Unlock()
		for _, s := range slabs.ranges {
			if a := addr(*p); a >= s.start && a < s.end {
				return true
			}
		}
		return false
	}
	var held []*[]byte
	defer func() {
		for _, p := range held {
			putBuf(p)
		}
	}()
	for range IOBufferBytes/(257*BlockSize) + 1 {
		p := getBuf(257)
		if len(*p) != 257*BlockSize || !aligned(*p) {
			t.Fatalf("getBuf(257): %d bytes, aligned %v", len(*p), aligned(*p))
		}
		held = append(held, p)
	}
	if !inSlabs(held[0]) {
		t.Skip("no slabs here (mapping refused): buffers come from the heap")
	}
	if last := held[len(held)-1]; inSlabs(last) {
		t.Errorf("a buffer past %d bytes of slabs came from the slabs", IOBufferBytes)
	}
}

// BenchmarkReadBuffers reads records of a 1 MiB chunk (257 blocks) at
// random places of a 256 MiB file with direct I/O, four readers at once
// as a store's, into buffers from Go's heap and from the huge-page slabs:
// how much the device gains from a buffer that is one segment and not
// 257. The file is in b.TempDir(), or in $EDGECACHE_DISK_BENCH_DIR to
// measure a given device.
func BenchmarkReadBuffers(b *testing.B) {
	const size, n = 256 << 20, 257 * BlockSize
	dir := b.TempDir()
	if d := os.Getenv("EDGECACHE_DISK_BENCH_DIR"); d != "" {
		dir = d
	}
	f, err := OSFS{}.Open(filepath.Join(dir, "read-buffers.bench"), size, true)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if !f.Direct() {
		b.Skip("no direct I/O on this file system: the page cache would answer")
	}
	// Written, so that reads reach the device: an extent only allocated
	// reads as zeros without it.
	w := alignedBuf(1 << 20)
	for off := int64(0); off < size; off += int64(len(w)) {
		if _, err := f.WriteAt(w, off); err != nil {
			b.Fatal(err)
		}
	}
	for _, kind := range []string{"heap", "hugepages"} {
		b.Run(kind, func(b *testing.B) {
			b.SetBytes(n)
			b.SetParallelism(max(1, 4/runtime.GOMAXPROCS(0)))
			var seed atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				buf := alignedBuf(n)
				if kind == "hugepages" {
					slab, err := mapHuge(int(roundUp(n, hugePage)))
					if err != nil {
						b.Error(err)
						return
					}
					defer unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(slab)), uintptr(len(slab)))
					buf = slab[:n]
				}
				r := rand.New(rand.NewPCG(seed.Add(1), 2))
				for pb.Next() {
					off := r.Int64N(size/BlockSize-257) * BlockSize
					if _, err := f.ReadAt(buf, off); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
