package disk

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// IOBufferBytes bounds the memory the process maps for I/O buffers in
// huge pages (hugeSlabs: lent read buffers and the writers' buffers), for
// all its stores together; past it, buffers come from Go's heap. It is
// memory outside Go's heap, which the Go memory limit does not see: the
// edge's budget counts it apart.
const IOBufferBytes = 32 << 20

const (
	// hugePage is the size of the transparent huge pages slabs are
	// aligned to.
	hugePage = 2 << 20
	// slabBytes is what one slab maps, unless its buffers are larger:
	// fifteen buffers of a 1 MiB chunk, so that a store that lends
	// little maps little. Only the pages written are resident, and the
	// free list lends the buffer given back last first.
	slabBytes = 16 << 20
)

// hugeSlabs hands out read buffers carved from slabs mapped apart from
// Go's heap, aligned to 2 MiB and advised for transparent huge pages
// (MADV_HUGEPAGE), so that a buffer of a 1 MiB chunk lies on one or two
// physically contiguous pages. A direct read into it is then one or two
// segments for the device, where a buffer in 4 KiB pages is 257: a virtio
// disk takes at most 254 segments a request (max_segments), so such a
// read is split in two requests, and the device handles each segment
// apart. Measured on a virtio disk, reads of 1 MiB records ran 2.3 to 2.5
// times as fast into huge pages (BenchmarkReadBuffers; docs/design.md,
// "Index and memory"). Where the kernel has no transparent huge pages for the
// process (THP "never"), the slabs are plain pages and the buffers work as
// the heap's do.
//
// Slabs are mapped on demand, up to limit bytes, and never unmapped: their
// buffers go back to a free list per class for the life of the process. A
// buffer never given back is lost to the slabs, not to correctness.
type hugeSlabs struct {
	mu     sync.Mutex
	free   [bufClasses][]*[]byte
	ranges []slabRange // where the slabs are, to tell their buffers from the heap's
	mapped int64
	limit  int64
	off    bool // mapping failed: the heap only from then on
}

type slabRange struct{ start, end uintptr }

// slabs is the process's pool of buffers in huge pages.
var slabs = hugeSlabs{limit: IOBufferBytes}

// get returns a free buffer of class, n bytes long, mapping a new slab of
// such buffers if there is none and the limit allows; nil if neither.
func (h *hugeSlabs) get(class, n int) *[]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.free[class]) == 0 && !h.grow(class, n) {
		return nil
	}
	f := h.free[class]
	p := f[len(f)-1]
	f[len(f)-1] = nil
	h.free[class] = f[:len(f)-1]
	return p
}

// grow maps a slab of buffers of class, each n bytes, within the limit.
func (h *hugeSlabs) grow(class, n int) bool {
	size := roundUp(int64(max(slabBytes, n)), hugePage)
	if room := (h.limit - h.mapped) / hugePage * hugePage; size > room {
		size = room
	}
	if h.off || size < int64(n) {
		return false
	}
	slab, err := mapHuge(int(size))
	if err != nil {
		h.off = true
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(slab)))
	h.ranges = append(h.ranges, slabRange{start, start + uintptr(len(slab))})
	h.mapped += size
	for i := range len(slab) / n {
		b := slab[i*n : (i+1)*n : (i+1)*n]
		h.free[class] = append(h.free[class], &b)
	}
	return true
}

// put takes back p, of class, if it is a slab's buffer, and reports
// whether it was.
func (h *hugeSlabs) put(class int, p *[]byte) bool {
	a := uintptr(unsafe.Pointer(unsafe.SliceData(*p)))
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.ranges {
		if a >= s.start && a < s.end {
			h.free[class] = append(h.free[class], p)
			return true
		}
	}
	return false
}

// mapHuge maps n bytes (a multiple of hugePage: a huge page must lie
// whole within the mapping) of private anonymous memory at a 2 MiB
// boundary, advised for huge pages.
func mapHuge(n int) ([]byte, error) {
	size := uintptr(n) + hugePage
	p, err := unix.MmapPtr(-1, 0, nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	// Keep the aligned n bytes and give the rest back.
	head := (hugePage - uintptr(p)%hugePage) % hugePage
	if head > 0 {
		_ = unix.MunmapPtr(p, head)
	}
	if tail := size - head - uintptr(n); tail > 0 {
		_ = unix.MunmapPtr(unsafe.Add(p, head+uintptr(n)), tail)
	}
	b := unsafe.Slice((*byte)(unsafe.Add(p, head)), n)
	// Advice only: refused, the slab is in plain pages, as the heap is.
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	return b, nil
}

// roundUp rounds n up to a multiple of to.
func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }
