package disk

import (
	"fmt"
	"time"
)

// LastRead returns when the device last ended a read (zero before the
// first), which tells a busy device from a stalled one.
func (s *Store) LastRead() time.Time {
	ns := s.lastRead.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// readLoop serves Gets until Close.
func (s *Store) readLoop() {
	defer s.readersWG.Done()
	for {
		select {
		case req := <-s.reads:
			r := s.read(req)
			req.res <- r
			if !req.state.CompareAndSwap(reqWaiting, reqDone) && r.buf != nil {
				// The caller gave up first: nobody else will give the
				// buffer back. (It took nothing from the channel.)
				putBuf(r.buf)
			}
		case <-s.quit:
			return
		}
	}
}

// read reads and checks the record req looked up: its checksums, its kind
// and its key, so that bytes never reach a caller unless they are the
// value stored under that key. A lending read's buffer is in the result
// when it has a value, and back in its pool when it has none.
func (s *Store) read(req *readReq) readRes {
	start := s.cfg.Now()
	var buf []byte
	var lent *[]byte
	if req.lend {
		lent = getBuf(int(req.e.blocks))
		buf = *lent
	} else {
		buf = alignedBuf(int(req.e.blocks) * BlockSize)
	}
	err := s.readAt(buf, int64(req.e.block)*BlockSize)
	end := s.cfg.Now()
	s.lastRead.Store(end.UnixNano())
	s.st.readLatency.observe(end.Sub(start))
	var h header
	var v []byte
	if err == nil {
		h, v, err = parseRecord(buf, s.storeID)
	}
	if err == nil && h.kind == kindPut && string(h.key) == req.key {
		s.readFailures.Store(0)
		s.st.reads.Add(1)
		s.st.readBytes.Add(uint64(len(buf)))
		return readRes{v: v, buf: lent}
	}
	if lent != nil {
		putBuf(lent)
	}
	s.mu.Lock()
	reused := s.regions[s.regionOf(req.e.block)].seq0 != req.seq0
	s.mu.Unlock()
	switch {
	case reused:
		// The region was evicted and is being written again: the entry
		// is gone, and what was read is newer bytes, not damage.
		return readRes{err: ErrNotFound}
	case err == nil:
		// A sound record of another key: one that shares the hash.
		return readRes{err: ErrNotFound}
	}
	return readRes{err: s.readFailed(req, err)}
}

// readFailed drops the entry of a record that failed to read (an I/O
// error or a checksum), counts and logs it, and turns the store off after
// MaxReadErrors failures in a row.
func (s *Store) readFailed(req *readReq, err error) error {
	s.mu.Lock()
	s.idx.removeAt(req.kh, req.e.block)
	s.mu.Unlock()
	s.st.readErrors.Add(1)
	s.log.Warn("disk read failed: entry dropped", "key", req.key, "offset", int64(req.e.block)*BlockSize, "err", err)
	if s.readFailures.Add(1) >= int64(s.cfg.MaxReadErrors) && !s.readsOff.Swap(true) {
		s.writesOff.Store(true)
		s.log.Error("disk reads keep failing: the store is off until restarted", "failures", s.cfg.MaxReadErrors)
	}
	return fmt.Errorf("disk read of %q: %w", req.key, err)
}
