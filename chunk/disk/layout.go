package disk

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"

	"github.com/edgecache/edgecache/chunk"
)

// The file is a superblock (block 0) and then Regions regions of
// RegionSize bytes each:
//
//	superblock, 4 KiB:            magic "ECDS", version, 3 zeros, store id,
//	                              region size, region count, xxhash64 of [0, 32)
//	region header, first block:   magic "ECRH", version, 3 zeros, store id,
//	                              seq0, region number, 4 zeros, xxhash64 of [0, 32)
//	records                       from the second block on, back to back
//	summary                       32 bytes per record of the region, ending
//	                              where the footer begins
//	footer, last block:           magic "ECRF", version, 3 zeros, store id,
//	                              seq0, record count, 4 zeros, xxhash64 of the
//	                              summary, xxhash64 of [0, 40)
//
// A summary entry is the key's hash, the group's hash, the record's
// sequence number, its first block within the region (uint32), its length
// in blocks (uint16), its kind and a zero. All integers are big-endian.
//
// seq0 numbers the region's current life: it is taken from the sequence
// counter when the writer opens the region, so that a later life has a
// larger seq0 and every record of the region a larger seq still. A footer
// counts only if its seq0 is the header's: a footer left by an earlier
// life is stale.
const (
	superMagic   = "ECDS"
	regionMagic  = "ECRH"
	footerMagic  = "ECRF"
	sumEntryLen  = 32
	maxRecBlocks = 1<<16 - 1 // a summary entry's length field
)

// superblock is block 0: the layout the file was formatted with, and the
// store id that every record and region header carries, so that bytes of
// an earlier format (or an earlier file) are never mistaken for records.
type superblock struct {
	storeID    uint64
	regionSize int64
	regions    int64
}

func (s superblock) encode(b []byte) {
	clear(b[:BlockSize])
	copy(b, superMagic)
	b[4] = formatVersion
	binary.BigEndian.PutUint64(b[8:], s.storeID)
	binary.BigEndian.PutUint64(b[16:], uint64(s.regionSize))
	binary.BigEndian.PutUint64(b[24:], uint64(s.regions))
	binary.BigEndian.PutUint64(b[32:], xxhash.Sum64(b[:32]))
}

func parseSuperblock(b []byte) (superblock, error) {
	if len(b) < 40 || string(b[:4]) != superMagic || b[4] != formatVersion {
		return superblock{}, fmt.Errorf("%w: no superblock", errBadRecord)
	}
	if xxhash.Sum64(b[:32]) != binary.BigEndian.Uint64(b[32:]) {
		return superblock{}, fmt.Errorf("%w: superblock checksum", chunk.ErrCorrupt)
	}
	return superblock{
		storeID:    binary.BigEndian.Uint64(b[8:]),
		regionSize: int64(binary.BigEndian.Uint64(b[16:])),
		regions:    int64(binary.BigEndian.Uint64(b[24:])),
	}, nil
}

// encodeRegionHeader writes the header block of region r's life seq0.
func encodeRegionHeader(b []byte, storeID, seq0 uint64, r int) {
	clear(b[:BlockSize])
	copy(b, regionMagic)
	b[4] = formatVersion
	binary.BigEndian.PutUint64(b[8:], storeID)
	binary.BigEndian.PutUint64(b[16:], seq0)
	binary.BigEndian.PutUint32(b[24:], uint32(r))
	binary.BigEndian.PutUint64(b[32:], xxhash.Sum64(b[:32]))
}

// parseRegionHeader returns the seq0 of region r's header in b, or an
// error if b is not a header of this store's region r.
func parseRegionHeader(b []byte, storeID uint64, r int) (uint64, error) {
	if len(b) < 40 || string(b[:4]) != regionMagic || b[4] != formatVersion {
		return 0, fmt.Errorf("%w: no region header", errBadRecord)
	}
	if xxhash.Sum64(b[:32]) != binary.BigEndian.Uint64(b[32:]) {
		return 0, fmt.Errorf("%w: region header checksum", chunk.ErrCorrupt)
	}
	if binary.BigEndian.Uint64(b[8:]) != storeID || binary.BigEndian.Uint32(b[24:]) != uint32(r) {
		return 0, fmt.Errorf("%w: header of another store or region", errBadRecord)
	}
	return binary.BigEndian.Uint64(b[16:]), nil
}

// sumEntry is a record as the summary (and the writer) knows it: enough to
// rebuild the index without reading the record.
type sumEntry struct {
	key, group uint64 // hashes
	seq        uint64
	block      uint32 // first block, counted from the region's start
	blocks     uint16
	kind       byte
}

// put writes e into the first sumEntryLen bytes of b.
func (e sumEntry) put(b []byte) {
	binary.BigEndian.PutUint64(b, e.key)
	binary.BigEndian.PutUint64(b[8:], e.group)
	binary.BigEndian.PutUint64(b[16:], e.seq)
	binary.BigEndian.PutUint32(b[24:], e.block)
	binary.BigEndian.PutUint16(b[28:], e.blocks)
	b[30], b[31] = e.kind, 0
}

func parseSumEntry(b []byte) sumEntry {
	return sumEntry{
		key:    binary.BigEndian.Uint64(b),
		group:  binary.BigEndian.Uint64(b[8:]),
		seq:    binary.BigEndian.Uint64(b[16:]),
		block:  binary.BigEndian.Uint32(b[24:]),
		blocks: binary.BigEndian.Uint16(b[28:]),
		kind:   b[30],
	}
}

// summaryLen is the bytes a summary of n entries takes, whole blocks.
func summaryLen(n int) int64 { return alignUp(int64(n) * sumEntryLen) }

// encodeSeal writes the summary of entries and the footer after it, the
// tail of a sealed region, at the start of buf, and returns them. buf must
// hold sealLen(len(entries)) bytes: the writer's is allocated aligned once,
// for the most entries a region can hold.
func encodeSeal(buf []byte, storeID, seq0 uint64, entries []sumEntry) []byte {
	n := summaryLen(len(entries))
	b := buf[:n+BlockSize]
	clear(b)
	for i, e := range entries {
		e.put(b[i*sumEntryLen:])
	}
	foot := b[n:]
	copy(foot, footerMagic)
	foot[4] = formatVersion
	binary.BigEndian.PutUint64(foot[8:], storeID)
	binary.BigEndian.PutUint64(foot[16:], seq0)
	binary.BigEndian.PutUint32(foot[24:], uint32(len(entries)))
	binary.BigEndian.PutUint64(foot[32:], xxhash.Sum64(b[:len(entries)*sumEntryLen]))
	binary.BigEndian.PutUint64(foot[40:], xxhash.Sum64(foot[:40]))
	return b
}

// sealLen is the bytes a sealed region's tail takes: the summary of n
// records and the footer.
func sealLen(n int) int64 { return summaryLen(n) + BlockSize }

// parseFooter checks the footer block of a region whose header says seq0
// and returns its record count and summary checksum.
func parseFooter(b []byte, storeID, seq0 uint64) (count int, sum uint64, err error) {
	if len(b) < 48 || string(b[:4]) != footerMagic || b[4] != formatVersion {
		return 0, 0, fmt.Errorf("%w: no footer", errBadRecord)
	}
	if xxhash.Sum64(b[:40]) != binary.BigEndian.Uint64(b[40:]) {
		return 0, 0, fmt.Errorf("%w: footer checksum", chunk.ErrCorrupt)
	}
	if binary.BigEndian.Uint64(b[8:]) != storeID || binary.BigEndian.Uint64(b[16:]) != seq0 {
		return 0, 0, fmt.Errorf("%w: footer of another life of the region", errBadRecord)
	}
	return int(binary.BigEndian.Uint32(b[24:])), binary.BigEndian.Uint64(b[32:]), nil
}

// parseSummary checks a summary against its footer's checksum and decodes
// it.
func parseSummary(b []byte, count int, sum uint64) ([]sumEntry, error) {
	if len(b) < count*sumEntryLen {
		return nil, fmt.Errorf("%w: summary of %d bytes for %d entries", errBadRecord, len(b), count)
	}
	b = b[:count*sumEntryLen]
	if xxhash.Sum64(b) != sum {
		return nil, fmt.Errorf("%w: summary checksum", chunk.ErrCorrupt)
	}
	out := make([]sumEntry, count)
	for i := range out {
		out[i] = parseSumEntry(b[i*sumEntryLen:])
	}
	return out, nil
}
