package origin

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// SyntheticPrefix is the URL path prefix of the reference origin's
// generated objects: SyntheticPrefix + "<size>/<name>", size in bytes.
const SyntheticPrefix = "/synthetic/"

// SyntheticModTime is the Last-Modified time of every synthetic object.
// Fixed so that every origin process serves the same validators.
var SyntheticModTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// syntheticBlock is the unit of generation: each block has its own seed so
// that any byte range can be produced without generating what precedes it.
const syntheticBlock = 4096

// SyntheticPath returns the URL path of the synthetic object of the given
// size and name.
func SyntheticPath(size int64, name string) string {
	return SyntheticPrefix + strconv.FormatInt(size, 10) + "/" + name
}

// ParseSyntheticPath reports the size and name of a synthetic object path.
// The name may contain further slashes; it must not be empty.
func ParseSyntheticPath(path string) (size int64, name string, ok bool) {
	rest, found := strings.CutPrefix(path, SyntheticPrefix)
	if !found {
		return 0, "", false
	}
	sizeStr, name, found := strings.Cut(rest, "/")
	if !found || name == "" || sizeStr == "" {
		return 0, "", false
	}
	size, err := strconv.ParseInt(sizeStr, 10, 64)
	if err != nil || size < 0 {
		return 0, "", false
	}
	return size, name, true
}

// SyntheticETag returns the strong ETag of a synthetic object. It depends on
// the name and the size only, so it is the same on every origin process.
func SyntheticETag(size int64, name string) string {
	return fmt.Sprintf(`"syn-%016x"`, syntheticSeed(size, name))
}

func syntheticSeed(size int64, name string) uint64 {
	d := xxhash.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(size))
	_, _ = d.Write(b[:])
	_, _ = d.WriteString(name)
	return d.Sum64()
}

// SyntheticFill writes into dst the bytes [off, off+len(dst)) of the
// synthetic object of the given size and name. Any client can recompute any
// range of any synthetic object from its URL, so the benchmark verifies every
// byte it receives without storing data. Bytes past size are not defined;
// callers stay within the object.
func SyntheticFill(dst []byte, size int64, name string, off int64) {
	seed := syntheticSeed(size, name)
	var block [syntheticBlock]byte
	for len(dst) > 0 {
		b := off / syntheticBlock
		in := int(off % syntheticBlock)
		if in == 0 && len(dst) >= syntheticBlock {
			fillBlock((*[syntheticBlock]byte)(dst), seed, b)
			dst = dst[syntheticBlock:]
			off += syntheticBlock
			continue
		}
		fillBlock(&block, seed, b)
		n := copy(dst, block[in:])
		dst = dst[n:]
		off += int64(n)
	}
}

// fillBlock fills one block with splitmix64 output seeded by the object and
// the block index: about 1 ns per 8 bytes, fast enough to verify at line rate.
func fillBlock(dst *[syntheticBlock]byte, seed uint64, block int64) {
	x := seed ^ (uint64(block)+1)*0x9E3779B97F4A7C15
	for i := 0; i < syntheticBlock; i += 8 {
		x += 0x9E3779B97F4A7C15
		z := x
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		binary.LittleEndian.PutUint64(dst[i:], z)
	}
}
