package disk

import (
	"math/bits"
	"sync"
)

// Read buffers that callers give back (Value.Release) are reused by later
// reads: a buffer Go allocates for a read is zeroed first, a megabyte
// written at memory speed only for the read to overwrite it. Measured on
// reads of 1 MiB with O_DIRECT, the zeroing cost more CPU than the read's
// system call.
//
// They come first from slabs in huge pages (hugeSlabs), up to
// IOBufferBytes in all, and past that from Go's heap, pooled in a
// sync.Pool per class: the garbage collector takes those not used since
// its last cycle, so a burst past the slabs does not stay.
//
// A buffer is of one class: a record of b blocks takes a buffer of b-1
// rounded up to four significant bits, plus one block. Values are usually
// a power of two (chunks, and the shards of a chunk) behind one block of
// header, which that fits exactly; any other size wastes at most an
// eighth.
var bufPools [bufClasses]sync.Pool

// bufClasses covers records of up to maxRegionSize/BlockSize + 1 blocks.
const bufClasses = 16 + 8*(17-4)

// bufClass returns the class of a record of blocks blocks and the blocks
// a buffer of that class holds.
func bufClass(blocks int) (class, size int) {
	m := blocks - 1
	if m < 16 {
		return m, m + 1
	}
	shift := bits.Len(uint(m)) - 4
	m = (m + 1<<shift - 1) >> shift << shift
	shift = bits.Len(uint(m)) - 4 // rounding up may carry into a new top bit
	return 16 + 8*(shift-1) + m>>shift - 8, m + 1
}

// getBuf returns a block-aligned buffer of blocks blocks, from the huge
// page slabs if they have room, else from its class's pool, else new; its
// contents are whatever its last read left.
func getBuf(blocks int) *[]byte {
	c, size := bufClass(blocks)
	if c >= bufClasses {
		b := alignedBuf(blocks * BlockSize)
		return &b
	}
	if p := slabs.get(c, size*BlockSize); p != nil {
		*p = (*p)[:blocks*BlockSize]
		return p
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		*p = (*p)[:blocks*BlockSize]
		return p
	}
	b := alignedBuf(size * BlockSize)[:blocks*BlockSize]
	return &b
}

// putBuf gives a buffer from getBuf back to where it came from. The caller
// must not use it again: the next getBuf of its class may return it.
func putBuf(p *[]byte) {
	c, size := bufClass(cap(*p) / BlockSize)
	if c >= bufClasses || cap(*p) != size*BlockSize || slabs.put(c, p) {
		return
	}
	bufPools[c].Put(p)
}
