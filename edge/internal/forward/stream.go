package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrPassed is what Stream.Wait returns for a chunk the stream cut before
// anyone waited for it: it went to OnChunk, and the caller looks for it
// where OnChunk put it.
var ErrPassed = errors.New("the stream is past that chunk")

// Stream cuts one response body into chunks as it flows, so that every
// reader of the object waits on the one origin request instead of making
// its own. It hands each chunk to OnChunk as soon as it is whole, then to
// the readers waiting for it.
type Stream struct {
	chunkSize int64
	size      int64 // the body's end offset; every chunk but the last is whole
	onChunk   func(idx int64, data []byte)

	mu      sync.Mutex
	next    int64              // index of the chunk being read
	waiting map[int64]*waiters // by chunk index; a chunk's group goes once it is cut
	err     error              // why the stream ended early; nil while it runs or once it is whole
	done    chan struct{}
}

// waiters are the readers of one chunk: woken together when it is cut,
// each holding the group, so the chunk is freed with the last of them.
type waiters struct {
	ready chan struct{}
	data  []byte
	err   error
}

// NewStream returns a stream of the body of an object of size bytes, whose
// next byte is the first of chunk first. Run it with Run.
func NewStream(chunkSize, size, first int64, onChunk func(idx int64, data []byte)) *Stream {
	return &Stream{chunkSize: chunkSize, size: size, onChunk: onChunk, next: first,
		waiting: map[int64]*waiters{}, done: make(chan struct{})}
}

// Run reads body to its end, chunk by chunk, and closes it. It returns the
// error that cut the stream short, if any; readers waiting for chunks it
// did not reach get that error too.
func (s *Stream) Run(ctx context.Context, body io.ReadCloser) error {
	defer body.Close()
	stop := context.AfterFunc(ctx, func() { body.Close() })
	defer stop()
	err := s.read(body)
	if err == nil {
		// The body must end where the object does: more is a broken answer.
		var one [1]byte
		if n, _ := body.Read(one[:]); n > 0 {
			err = fmt.Errorf("the body goes on past %d bytes", s.size)
		}
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	s.finish(err)
	return err
}

func (s *Stream) read(body io.Reader) error {
	for {
		s.mu.Lock()
		idx := s.next
		s.mu.Unlock()
		start := idx * s.chunkSize
		if start >= s.size {
			return nil
		}
		buf := make([]byte, min(s.chunkSize, s.size-start))
		if n, err := io.ReadFull(body, buf); err != nil {
			return fmt.Errorf("chunk %d: the body broke after %d of its %d bytes: %w", idx, n, len(buf), err)
		}
		s.onChunk(idx, buf)
		s.mu.Lock()
		if w := s.waiting[idx]; w != nil {
			w.data = buf
			close(w.ready)
			delete(s.waiting, idx)
		}
		s.next = idx + 1
		s.mu.Unlock()
	}
}

func (s *Stream) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
	for idx, w := range s.waiting {
		w.err = err
		if w.err == nil {
			w.err = fmt.Errorf("chunk %d is past the stream's end", idx)
		}
		close(w.ready)
		delete(s.waiting, idx)
	}
	close(s.done)
}

// Wait returns chunk idx once the stream has cut it; ErrPassed if it had
// before the call; the stream's error if it ended before reaching it; the
// context's error if ctx ends first.
func (s *Stream) Wait(ctx context.Context, idx int64) ([]byte, error) {
	s.mu.Lock()
	switch {
	case idx < s.next:
		s.mu.Unlock()
		return nil, ErrPassed
	case isClosed(s.done):
		err := s.err
		s.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("chunk %d is past the stream's end", idx)
		}
		return nil, err
	}
	w := s.waiting[idx]
	if w == nil {
		w = &waiters{ready: make(chan struct{})}
		s.waiting[idx] = w
	}
	s.mu.Unlock()
	select {
	case <-w.ready:
		return w.data, w.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Next is the index of the chunk the stream is cutting: Wait for an
// earlier one returns ErrPassed.
func (s *Stream) Next() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// Done is closed when the stream has ended, whole or not.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err is why the stream ended early, once Done is closed.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
