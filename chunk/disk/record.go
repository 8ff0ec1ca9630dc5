package disk

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"

	"github.com/edgecache/edgecache/chunk"
)

// BlockSize is the unit of the layout: records, region headers and
// footers start on a multiple of it and fill whole blocks, so that every
// read and write is aligned for O_DIRECT (4 KiB covers 512-byte and
// 4 KiB logical sectors alike).
const BlockSize = 4096

// Record kinds.
const (
	kindPut         = 1 // a value under a key
	kindRemoveKey   = 2 // a tombstone: the key's older records are dead
	kindRemoveGroup = 3 // a tombstone: every older record of the group is dead
)

// A record's header, all integers big-endian; n is the key's length, g
// the group's, v the value's:
//
//	offset   size  field
//	0        4     magic "ECDR"
//	4        1     format version (2)
//	5        1     kind: 1 put, 2 remove key, 3 remove group
//	6        2     n
//	8        2     g
//	10       2     zero
//	12       4     v
//	16       8     store id (the superblock's)
//	24       8     sequence number
//	32       8     XXH3-64 of the value
//	40       n     key
//	40+n     g     group
//	40+n+g   8     xxhash64 of bytes [0, 40+n+g): the header checksum
//	48+n+g   v     value
//
// then zeros up to the next block boundary. The value's checksum is the
// one hash every byte read goes through, so it is XXH3, which runs at
// memory speed (here twice xxhash64's rate on bytes fresh from the
// device); the small checksums of headers, footers and summaries are
// xxhash64, as the shard frames' are.
const (
	recordMagic    = "ECDR"
	formatVersion  = 2  // 1 checked values with xxhash64
	recordFixedLen = 48 // every header field but the key and the group
	recordKeyOff   = 40
	maxNameLen     = 1<<16 - 1 // keys and groups: their lengths are uint16
)

// header is a record without its value. Key and group alias the bytes
// it was parsed from.
type header struct {
	kind     byte
	key      []byte
	group    []byte
	valueLen int
	storeID  uint64
	seq      uint64
	valueSum uint64
}

// headerLen is the length of a record header with a key of n bytes and a
// group of g.
func headerLen(n, g int) int { return recordFixedLen + n + g }

// recordLen is the bytes a record takes on disk, padding included.
func recordLen(n, g, v int) int64 { return alignUp(int64(headerLen(n, g) + v)) }

// alignUp rounds n up to a multiple of BlockSize.
func alignUp(n int64) int64 { return (n + BlockSize - 1) &^ (BlockSize - 1) }

// appendHeader appends the header of a record to dst. The caller has
// checked that key and group fit their uint16 lengths.
func appendHeader(dst []byte, kind byte, key, group string, storeID, seq uint64, value []byte) []byte {
	start := len(dst)
	dst = append(dst, recordMagic...)
	dst = append(dst, formatVersion, kind)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(group)))
	dst = append(dst, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(value)))
	dst = binary.BigEndian.AppendUint64(dst, storeID)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint64(dst, xxh3.Hash(value))
	dst = append(dst, key...)
	dst = append(dst, group...)
	return binary.BigEndian.AppendUint64(dst, xxhash.Sum64(dst[start:]))
}

// recordHeaderLen returns the header length of the record that b begins
// (at least recordKeyOff bytes), checking the magic and version first so
// that bytes that are not a record are refused before their lengths are
// believed.
func recordHeaderLen(b []byte) (int, error) {
	if len(b) < recordKeyOff {
		return 0, fmt.Errorf("%w: %d bytes, shorter than any record", errBadRecord, len(b))
	}
	if string(b[:4]) != recordMagic {
		return 0, fmt.Errorf("%w: bad magic %q", errBadRecord, b[:4])
	}
	if b[4] != formatVersion {
		return 0, fmt.Errorf("%w: unknown format version %d", errBadRecord, b[4])
	}
	return headerLen(int(binary.BigEndian.Uint16(b[6:])), int(binary.BigEndian.Uint16(b[8:]))), nil
}

// parseHeader parses and checks the header at the start of b, which must
// hold at least the whole header. It checks the header checksum, the kind,
// the store id and that the lengths fit the kind; the value is not looked
// at. It never panics, whatever b holds.
func parseHeader(b []byte, storeID uint64) (header, int, error) {
	hl, err := recordHeaderLen(b)
	if err != nil {
		return header{}, 0, err
	}
	if len(b) < hl {
		return header{}, 0, fmt.Errorf("%w: %d bytes, header needs %d", errBadRecord, len(b), hl)
	}
	if xxhash.Sum64(b[:hl-8]) != binary.BigEndian.Uint64(b[hl-8:]) {
		return header{}, 0, fmt.Errorf("%w: record header checksum", chunk.ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(b[6:]))
	h := header{
		kind:     b[5],
		key:      b[recordKeyOff : recordKeyOff+n : recordKeyOff+n],
		group:    b[recordKeyOff+n : hl-8 : hl-8],
		valueLen: int(binary.BigEndian.Uint32(b[12:])),
		storeID:  binary.BigEndian.Uint64(b[16:]),
		seq:      binary.BigEndian.Uint64(b[24:]),
		valueSum: binary.BigEndian.Uint64(b[32:]),
	}
	if h.storeID != storeID {
		return header{}, 0, fmt.Errorf("%w: record of another store (%x)", errBadRecord, h.storeID)
	}
	switch {
	case b[10] != 0 || b[11] != 0:
		return header{}, 0, fmt.Errorf("%w: reserved bytes set", errBadRecord)
	case h.kind == kindPut && len(h.key) > 0:
	case h.kind == kindRemoveKey && len(h.key) > 0 && h.valueLen == 0:
	case h.kind == kindRemoveGroup && len(h.key) == 0 && h.valueLen == 0:
	default:
		return header{}, 0, fmt.Errorf("%w: kind %d with a key of %d bytes and a value of %d",
			errBadRecord, h.kind, len(h.key), h.valueLen)
	}
	return h, hl, nil
}

// parseRecord parses and checks the record at the start of b, value and
// padding included: b must hold at least the record's blocks. The value
// aliases b.
func parseRecord(b []byte, storeID uint64) (header, []byte, error) {
	h, hl, err := parseHeader(b, storeID)
	if err != nil {
		return header{}, nil, err
	}
	if int64(len(b)) < recordLen(len(h.key), len(h.group), h.valueLen) {
		return header{}, nil, fmt.Errorf("%w: %d bytes, record needs %d", errBadRecord,
			len(b), recordLen(len(h.key), len(h.group), h.valueLen))
	}
	v := b[hl : hl+h.valueLen : hl+h.valueLen]
	if xxh3.Hash(v) != h.valueSum {
		return header{}, nil, fmt.Errorf("%w: record value checksum", chunk.ErrCorrupt)
	}
	return h, v, nil
}
