package disk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Sentinel errors, for callers to branch on with errors.Is. Every error a
// Get returns is a miss: none of them ever comes with bytes.
var (
	// ErrNotFound means the store holds nothing under the key.
	ErrNotFound = errors.New("disk: not found")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("disk: store closed")
	// ErrOff means the store stopped after an I/O error (see Stats.Off):
	// it reads nothing more, or writes nothing more, until reopened.
	ErrOff = errors.New("disk: store off after I/O errors")
	// errBadRecord means bytes that are not a well-formed record, region
	// header, footer or superblock of this store.
	errBadRecord = errors.New("disk: malformed record")
)

// Store is a byte-bounded cache of values on one device, which survives
// restarts: see the package documentation for its layout and guarantees.
// Its methods are safe for concurrent use; none waits for I/O except Get
// and GetValue (bounded by their context), RemoveGroup, Flush and Close.
// Make one with Open.
type Store struct {
	cfg      Config
	name     string
	f        File
	log      *slog.Logger
	storeID  uint64
	regBlock uint32 // blocks per region

	reads      chan *readReq
	wake       chan struct{} // cap 1: there is work for the writer
	quit       chan struct{} // closed by Close: readers stop
	writerDone chan struct{}
	readersWG  sync.WaitGroup

	readsOff, writesOff atomic.Bool
	readFailures        atomic.Int64 // in a row
	lastRead            atomic.Int64 // Unix nanoseconds: when the device last ended a read
	abandon             atomic.Bool  // Close gave up waiting: drop the queue
	st                  counters
	rebuild             Stats // the fields Open measured

	w writer // the writer goroutine's own

	mu       sync.Mutex
	idx      *index           // guarded by mu
	queue    []*item          // guarded by mu; records to write, oldest first
	queued   int64            // guarded by mu; bytes of the puts in queue
	pending  map[uint64]*item // guarded by mu; each key's newest put not yet indexed
	inflight []*item          // guarded by mu; the batch being written
	regions  []region         // guarded by mu
	closing  bool             // guarded by mu
}

// region is one region's life as the store knows it.
type region struct {
	seq0   uint64 // its life; 0: never written by this store
	sealed bool   // full: the writer will not append to it again
}

// item is a record waiting to be written (or being written), or, with
// kind 0, a barrier that Flush waits on.
type item struct {
	kind       byte
	key, group string
	kh, gh     uint64 // their hashes
	value      []byte
	size       int64         // the record's bytes on disk
	done       chan struct{} // if set: sync after writing, set err, close done
	err        error         // the write's outcome, once done is closed

	taken     bool   // guarded by mu; the writer has it
	cancelled bool   // guarded by mu; superseded or removed: do not index it
	block     uint32 // set by the writer: the record's first block
	seq       uint64 // set by the writer
}

// readReq is a Get handed to a reader.
type readReq struct {
	key  string
	kh   uint64
	e    entry
	seq0 uint64 // the life of the record's region when the Get looked it up
	lend bool   // read into a pooled buffer (GetValue), not a new one
	// state settles who gives a pooled buffer back when the read ends
	// and its caller is gone: reqWaiting until the reader delivers
	// (reqDone) or the caller gives up (reqAbandoned), whichever is first.
	state atomic.Int32
	res   chan readRes // cap 1: the reader never waits on it
}

const (
	reqWaiting = iota
	reqDone
	reqAbandoned
)

type readRes struct {
	v   []byte
	buf *[]byte // the pooled buffer v lies in, for a lending read
	err error
}

// Open opens (or creates) the store in cfg.Dir, rebuilds its index from
// the disk, and starts its writer and readers. Its errors are one line
// that names the file: a directory or file it cannot create, open, lock,
// reserve or write (a read-only mount, a full device) is an error here,
// never later.
func Open(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", cfg.Dir, err)
	}
	start := cfg.Now()
	name := filepath.Join(cfg.Dir, cfg.Name)
	f, err := cfg.FS.Open(name, cfg.Size, !cfg.Buffered)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", cfg.Dir, err)
	}
	s := &Store{
		cfg:        cfg,
		name:       name,
		f:          f,
		log:        cfg.Logger.With("disk", name),
		regBlock:   uint32(cfg.RegionSize / BlockSize),
		reads:      make(chan *readReq),
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		idx:        newIndex(),
		pending:    map[uint64]*item{},
		regions:    make([]region, (cfg.Size-BlockSize)/cfg.RegionSize),
	}
	s.w.init(cfg)
	if err := s.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("disk %s: %w", name, err)
	}
	s.rebuild.Rebuild = cfg.Now().Sub(start)
	s.log.Info("disk store open", "file", name, "size", cfg.Size, "direct", f.Direct(),
		"entries", s.idx.len(), "bytes", s.idx.bytes, "rebuild", s.rebuild.Rebuild,
		"scanned_blocks", s.rebuild.ScannedBlocks)
	go s.writeLoop()
	for range cfg.Readers {
		s.readersWG.Add(1)
		go s.readLoop()
	}
	return s, nil
}

// Put queues value to be written under key, filed under group, and
// returns at once: it never waits for I/O. It reports whether the value
// was accepted; it is not when the queue is full (Config.QueueBytes), the
// store is closing or off, or the key is empty or the record too large
// for a region (MaxValueLen) — each counted in Stats. An accepted value is
// served by Get from memory until it is written. The store keeps value
// until then: the caller must not modify it.
//
// A key must be filed under the same group every time (the edge files a
// chunk's entries under its object).
func (s *Store) Put(key, group string, value []byte) bool {
	if key == "" || len(key) > maxNameLen || len(group) > maxNameLen ||
		int64(len(value)) > MaxValueLen(s.cfg.RegionSize, len(key)+len(group)) {
		s.st.refused.Add(1)
		return false
	}
	it := &item{kind: kindPut, key: key, group: group, kh: hash(key), gh: hash(group), value: value,
		size: recordLen(len(key), len(group), len(value))}
	s.mu.Lock()
	if s.closing || s.writesOff.Load() || s.queued+it.size > s.cfg.QueueBytes {
		s.mu.Unlock()
		s.st.dropped.Add(1)
		return false
	}
	if old := s.pending[it.kh]; old != nil {
		s.cancel(old)
	}
	s.pending[it.kh] = it
	s.enqueue(it)
	s.mu.Unlock()
	s.st.puts.Add(1)
	s.signal()
	return true
}

// Get returns the value stored under key. It reads on one of the store's
// readers, waiting for one if all are busy; when ctx ends first it
// returns ctx's error at once (the read, if started, ends unseen). Every
// error is a miss: ErrNotFound, ErrClosed, ErrOff, ctx's error, an I/O
// error, or chunk.ErrCorrupt when the record fails its checksum (the entry
// is then dropped). A value read from the device is the caller's; its
// backing array is at most the record's blocks (the value, its key and
// group, 48 bytes of header and the padding to a block). A value still
// queued is the slice given to Put. Reading does not change what is
// evicted first (the oldest region), so there is no Peek.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	r, err := s.get(ctx, key, false)
	return r.v, err
}

// Value is a value that GetValue read into a buffer the store lends.
type Value struct {
	v   []byte
	buf *[]byte // nil once released, or for a value served from the queue
}

// Bytes returns the value. It is valid until Release; the caller must
// not modify it.
func (v *Value) Bytes() []byte { return v.v }

// Release gives the value's buffer back to the store, for a later read
// to reuse: neither Bytes nor any slice of it may be used afterwards. A
// second Release does nothing. A Value never released is collected like
// any garbage; it only costs the next read a new buffer.
func (v *Value) Release() {
	if v.buf != nil {
		putBuf(v.buf)
	}
	v.v, v.buf = nil, nil
}

// GetValue is Get for callers that are done with a value once they have
// sent or decoded it: the value is read into a buffer that Release gives
// back, so that reads reuse buffers instead of allocating (and zeroing)
// one each. Its errors and checks are Get's: no value reaches the caller
// unless its record's checksums and key are right.
func (s *Store) GetValue(ctx context.Context, key string) (*Value, error) {
	r, err := s.get(ctx, key, true)
	if err != nil {
		return nil, err
	}
	return &Value{v: r.v, buf: r.buf}, nil
}

func (s *Store) get(ctx context.Context, key string, lend bool) (readRes, error) {
	req := &readReq{key: key, kh: hash(key), lend: lend}
	s.mu.Lock()
	if it := s.pending[req.kh]; it != nil && it.key == key {
		s.mu.Unlock()
		return readRes{v: it.value}, nil
	}
	e, ok := s.idx.get(req.kh)
	if ok {
		req.e, req.seq0 = e, s.regions[s.regionOf(e.block)].seq0
	}
	closing := s.closing
	s.mu.Unlock()
	switch {
	case closing:
		return readRes{}, ErrClosed
	case !ok:
		return readRes{}, ErrNotFound
	case s.readsOff.Load():
		return readRes{}, ErrOff
	}
	req.res = make(chan readRes, 1)
	select {
	case s.reads <- req:
	case <-ctx.Done():
		s.st.abandoned.Add(1)
		return readRes{}, ctx.Err()
	case <-s.quit:
		return readRes{}, ErrClosed
	}
	select {
	case r := <-req.res:
		return r, r.err
	case <-ctx.Done():
		s.st.abandoned.Add(1)
		if !req.state.CompareAndSwap(reqWaiting, reqAbandoned) {
			// The reader delivered meanwhile: its buffer is ours to give back.
			if r := <-req.res; r.buf != nil {
				putBuf(r.buf)
			}
		}
		return readRes{}, ctx.Err()
	}
}

// Contains reports whether the store holds key, without I/O. Keys are
// indexed by a 64-bit hash, so it may answer true for a key whose hash a
// stored key shares (about one pair in 2^64); Get then misses.
func (s *Store) Contains(key string) bool {
	k := hash(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.pending[k]; it != nil && it.key == key {
		return true
	}
	_, ok := s.idx.get(k)
	return ok && !s.readsOff.Load()
}

// Remove deletes key's entry, reporting whether there was one. It does
// not wait: the tombstone that keeps the entry from coming back after a
// restart is queued, so a crash before it is written (within one write
// batch, usually milliseconds) may bring the entry back. What must never
// come back goes through RemoveGroup, which waits.
func (s *Store) Remove(key string) bool {
	if len(key) > maxNameLen {
		return false // never stored: Put refuses such keys
	}
	k := hash(key)
	s.mu.Lock()
	e, found := s.idx.remove(k)
	group := e.group
	if it := s.pending[k]; it != nil && it.key == key {
		s.cancel(it)
		found, group = true, it.gh
	}
	if found && !s.closing && !s.writesOff.Load() {
		s.enqueue(&item{kind: kindRemoveKey, key: key, kh: k, gh: group, size: recordLen(len(key), 0, 0)})
	}
	s.mu.Unlock()
	s.signal()
	return found
}

// RemoveGroup deletes every entry filed under group and returns how many
// it deleted, visiting only those. Unless there was nothing of the group
// to delete, on disk or queued, it then waits until a tombstone for the
// group is written and synced, so that nothing of it comes back after a
// restart or a power cut: on success the purge is durable. If ctx ends
// first it returns ctx's error, the entries already gone and the
// tombstone still queued; if the store is off it returns ErrOff, the
// entries gone from memory but not durably (a restart may bring them
// back: the caller should report the purge as failed).
func (s *Store) RemoveGroup(ctx context.Context, group string) (int, error) {
	if len(group) > maxNameLen {
		return 0, nil // never stored: Put refuses such groups
	}
	g := hash(group)
	s.mu.Lock()
	n := s.idx.removeGroup(g)
	need := n > 0
	for _, list := range [][]*item{s.inflight, s.queue} {
		for _, it := range list {
			if it.kind == 0 || it.gh != g {
				continue
			}
			need = true // a record or tombstone of the group is on its way to the disk
			if it.kind == kindPut && !it.cancelled {
				s.cancel(it)
				n++
			}
		}
	}
	var err error
	switch {
	case !need:
	case s.closing:
		err = ErrClosed
	case s.writesOff.Load():
		err = ErrOff
	}
	if !need || err != nil {
		s.mu.Unlock()
		return n, err
	}
	t := s.queuedTombstone(g)
	if t == nil {
		t = &item{kind: kindRemoveGroup, group: group, gh: g, size: recordLen(0, len(group), 0), done: make(chan struct{})}
		s.enqueue(t)
	}
	s.mu.Unlock()
	s.signal()
	return n, s.wait(ctx, t)
}

// queuedTombstone returns a tombstone of group g still waiting in the
// queue, if there is one: written after everything the caller removed,
// it does for the caller too, so that purges of one group repeated while
// the device is slow wait on one tombstone instead of queueing one each.
// s.mu must be held.
func (s *Store) queuedTombstone(g uint64) *item {
	for _, it := range s.queue {
		if it.kind == kindRemoveGroup && it.gh == g {
			return it
		}
	}
	return nil
}

// Flush waits until everything queued before it is written and synced,
// or ctx ends. It returns ErrOff if the store stopped writing.
func (s *Store) Flush(ctx context.Context) error {
	b := &item{done: make(chan struct{})}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.enqueue(b)
	s.mu.Unlock()
	s.signal()
	return s.wait(ctx, b)
}

func (s *Store) wait(ctx context.Context, it *item) error {
	select {
	case <-it.done:
		return it.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting Puts, writes what is queued and syncs, stops the
// readers and closes the file. If ctx ends first, Close drops what is
// still queued and returns ctx's error without waiting for the I/O in
// flight (a stuck device cannot hold a shutdown); the file is closed when
// that I/O ends. Close reopens nothing: Gets after it return ErrClosed.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closing = true
	s.mu.Unlock()
	s.signal()
	var err error
	select {
	case <-s.writerDone:
	case <-ctx.Done():
		err = ctx.Err()
		s.abandon.Store(true)
		s.signal()
	}
	close(s.quit)
	finish := func() error {
		<-s.writerDone
		s.readersWG.Wait()
		return s.f.Close()
	}
	if err != nil {
		go finish() //nolint:errcheck // nobody is left to tell
		return err
	}
	return finish()
}

// Len returns the number of entries on disk (not counting queued Puts).
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.len()
}

// Bytes returns the bytes of the entries on disk, headers and padding
// included: never more than the budget, whose metadata it leaves out.
func (s *Store) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.bytes
}

// Stats returns a snapshot of the store's state and counters.
func (s *Store) Stats() Stats {
	st := s.rebuild
	s.mu.Lock()
	st.Entries, st.Bytes, st.Queued = s.idx.len(), s.idx.bytes, s.queued
	s.mu.Unlock()
	st.Dir, st.Size, st.RegionSize, st.Regions = s.cfg.Dir, s.cfg.Size, s.cfg.RegionSize, len(s.regions)
	st.Direct = s.f.Direct()
	st.Puts, st.Dropped, st.Refused = s.st.puts.Load(), s.st.dropped.Load(), s.st.refused.Load()
	st.Evictions, st.Reclaims = s.st.evictions.Load(), s.st.reclaims.Load()
	st.Writes, st.WrittenBytes, st.WriteErrors = s.st.writes.Load(), s.st.writtenBytes.Load(), s.st.writeErrors.Load()
	st.Reads, st.ReadBytes, st.ReadErrors = s.st.reads.Load(), s.st.readBytes.Load(), s.st.readErrors.Load()
	st.Abandoned = s.st.abandoned.Load()
	st.WriteLatency, st.ReadLatency = s.st.writeLatency.snapshot(), s.st.readLatency.snapshot()
	st.Off = s.readsOff.Load() || s.writesOff.Load()
	return st
}

// regionOf returns the region a file block lies in.
func (s *Store) regionOf(block uint32) int { return int((block - 1) / s.regBlock) }

// regionStart returns the file offset of region r.
func (s *Store) regionStart(r int) int64 { return BlockSize + int64(r)*s.cfg.RegionSize }
