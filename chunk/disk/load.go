package disk

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
)

// load reads the superblock, formatting the file if it has none or one of
// another layout, and rebuilds the index from the regions.
func (s *Store) load() error {
	b := alignedBuf(BlockSize)
	if err := s.readAt(b, 0); err != nil {
		return err
	}
	want := superblock{regionSize: s.cfg.RegionSize, regions: int64(len(s.regions))}
	sb, err := parseSuperblock(b)
	if err == nil && sb.regionSize == want.regionSize && sb.regions == want.regions {
		s.storeID = sb.storeID
		s.rebuildIndex()
		return nil
	}
	if err != nil && string(b[:4]) == superMagic && b[4] != formatVersion {
		s.log.Warn("disk format changed: starting empty", "version", b[4], "want_version", formatVersion)
	}
	if err == nil {
		s.log.Warn("disk layout changed: starting empty", "region_size", sb.regionSize, "regions", sb.regions,
			"want_region_size", want.regionSize, "want_regions", want.regions)
	}
	// A new store id makes every region header and record of the old
	// contents foreign, so nothing needs erasing.
	var id [8]byte
	for s.storeID == 0 {
		rand.Read(id[:])
		s.storeID = binary.BigEndian.Uint64(id[:])
	}
	want.storeID = s.storeID
	want.encode(b)
	if _, err := s.f.WriteAt(b, 0); err != nil {
		return err
	}
	return s.f.Sync()
}

// life is a region found with a valid header at open.
type life struct {
	r    int
	seq0 uint64
}

// rebuildIndex replays every region's records, oldest life first, into
// the index: puts add entries, tombstones remove them, so the index ends
// as it was when the store last wrote. A region's summary gives its
// records without reading them; a region without a usable summary (the
// one being written, or a damaged one) is read record by record, each
// checked whole, up to the first that fails: a torn tail is cut there.
// The newest region, if it was not sealed, is where the writer carries on.
func (s *Store) rebuildIndex() {
	hdr := alignedBuf(BlockSize)
	var lives []life
	for r := range s.regions {
		if err := s.readAt(hdr, s.regionStart(r)); err != nil {
			s.st.readErrors.Add(1)
			s.log.Warn("disk region unreadable at open: its records are lost", "region", r, "err", err)
			continue
		}
		if seq0, err := parseRegionHeader(hdr, s.storeID, r); err == nil {
			lives = append(lives, life{r: r, seq0: seq0})
		}
	}
	slices.SortFunc(lives, func(a, b life) int { return cmpUint64(a.seq0, b.seq0) })
	for i, l := range lives {
		entries, err := s.readSummary(l.r, l.seq0)
		sealed := err == nil
		end := s.cfg.RegionSize
		if !sealed {
			entries, end = s.scanRegion(l)
			s.rebuild.ScannedBlocks += end / BlockSize
		}
		s.apply(l.r, entries)
		s.regions[l.r] = region{seq0: l.seq0, sealed: true}
		s.w.seq = max(s.w.seq, l.seq0)
		if n := len(entries); n > 0 {
			s.w.seq = max(s.w.seq, entries[n-1].seq)
		}
		if i == len(lives)-1 && !sealed {
			s.regions[l.r].sealed = false
			s.w.cur, s.w.seq0, s.w.off = l.r, l.seq0, end
			s.w.sum = append(s.w.sum[:0], entries...)
			s.w.at = s.regionStart(l.r) + end
		}
	}
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scanRegion reads region l's records from its start, each checked
// whole (checksums, store id, a sequence number above the last), and
// returns them and where the last ends.
func (s *Store) scanRegion(l life) ([]sumEntry, int64) {
	var entries []sumEntry
	start := s.regionStart(l.r)
	last := l.seq0
	off := int64(BlockSize)
	buf := alignedBuf(BlockSize)
	for off+BlockSize <= s.cfg.RegionSize-BlockSize {
		if err := s.readAt(buf[:BlockSize], start+off); err != nil {
			break
		}
		n, err := recordLenOf(buf[:BlockSize])
		if err != nil || off+n > s.cfg.RegionSize-BlockSize {
			break
		}
		if int64(cap(buf)) < n {
			buf = alignedBuf(int(n))
		}
		if err := s.readAt(buf[:n], start+off); err != nil {
			break
		}
		h, _, err := parseRecord(buf[:n], s.storeID)
		if err != nil || h.seq <= last {
			break
		}
		e := sumEntry{group: hash(string(h.group)), seq: h.seq, block: uint32(off / BlockSize),
			blocks: uint16(n / BlockSize), kind: h.kind}
		if h.kind != kindRemoveGroup {
			e.key = hash(string(h.key))
		}
		entries = append(entries, e)
		last = h.seq
		off += n
	}
	return entries, off
}

// recordLenOf returns the bytes on disk of the record whose first block
// b is, from its lengths alone (not yet checked by its checksum).
func recordLenOf(b []byte) (int64, error) {
	hl, err := recordHeaderLen(b)
	if err != nil {
		return 0, err
	}
	return alignUp(int64(hl) + int64(binary.BigEndian.Uint32(b[12:]))), nil
}

// apply replays the records of region r into the index, in order.
func (s *Store) apply(r int, entries []sumEntry) {
	first := uint32(s.regionStart(r) / BlockSize)
	for _, e := range entries {
		if e.block == 0 || e.blocks == 0 || int64(e.block)+int64(e.blocks) > int64(s.regBlock) {
			continue // not a record this store wrote: ignore it
		}
		switch e.kind {
		case kindPut:
			s.idx.put(e.key, e.group, first+e.block, uint32(e.blocks))
		case kindRemoveKey:
			s.idx.remove(e.key)
		case kindRemoveGroup:
			s.idx.removeGroup(e.group)
		}
	}
}
