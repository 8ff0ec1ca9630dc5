package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Shard is one erasure-coded piece of one chunk. It carries everything a
// reader needs to check it and to combine it with the chunk's other shards,
// so a shard found on any peer can be used without asking where it came from.
type Shard struct {
	Key      Key
	Index    int    // 0..Data+Parity-1; Index < Data are data shards (systematic code)
	Data     int    // k: data shards per chunk
	Parity   int    // m: parity shards per chunk
	ChunkLen int    // length of the whole chunk, >= 1 (the last chunk of an object is short)
	ChunkSum uint64 // xxhash64 of the whole chunk, checked after every rebuild
	Bytes    []byte // the shard's bytes, ShardLen(ChunkLen) long
	// Sum is the xxhash64 of Bytes that the shard's frame carried, set by
	// ParseFrame and DecodeFrame for Verify; Encode leaves it 0.
	Sum uint64
}

// Verify reports ErrCorrupt unless Bytes hash to Sum. DecodeFrame calls it;
// a reader that parsed frames with ParseFrame calls it only when the
// chunk they rebuild fails its checksum, to find the culprit.
func (s *Shard) Verify() error {
	if xxhash.Sum64(s.Bytes) != s.Sum {
		return fmt.Errorf("%w: shard %d of %s", ErrCorrupt, s.Index, s.Key)
	}
	return nil
}

// Frame layout, all integers big-endian (network order, readable in a hex
// dump); n is the key length, L the shard length:
//
//	offset  size  field
//	0       4     magic "ECSH"
//	4       1     format version (1)
//	5       1     k, data shards (1..255)
//	6       1     m, parity shards (0..255, k+m <= 256)
//	7       1     shard index (0..k+m-1)
//	8       4     chunk length (>= 1)
//	12      4     shard length L (= ceil(chunk length / k))
//	16      2     key length n
//	18      n     key, Key.String()
//	18+n    8     xxhash64 of the shard bytes
//	26+n    8     xxhash64 of the whole chunk
//	34+n    8     xxhash64 of bytes [0, 34+n): the header checksum
//	42+n    L     shard bytes
//
// The header checksum makes a flipped bit in the key or the counts read as
// corruption (ErrCorrupt, the shard is missing) rather than as a shard of
// some other chunk.
const (
	frameMagic    = "ECSH"
	frameVersion  = 1
	frameFixedLen = 42 // every field but the key and the shard bytes

	offKey = 18 // start of the key; the checksums follow it
)

// FrameLen returns the length of the frame AppendFrame writes for s, so a
// caller can size one buffer for several frames.
func (s *Shard) FrameLen() int {
	return frameFixedLen + s.Key.encodedLen() + len(s.Bytes)
}

// AppendFrame appends the frame of s to dst and returns the extended slice.
// It allocates only when dst lacks FrameLen bytes of spare capacity, so a
// server can write frames into a reused buffer.
//
// AppendFrame does not validate s: a Shard made by Encode, Rebuild or
// DecodeFrame always frames correctly, but one built by hand with fields out
// of the frame's ranges yields a frame that DecodeFrame rejects.
func (s *Shard) AppendFrame(dst []byte) []byte {
	dst = slices.Grow(dst, s.FrameLen())
	start := len(dst)
	dst = append(dst, frameMagic...)
	dst = append(dst, frameVersion, byte(s.Data), byte(s.Parity), byte(s.Index))
	dst = binary.BigEndian.AppendUint32(dst, uint32(s.ChunkLen))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s.Bytes)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(s.Key.encodedLen()))
	dst = s.Key.appendTo(dst)
	dst = binary.BigEndian.AppendUint64(dst, xxhash.Sum64(s.Bytes))
	dst = binary.BigEndian.AppendUint64(dst, s.ChunkSum)
	dst = binary.BigEndian.AppendUint64(dst, xxhash.Sum64(dst[start:]))
	return append(dst, s.Bytes...)
}

// DecodeFrame parses and checks one frame, which must be all of b. It
// returns ErrBadFrame for anything malformed (magic, version, k/m/index out
// of range, lengths not exactly consistent with each other and with len(b),
// a key ParseKey rejects) and ErrCorrupt when the header or shard checksum
// fails. It never panics, whatever b holds: frames come from peers.
//
// The returned Shard's Bytes aliases b (no copy on the read path): the
// caller must not modify b while the shard is in use. DecodeFrame trusts
// len(b) as the size bound; callers cap how much they read from a peer.
func DecodeFrame(b []byte) (Shard, error) {
	s, err := ParseFrame(b)
	if err != nil {
		return Shard{}, err
	}
	if err := s.Verify(); err != nil {
		return Shard{}, err
	}
	return s, nil
}

// ParseFrame is DecodeFrame without the checksum of the shard's bytes: the
// header is checked (its own checksum included), so the key, index and
// lengths can be trusted, and Sum is set for a later Verify. A reader that
// rebuilds a chunk checks the chunk's checksum anyway, which covers every
// shard it used: hashing each shard first would hash the bytes twice.
func ParseFrame(b []byte) (Shard, error) {
	hl, err := FrameHeaderLen(b)
	if err != nil {
		return Shard{}, err
	}
	if len(b) < hl {
		return Shard{}, fmt.Errorf("%w: %d bytes, shorter than its %d-byte header", ErrBadFrame, len(b), hl)
	}
	s, shardLen, err := ParseFrameHeader(b[:hl])
	if err != nil {
		return Shard{}, err
	}
	if len(b)-hl != shardLen {
		return Shard{}, fmt.Errorf("%w: %d shard bytes, header says %d", ErrBadFrame, len(b)-hl, shardLen)
	}
	s.Bytes = b[hl:len(b):len(b)]
	return s, nil
}

// FramePrefixLen is how much of a frame FrameHeaderLen needs: a reader
// that streams frames reads this much, then the rest of the header, then
// the shard's bytes straight to where they belong.
const FramePrefixLen = offKey

// MaxFrameHeaderLen bounds FrameHeaderLen, for a reader that caps how
// much a peer may send.
const MaxFrameHeaderLen = frameFixedLen + maxKeyLen

// FrameHeaderLen returns the length of the header of the frame that
// prefix (at least FramePrefixLen bytes) begins, at most
// MaxFrameHeaderLen. It checks the magic and the version, so that a stream that is not
// frames is refused before its lengths are believed.
func FrameHeaderLen(prefix []byte) (int, error) {
	if len(prefix) < FramePrefixLen {
		return 0, fmt.Errorf("%w: %d bytes, shorter than any frame", ErrBadFrame, len(prefix))
	}
	if string(prefix[:4]) != frameMagic {
		return 0, fmt.Errorf("%w: bad magic %q", ErrBadFrame, prefix[:4])
	}
	if prefix[4] != frameVersion {
		return 0, fmt.Errorf("%w: unknown format version %d", ErrBadFrame, prefix[4])
	}
	return frameFixedLen + int(binary.BigEndian.Uint16(prefix[16:])), nil
}

// ParseFrameHeader parses and checks a frame's header, all of hdr (see
// FrameHeaderLen), as ParseFrame does. It returns the shard without its
// Bytes and the number of shard bytes that follow the header.
func ParseFrameHeader(hdr []byte) (s Shard, shardLen int, err error) {
	hl, err := FrameHeaderLen(hdr)
	if err != nil {
		return Shard{}, 0, err
	}
	if len(hdr) != hl {
		return Shard{}, 0, fmt.Errorf("%w: header of %d bytes, want %d", ErrBadFrame, len(hdr), hl)
	}
	sums := hl - 24
	if xxhash.Sum64(hdr[:sums+16]) != binary.BigEndian.Uint64(hdr[sums+16:]) {
		return Shard{}, 0, fmt.Errorf("%w: header checksum", ErrCorrupt)
	}

	k, m, index := int(hdr[5]), int(hdr[6]), int(hdr[7])
	if k < 1 || k+m > maxShards || index >= k+m {
		return Shard{}, 0, fmt.Errorf("%w: k=%d m=%d index=%d out of range", ErrBadFrame, k, m, index)
	}
	chunkLen := uint64(binary.BigEndian.Uint32(hdr[8:]))
	sl := uint64(binary.BigEndian.Uint32(hdr[12:]))
	if chunkLen < 1 || chunkLen > math.MaxInt || sl != (chunkLen+uint64(k)-1)/uint64(k) {
		return Shard{}, 0, fmt.Errorf("%w: chunk length %d and shard length %d disagree for k=%d",
			ErrBadFrame, chunkLen, sl, k)
	}
	key, err := ParseKey(string(hdr[offKey:sums]))
	if err != nil {
		return Shard{}, 0, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return Shard{
		Key:      key,
		Index:    index,
		Data:     k,
		Parity:   m,
		ChunkLen: int(chunkLen),
		ChunkSum: binary.BigEndian.Uint64(hdr[sums+8:]),
		Sum:      binary.BigEndian.Uint64(hdr[sums:]),
	}, int(sl), nil
}
