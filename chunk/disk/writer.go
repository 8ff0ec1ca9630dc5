package disk

import (
	"errors"
	"fmt"
	"io"
)

// writer is the state of the writer goroutine: the region it appends to
// and the buffer it gathers records in. Only that goroutine touches it,
// and Open before starting it.
type writer struct {
	cur  int        // the open region; -1: none yet
	seq0 uint64     // its life
	off  int64      // bytes of it used, its header included
	sum  []sumEntry // its records so far, for its summary
	seq  uint64     // the last sequence number taken
	buf  []byte     // aligned, Config.WriteBytes long; set by writeLoop
	n    int        // bytes gathered in buf, a multiple of BlockSize between records
	at   int64      // the file offset of buf[0]
	hdr  []byte     // scratch for record headers
	seal []byte     // aligned, room for the summary of a full region and its footer
}

func (w *writer) init(cfg Config) {
	w.cur = -1
	w.seal = alignedBuf(int(sealLen(int(cfg.RegionSize / BlockSize))))
}

// writeLoop writes batches of queued records until Close, then syncs. Its
// write buffer is one of the read buffers' (getBuf), in huge pages when
// the slabs have room, for the reason reads are: a write of 1 MiB from 4
// KiB pages is two requests for a virtio disk. It is the writer's until
// the loop ends.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	buf := getBuf(s.cfg.WriteBytes / BlockSize)
	defer putBuf(buf)
	s.w.buf = (*buf)[:s.cfg.WriteBytes]
	for {
		batch, ok := s.takeBatch()
		if !ok {
			break
		}
		s.writeBatch(batch)
	}
	if !s.abandon.Load() && !s.writesOff.Load() {
		s.sync() //nolint:errcheck // counted and logged; nobody waits on it
	}
}

// takeBatch waits for queued records and takes the oldest (see
// takeLocked). It returns false once the store is closing and the queue
// is empty, or Close gave up waiting (then it fails whatever is still
// queued).
func (s *Store) takeBatch() ([]*item, bool) {
	for {
		if s.abandon.Load() {
			s.failQueue()
			return nil, false
		}
		s.mu.Lock()
		batch := s.takeLocked()
		closing := s.closing
		s.mu.Unlock()
		if len(batch) > 0 {
			return batch, true
		}
		if closing {
			return nil, false
		}
		<-s.wake
	}
}

// takeLocked takes the oldest queued records, up to WriteBytes of them
// (at least one), skipping cancelled ones; a record someone waits on ends
// the batch, so that the wait is no longer than it must be. s.mu must be
// held.
func (s *Store) takeLocked() []*item {
	var batch []*item
	var bytes int64
	i := 0
	for ; i < len(s.queue); i++ {
		it := s.queue[i]
		if !it.cancelled {
			if len(batch) > 0 && bytes+it.size > int64(s.cfg.WriteBytes) {
				break
			}
			it.taken = true
			if it.kind == kindPut {
				s.queued -= it.size
			}
			batch = append(batch, it)
			bytes += it.size
		}
		s.queue[i] = nil
		if it.done != nil {
			i++
			break
		}
	}
	s.queue = s.queue[i:]
	s.inflight = batch
	return batch
}

// failQueue empties the queue and fails its waiters with ErrClosed.
func (s *Store) failQueue() {
	s.mu.Lock()
	left := s.queue
	s.queue, s.queued = nil, 0
	s.mu.Unlock()
	for _, it := range left {
		if it.done != nil {
			it.err = ErrClosed
			close(it.done)
		}
	}
}

// writeBatch writes a batch, syncs if a tombstone or a waiter is in it,
// and then indexes its records and answers its waiters.
func (s *Store) writeBatch(batch []*item) {
	err := s.writeRecords(batch)
	if err != nil && !errors.Is(err, ErrOff) {
		err = fmt.Errorf("%w: %w", ErrOff, err)
	}
	s.mu.Lock()
	s.inflight = nil
	for _, it := range batch {
		if it.kind != kindPut {
			continue
		}
		if s.pending[it.kh] == it {
			delete(s.pending, it.kh)
		}
		switch {
		case it.cancelled:
		case err == nil:
			s.idx.put(it.kh, it.gh, it.block, uint32(it.size/BlockSize))
		default:
			// Lost: an older record of the key must not stand in for it.
			s.idx.remove(it.kh)
		}
	}
	s.mu.Unlock()
	for _, it := range batch {
		if it.done != nil {
			it.err = err
			close(it.done)
		}
	}
}

func (s *Store) writeRecords(batch []*item) error {
	if s.writesOff.Load() {
		return ErrOff
	}
	sync := false
	for _, it := range batch {
		sync = sync || it.done != nil || it.kind == kindRemoveKey || it.kind == kindRemoveGroup
		if it.kind == 0 {
			continue
		}
		if err := s.appendRecord(it); err != nil {
			return err
		}
	}
	if err := s.flushBuf(); err != nil {
		return err
	}
	if sync {
		return s.sync()
	}
	return nil
}

// appendRecord gathers it's record at the end of the open region, moving
// to the next region first if it does not fit.
func (s *Store) appendRecord(it *item) error {
	w := &s.w
	if w.cur < 0 || w.off+it.size+sealLen(len(w.sum)+1) > s.cfg.RegionSize {
		if err := s.nextRegion(); err != nil {
			return err
		}
	}
	w.seq++
	it.seq = w.seq
	it.block = uint32((s.regionStart(w.cur) + w.off) / BlockSize)
	w.hdr = appendHeader(w.hdr[:0], it.kind, it.key, it.group, s.storeID, it.seq, it.value)
	if err := s.gather(w.hdr); err != nil {
		return err
	}
	if err := s.gather(it.value); err != nil {
		return err
	}
	if err := s.gatherZeros(int(it.size) - len(w.hdr) - len(it.value)); err != nil {
		return err
	}
	w.sum = append(w.sum, sumEntry{key: it.kh, group: it.gh, seq: it.seq,
		block: uint32(w.off / BlockSize), blocks: uint16(it.size / BlockSize), kind: it.kind})
	w.off += it.size
	return nil
}

// nextRegion seals the open region (its summary and footer), evicts the
// oldest region (or takes a free one) and opens it: its header goes at
// the start of the buffer, written with its first records.
func (s *Store) nextRegion() error {
	w := &s.w
	if w.cur >= 0 {
		if err := s.flushBuf(); err != nil {
			return err
		}
		tail := encodeSeal(w.seal, s.storeID, w.seq0, w.sum)
		if err := s.writeAt(tail, s.regionStart(w.cur)+s.cfg.RegionSize-int64(len(tail))); err != nil {
			return err
		}
		s.mu.Lock()
		s.regions[w.cur].sealed = true
		s.mu.Unlock()
	}
	r := s.pickRegion()
	w.seq++
	s.reclaim(r, w.seq)
	w.cur, w.seq0, w.off, w.sum = r, w.seq, BlockSize, w.sum[:0]
	w.at, w.n = s.regionStart(r), BlockSize
	encodeRegionHeader(w.buf, s.storeID, w.seq0, r)
	return nil
}

// pickRegion returns the region to write next: a free one, else the
// oldest. FIFO order is what makes tombstones safe to evict: when a
// tombstone's region goes, every region older than it went before.
func (s *Store) pickRegion() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	for r, g := range s.regions {
		switch {
		case r == s.w.cur:
		case g.seq0 == 0:
			return r
		case best < 0 || g.seq0 < s.regions[best].seq0:
			best = r
		}
	}
	return best
}

// reclaim drops region r's entries from the index and gives the region
// its new life seq0, before any of its bytes is overwritten: a Get that
// looked an entry up before then sees the life change if its read fails.
// The entries are found by the region's summary; without one (an I/O
// error, or a region rebuilt by a scan) by a walk of the whole index.
func (s *Store) reclaim(r int, seq0 uint64) {
	s.mu.Lock()
	old := s.regions[r].seq0
	s.mu.Unlock()
	var entries []sumEntry
	var err error
	if old != 0 {
		entries, err = s.readSummary(r, old)
	}
	first := uint32(s.regionStart(r) / BlockSize)
	n := 0
	s.mu.Lock()
	switch {
	case old == 0:
	case err != nil:
		n = s.idx.removeBlocks(first, first+s.regBlock)
	default:
		for _, e := range entries {
			if e.kind == kindPut && s.idx.removeAt(e.key, first+e.block) {
				n++
			}
		}
	}
	n += s.dropInflight(first, first+s.regBlock)
	s.regions[r] = region{seq0: seq0}
	s.mu.Unlock()
	if old != 0 {
		s.st.reclaims.Add(1)
		s.st.evictions.Add(uint64(n))
	}
}

// dropInflight cancels the records of the batch being written that start
// in blocks [from, to), and returns how many: a batch larger than the
// store wraps it, reclaiming regions that hold its own records before
// writeBatch indexes them. s.mu must be held.
func (s *Store) dropInflight(from, to uint32) int {
	n := 0
	for _, it := range s.inflight {
		if it.kind == kindPut && !it.cancelled && it.block >= from && it.block < to {
			it.cancelled = true
			n++
		}
	}
	return n
}

// readSummary reads and checks the summary of region r's life seq0.
func (s *Store) readSummary(r int, seq0 uint64) ([]sumEntry, error) {
	end := s.regionStart(r) + s.cfg.RegionSize
	foot := alignedBuf(BlockSize)
	if err := s.readAt(foot, end-BlockSize); err != nil {
		return nil, err
	}
	count, sum, err := parseFooter(foot, s.storeID, seq0)
	if err != nil {
		return nil, err
	}
	n := summaryLen(count)
	if n+2*BlockSize > s.cfg.RegionSize {
		return nil, fmt.Errorf("%w: footer counts %d records", errBadRecord, count)
	}
	b := alignedBuf(int(n))
	if err := s.readAt(b, end-BlockSize-n); err != nil {
		return nil, err
	}
	return parseSummary(b, count, sum)
}

// gather appends p to the write buffer, writing the buffer out each time
// it fills.
func (s *Store) gather(p []byte) error {
	w := &s.w
	for len(p) > 0 {
		c := copy(w.buf[w.n:], p)
		w.n += c
		p = p[c:]
		if w.n == len(w.buf) {
			if err := s.flushBuf(); err != nil {
				return err
			}
		}
	}
	return nil
}

// gatherZeros appends n zeros to the write buffer, as gather does.
func (s *Store) gatherZeros(n int) error {
	w := &s.w
	for n > 0 {
		c := min(n, len(w.buf)-w.n)
		clear(w.buf[w.n : w.n+c])
		w.n += c
		n -= c
		if w.n == len(w.buf) {
			if err := s.flushBuf(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushBuf writes out what the buffer holds.
func (s *Store) flushBuf() error {
	w := &s.w
	if w.n == 0 {
		return nil
	}
	err := s.writeAt(w.buf[:w.n], w.at)
	w.at += int64(w.n)
	w.n = 0
	return err
}

// writeAt writes p at off, timed and counted; a failure turns writes off.
func (s *Store) writeAt(p []byte, off int64) error {
	start := s.cfg.Now()
	n, err := s.f.WriteAt(p, off)
	s.st.writeLatency.observe(s.cfg.Now().Sub(start))
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	s.st.writes.Add(1)
	s.st.writtenBytes.Add(uint64(max(n, 0)))
	if err != nil {
		s.writeFailed(err)
	}
	return err
}

func (s *Store) sync() error {
	err := s.f.Sync()
	if err != nil {
		s.writeFailed(err)
	}
	return err
}

// writeFailed turns writes off, counts the error, and logs the first.
func (s *Store) writeFailed(err error) {
	s.st.writeErrors.Add(1)
	if !s.writesOff.Swap(true) {
		s.log.Error("disk write failed: the store writes nothing more until restarted", "err", err)
	}
}

// readAt reads all of p at off; a short read is an error.
func (s *Store) readAt(p []byte, off int64) error {
	n, err := s.f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
