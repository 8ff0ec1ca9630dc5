package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/edgecache/edgecache/edge/internal/engine"
)

// span is one piece of a response body: literal bytes (multipart framing)
// or a byte range [start, end) of the object.
type span struct {
	literal    bool // bytes [start, end) of body.scrap, not of the object
	start, end int64
}

// slot is the fetch of one chunk the body needs. A chunk found in local
// memory is resolved at once; any other is fetched in the background.
// release, when set, gives data's buffer back to the disk that lent it
// (engine.ChunkLent): the body calls it once it has written the chunk, or
// when it is recycled, and never reads data after.
type slot struct {
	data    []byte
	src     engine.Source
	err     error
	release func()
	async   *asyncFetch
}

// asyncFetch is owned by the goroutine that fills it until done is closed,
// so a body recycled while a fetch is still running shares nothing with it:
// the body marks the fetch abandoned, and the goroutine gives back the
// lent buffer it gets. state decides who does, once: fetching, then
// fetched (set by the goroutine, then done closed) or abandoned (set by
// the body first).
type asyncFetch struct {
	done    chan struct{}
	state   atomic.Int32
	data    []byte
	src     engine.Source
	err     error
	release func()
}

// The states of an asyncFetch.
const (
	fetching int32 = iota
	fetched
	abandoned
)

// abandon is the body's side of a fetch it no longer wants: a fetch that
// has ended gives its lent buffer back now, one still running when it ends.
func (f *asyncFetch) abandon() {
	if !f.state.CompareAndSwap(fetching, abandoned) && f.release != nil {
		f.release()
	}
}

// body streams a response: it walks its spans in order and fetches the
// chunks they cover a bounded window ahead of the one being written, so the
// first byte waits for one chunk and the rest arrive while earlier ones are
// sent. It is the io.Reader/io.WriterTo handed to fasthttp; fasthttp
// calls WriteTo, then CloseWithError, which ends the request's record and
// recycles the body.
type body struct {
	n      *Node
	o      *engine.Object
	spans  []span
	needs  []int64 // chunk indices in the order the body reads them, then those it only fetches
	ahead  int     // how many of needs, at the end, are fetched for the next request, not sent
	slots  []slot  // slots[i] fetches needs[i]
	ctx    context.Context
	cancel context.CancelFunc

	started int    // slots [0, started) have been started
	cur     int    // the slot being written, -1 before the first
	curData []byte // its bytes
	spanIdx int    // the span being written
	pos     int64  // next object offset within a range span, or literal offset
	pending []byte // the rest of a piece a short Read did not take

	sent   [engine.NumSources]int64 // body bytes written, by source
	length int64                    // the body's length, as announced
	scrap  []byte                   // backing store of literal spans
	x      exchange                 // the request's record, ended with the body
	// fetched: the lookup for this response asked the origin, and the
	// object's first chunk came with its answer.
	fetched bool
}

var bodyPool = sync.Pool{New: func() any { return new(body) }}

func newBody(n *Node, o *engine.Object) *body {
	b := bodyPool.Get().(*body)
	b.n, b.o = n, o
	b.cur = -1
	return b
}

// addRange appends the object bytes [start, end) to the body.
func (b *body) addRange(start, end int64) {
	b.spans = append(b.spans, span{start: start, end: end})
	if start >= end {
		return
	}
	cs := b.n.cfg.ChunkSize
	for idx := start / cs; idx <= (end-1)/cs; idx++ {
		if k := len(b.needs); k > 0 && b.needs[k-1] == idx {
			continue
		}
		b.needs = append(b.needs, idx)
	}
}

// addNext adds to the body's fetches, not to what it sends, the chunks a
// sequential player reading [start, end) on connection conn will ask for
// next (see Config.ReadaheadNext). A read is sequential when it starts the
// object, or starts where the same connection's previous range of the same
// object ended (or in its last chunk): a player keeps its connection, and
// a random-access client seldom lands next to its own last range, where
// "the chunk before is in memory" fired for one range in sixteen of a
// random workload and spent its rebuilds on chunks nobody read. The chunks
// are fetched as the body's window reaches them; those not started when
// the body closes (the client went away, or the response ended) never
// are, and those started complete for everyone, as every fill does. Call
// it last, after the ranges.
func (b *body) addNext(conn uint64, start, end int64) {
	n, o := b.n, b.o
	if n.cfg.ReadaheadNext <= 0 || !o.Storable() || start >= end {
		return
	}
	cs := n.cfg.ChunkSize
	first, last := start/cs, (end-1)/cs
	if !n.ahead.sequential(conn, o, first, last) {
		return // a seek, not the continuation of a read
	}
	chunks := (o.Meta.Size + cs - 1) / cs
	for idx := last + 1; idx <= last+int64(n.cfg.ReadaheadNext) && idx < chunks; idx++ {
		if !n.eng.Holds(o.ChunkKey(idx)) {
			b.needs = append(b.needs, idx)
			b.ahead++
		}
	}
}

// addLiteral appends fixed bytes (multipart framing) to the body.
func (b *body) addLiteral(p []byte) {
	off := len(b.scrap)
	b.scrap = append(b.scrap, p...)
	b.spans = append(b.spans, span{literal: true, start: int64(off), end: int64(len(b.scrap))})
}

// headChunks is how many chunks a response waits for before its headers:
// two cover any range of up to one chunk, aligned or not, so X-Cache is
// exact for those; they are fetched in parallel, so the first byte still
// waits about one chunk fetch.
const headChunks = 2

// prepare starts the window and waits for the first chunks, so that an
// origin failure can still become a clean 502/504 instead of a cut body.
// It returns the worst source the response will report: exact for the
// chunks it waited for, and for later ones what the node knows without
// asking anyone: HIT if they are in memory now, else PEER, never MISS,
// which only an origin request made for this response may claim (the
// node's counters by source are exact).
func (b *body) prepare() (engine.Source, error) {
	if len(b.needs) == 0 {
		return engine.SourceHit, nil
	}
	if cap(b.slots) >= len(b.needs) {
		b.slots = b.slots[:len(b.needs)]
	} else {
		b.slots = make([]slot, len(b.needs))
	}
	// The first chunk is waited for next: fetched here rather than by a
	// goroutine of its own, it costs no goroutine and no wake-up. The
	// others start first, so they still come in parallel with it.
	b.started = 1
	b.startWindow(0)
	b.start(0, true)
	worst := engine.SourceHit
	sent := len(b.needs) - b.ahead
	head := min(sent, headChunks)
	for i := range head {
		if _, _, err := b.wait(i); err != nil {
			return engine.SourceOrigin, err
		}
		worst = max(worst, b.slots[i].src)
	}
	for i := head; i < sent; i++ {
		s := engine.SourcePeer
		switch f := b.slots[i].async; {
		case i < b.started && f == nil:
			s = b.slots[i].src
		case i < b.started && isDone(f.done):
			s = f.src // a fetch that has ended: its source is known
		case i >= b.started && b.n.eng.Holds(b.o.ChunkKey(b.needs[i])):
			s = engine.SourceHit
		}
		worst = max(worst, s)
	}
	return worst, nil
}

// done drops the slot's bytes, giving a lent buffer back, or abandons
// its fetch.
func (s *slot) done() {
	if s.async != nil {
		s.async.abandon()
	} else if s.release != nil {
		s.release()
	}
	*s = slot{}
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// startWindow starts the fetches of slots [from, from+readahead].
func (b *body) startWindow(from int) {
	for ; b.started < len(b.needs) && b.started <= from+b.n.cfg.Readahead; b.started++ {
		b.start(b.started, false)
	}
}

// start fetches slot i: at once from local memory, else in the
// background, or, with inline, in the calling goroutine, which waits for
// the slot next (its fetch ends with the node, as a background one does;
// the body cannot be recycled meanwhile, since the caller is the one to
// recycle it). A chunk only fetched for the next request is never
// waited for.
func (b *body) start(i int, inline bool) {
	s := &b.slots[i]
	n, o, idx := b.n, b.o, b.needs[i]
	if o.Storable() {
		if data, ok := n.eng.Cached(o.ChunkKey(idx)); ok {
			s.data, s.src = data, engine.SourceHit
			if idx == 0 && b.fetched {
				s.src = engine.SourceOrigin // it came with this request's lookup
			}
			return
		}
	}
	if i >= len(b.needs)-b.ahead {
		n.ahead.fetch(n, o, idx) // for the next request, not this one
		return
	}
	if inline {
		s.data, s.src, s.release, s.err = n.eng.ChunkLent(n.baseCtx, o, idx)
		return
	}
	if b.ctx == nil {
		b.ctx, b.cancel = context.WithCancel(n.baseCtx)
	}
	f := &asyncFetch{done: make(chan struct{})}
	s.async = f
	ctx := b.ctx
	go func() {
		defer close(f.done)
		f.data, f.src, f.release, f.err = n.eng.ChunkLent(ctx, o, idx)
		if !f.state.CompareAndSwap(fetching, fetched) && f.release != nil {
			f.release() // the body was recycled meanwhile
		}
	}()
}

// wait returns the chunk of slot i once it is there.
func (b *body) wait(i int) ([]byte, engine.Source, error) {
	s := &b.slots[i]
	if f := s.async; f != nil {
		select {
		case <-f.done:
		case <-b.ctx.Done():
			return nil, engine.SourceOrigin, b.ctx.Err()
		}
		s.data, s.src, s.err, s.release, s.async = f.data, f.src, f.err, f.release, nil
	}
	return s.data, s.src, s.err
}

// chunkAt returns chunk idx, which is the body's current or next needed
// chunk by construction of needs.
func (b *body) chunkAt(idx int64) ([]byte, error) {
	if b.cur >= 0 && b.needs[b.cur] == idx {
		return b.curData, nil
	}
	if b.cur >= 0 {
		// The chunk is written (WriteTo and Read ask for the next piece
		// only then): its bytes go, and a lent buffer goes back.
		b.slots[b.cur].done()
		b.curData = nil
	}
	b.cur++
	if b.cur >= len(b.needs) || b.needs[b.cur] != idx {
		return nil, fmt.Errorf("edge: body needs chunk %d out of order", idx)
	}
	b.startWindow(b.cur)
	data, src, err := b.wait(b.cur)
	if err != nil {
		return nil, err
	}
	if want := b.n.eng.ChunkLen(b.o, idx); len(data) != want {
		return nil, fmt.Errorf("edge: chunk %d of %s has %d bytes, want %d", idx, b.o.Key, len(data), want)
	}
	b.curData = data
	b.slots[b.cur].src = src
	return data, nil
}

// nextPiece returns the next contiguous bytes of the body, io.EOF at the
// end.
func (b *body) nextPiece() ([]byte, engine.Source, error) {
	for b.spanIdx < len(b.spans) {
		sp := &b.spans[b.spanIdx]
		if sp.literal {
			b.spanIdx++
			return b.scrap[sp.start:sp.end], engine.SourceHit, nil
		}
		if b.pos < sp.start {
			b.pos = sp.start
		}
		if b.pos >= sp.end {
			b.spanIdx++
			b.pos = 0
			continue
		}
		cs := b.n.cfg.ChunkSize
		idx := b.pos / cs
		data, err := b.chunkAt(idx)
		if err != nil {
			return nil, engine.SourceOrigin, err
		}
		off := b.pos - idx*cs
		n := min(sp.end-b.pos, int64(len(data))-off)
		b.pos += n
		return data[off : off+n], b.slots[b.cur].src, nil
	}
	return nil, engine.SourceHit, io.EOF
}

// WriteTo writes the body without copying chunk bytes.
func (b *body) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if len(b.pending) > 0 {
		n, err := w.Write(b.pending)
		total += int64(n)
		b.pending = nil
		if err != nil {
			return total, err
		}
	}
	for {
		p, src, err := b.nextPiece()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			b.n.logBodyError(b.o, b.chunkIndex(), err)
			return total, err
		}
		n, err := w.Write(p)
		total += int64(n)
		b.sent[src] += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// chunkIndex is the index of the chunk being written, -1 before the first.
func (b *body) chunkIndex() int64 {
	if b.cur >= 0 && b.cur < len(b.needs) {
		return b.needs[b.cur]
	}
	return -1
}

// Read is the fallback for writers fasthttp does not hand to WriteTo.
func (b *body) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		piece, src, err := b.nextPiece()
		if err != nil {
			return 0, err
		}
		b.sent[src] += int64(len(piece))
		b.pending = piece
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

func (b *body) adopt(x exchange) { b.x = x }

// CloseWithError is how fasthttp ends the body, once it has written it
// (err nil) or given up (err says why). It ends the request's record and
// recycles the body. The body has no Close: fasthttp would call both.
func (b *body) CloseWithError(err error) error {
	n, x := b.n, b.x
	var sent int64
	for _, v := range b.sent {
		sent += v
	}
	complete := err == nil && sent == b.length
	b.release() // counts the bytes by source before the request is counted
	if !x.start.IsZero() {
		n.endExchange(&x, sent, complete)
	}
	return nil
}

// release counts the bytes sent, stops the fetches still running for this
// body and recycles it.
func (b *body) release() {
	b.n.countSent(b.sent)
	if b.cancel != nil {
		b.cancel()
	}
	for i := range b.slots {
		b.slots[i].done()
	}
	clear(b.slots)
	*b = body{spans: b.spans[:0], needs: b.needs[:0], slots: b.slots[:0], scrap: b.scrap[:0]}
	bodyPool.Put(b)
}
