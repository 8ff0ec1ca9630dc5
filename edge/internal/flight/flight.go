// Package flight runs one call per key at a time and shares its result
// with the callers that arrive while it runs, as singleflight does, but
// tells the caller that started the call from those that joined it. The
// edge needs the difference: an origin answer that may not be shared (a
// private response, one to a request with credentials) belongs to the
// request that caused it, and the others must ask for their own.
//
// # What this package must never do
//
// It must never import other edgecache packages, and never hold its lock
// while a call runs.
package flight

import (
	"context"
	"sync"
)

// Group runs calls keyed by K. The zero Group is ready to use.
type Group[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*call[V]
}

type call[V any] struct {
	done chan struct{}
	val  V
	err  error
	n    int // callers that joined
}

// Do runs fn for key unless a call for key is running, in which case it
// waits for that call's result. started reports whether this caller ran
// fn; joined is how many callers shared a result it ran. A caller whose
// ctx ends stops waiting (with ctx's error) but does not stop fn, whose
// result still goes to the others: fn must bound itself.
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func() (V, error)) (v V, started bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[K]*call[V]{}
	}
	if c, ok := g.calls[key]; ok {
		c.n++
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.val, false, c.err
		case <-ctx.Done():
			var zero V
			return zero, false, ctx.Err()
		}
	}
	c := &call[V]{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	res := make(chan struct{})
	go func() {
		defer close(res)
		c.val, c.err = fn()
		g.mu.Lock()
		if g.calls[key] == c { // not a newer call after Forget
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
	}()
	select {
	case <-res:
		return c.val, true, c.err
	case <-ctx.Done():
		var zero V
		return zero, true, ctx.Err()
	}
}

// Forget makes later callers of the keys match selects start a call of
// their own instead of joining the one running (a purge overtook it).
func (g *Group[K, V]) Forget(match func(K) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.calls {
		if match(k) {
			delete(g.calls, k)
		}
	}
}
