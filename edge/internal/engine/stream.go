package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/edgecache/edgecache/edge/internal/forward"
)

// maxStreamStarts bounds the whole-body requests one chunk read may make
// of an object read as a stream: the first, and one retry if it breaks.
const maxStreamStarts = 2

// streams are the bodies this node is cutting into chunks, by object
// version: every reader of a chunk of such an object waits on one of them
// rather than asking the origin again.
type streams struct {
	mu      sync.Mutex
	running map[string][]*runningStream
}

// runningStream is one body being read from chunk first on: ready is
// closed once the request is answered (s set) or failed (err set).
type runningStream struct {
	first int64
	ready chan struct{}
	s     *forward.Stream
	err   error
}

// covers reports whether r will cut chunk idx (it has not passed it).
func (r *runningStream) covers(idx int64) bool {
	if r.first > idx {
		return false
	}
	select {
	case <-r.ready:
		return r.s != nil && r.s.Next() <= idx && !isDone(r.s.Done())
	default:
		return true // still opening, from first
	}
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func streamKey(o *Object) string { return o.Key + "\x00" + o.Version }

// join returns a stream of o that will cut chunk idx, or registers a new
// one, starting at chunk from, for the caller to open (fresh).
func (ss *streams) join(o *Object, idx, from int64) (r *runningStream, fresh bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	k := streamKey(o)
	for _, r := range ss.running[k] {
		if r.covers(idx) {
			return r, false
		}
	}
	if ss.running == nil {
		ss.running = map[string][]*runningStream{}
	}
	r = &runningStream{first: from, ready: make(chan struct{})}
	ss.running[k] = append(ss.running[k], r)
	return r, true
}

// end forgets r once it is over.
func (ss *streams) end(o *Object, r *runningStream) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	k := streamKey(o)
	list := ss.running[k]
	for i, x := range list {
		if x == r {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(ss.running, k)
	} else {
		ss.running[k] = list
	}
}

// startStream cuts body, o's bytes from chunk first on, into chunks that
// it keeps and places as they come, in the background.
func (e *Engine) startStream(o *Object, first int64, body io.ReadCloser) {
	r, fresh := e.streams.join(o, first, first)
	if !fresh {
		body.Close() // another reader of this version is already cutting it
		return
	}
	e.run(o, r, body)
}

// run makes r read body and end when it has.
func (e *Engine) run(o *Object, r *runningStream, body io.ReadCloser) {
	r.s = forward.NewStream(e.cfg.ChunkSize, o.Meta.Size, r.first, func(idx int64, data []byte) {
		e.keepAndPlace(o, idx, data)
	})
	close(r.ready)
	e.background(func() {
		defer e.streams.end(o, r)
		err := r.s.Run(e.ctx, body)
		if err != nil && e.ctx.Err() == nil {
			e.log.Warn("origin body broke while it was being cut into chunks", "key", o.Key, "err", err)
		}
	})
}

// streamChunk reads chunk idx of o, an object read as one stream (its
// origin ignores Range, or its validators are too weak to read it in
// pieces): from a stream already cutting it, else from a new request,
// from the first chunk before idx that this node lacks if the origin
// serves ranges, else from the start. At most maxStreamStarts requests
// are made.
func (e *Engine) streamChunk(ctx context.Context, o *Object, idx int64) ([]byte, error) {
	from := int64(0)
	if o.Ranges {
		// From the first of the chunks before idx that nobody holds, so
		// that the readers of a new object's chunks, whichever asks first,
		// share one stream.
		for from = idx; from > 1 && !e.store.Contains(ChunkEntry(o.ChunkKey(from-1))); from-- {
		}
	}
	var last error
	for starts := 0; ; {
		r, fresh := e.streams.join(o, idx, from)
		if fresh {
			// A stream that ended just now kept every chunk it cut before
			// it ended: look again before asking the origin.
			if b, ok := e.store.Get(ChunkEntry(o.ChunkKey(idx))); ok {
				e.streams.end(o, r)
				close(r.ready)
				return b, nil
			}
			if starts == maxStreamStarts {
				e.streams.end(o, r)
				close(r.ready)
				return nil, fmt.Errorf("chunk %d of %s: the origin's body broke %d times: %w", idx, o.Key, starts, last)
			}
			starts++
			e.stats.streams.Add(1)
			// The stream outlives this read (others wait on it): it lives
			// under the engine's context, not this fill's.
			body, err := e.origin.Stream(e.ctx, o.Key, o.Meta, o.Fetch, from*e.cfg.ChunkSize)
			if err != nil {
				r.err = err
				e.streams.end(o, r)
				close(r.ready)
				return nil, fmt.Errorf("chunk %d of %s: %w", idx, o.Key, err)
			}
			e.run(o, r, body)
		}
		select {
		case <-r.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if r.s == nil {
			return nil, fmt.Errorf("chunk %d of %s: %w", idx, o.Key, r.err)
		}
		data, err := r.s.Wait(ctx, idx)
		switch {
		case err == nil:
			return data, nil
		case errors.Is(err, forward.ErrPassed):
			if b, ok := e.store.Get(ChunkEntry(o.ChunkKey(idx))); ok {
				return b, nil
			}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		last = err
	}
}
