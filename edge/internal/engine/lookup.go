package engine

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/edgecache/edgecache/edge/internal/httpcache"
)

// ErrNotCached answers a request with only-if-cached that no stored
// response satisfies (RFC 9111 §5.2.1.7: the edge answers 504).
var ErrNotCached = errors.New("not cached, and the request allows no origin request")

// outcome is what one lookup learned, shared by the requests that joined
// it.
type outcome struct {
	obj     *Object // the stored object or Pass marker it found or published
	stale   bool    // obj is served stale: the origin failed (stale-if-error)
	answer  *Answer // the starter's own answer, never shared
	pass    bool    // relay the request to the origin
	fetched bool    // the origin was asked
	// revalidated: it answered 304, so the body is the stored one
	revalidated bool
}

// Lookup finds what answers req: a stored object that may answer it, or
// else what the object's leader (when that is another node) or the origin
// says now. Lookups of one key (and variant, and credentials) share one
// request to the leader or the origin, so that the origin sees one
// request per object for the whole cluster. The hit path allocates
// nothing for an object that does not vary.
func (e *Engine) Lookup(ctx context.Context, req *Request) (Result, error) {
	return e.lookup(ctx, req, true, false)
}

// LookupLocal is Lookup for a peer that asks this node as the object's
// leader: it never forwards, so that differing ring views cannot make two
// leaders ask each other in a circle.
func (e *Engine) LookupLocal(ctx context.Context, req *Request) (Result, error) {
	return e.lookup(ctx, req, false, false)
}

func (e *Engine) lookup(ctx context.Context, req *Request, forward, retried bool) (Result, error) {
	old := e.objects.find(req)
	if old == nil {
		// A node that leads the key (or is asked as its leader) has only
		// the origin to go to past its disk.
		old = e.objectFromDisk(ctx, req, !forward || e.leadsObject(req.Key))
	}
	if old != nil {
		if r, ok := e.usable(old, req, e.now()); ok {
			if r.Stale {
				e.revalidateBehind(req, old, forward)
			}
			return r, nil
		}
	}
	if req.directives().OnlyIfCached {
		return Result{}, ErrNotCached
	}
	if forward && e.leadsObject(req.Key) {
		forward = false // share the lookup of the peers that ask this node as leader
	}
	snap := snapshot(req)
	out, started, err := e.objects.flights.Do(ctx, e.flightOf(snap, old, forward), func() (*outcome, error) {
		return e.refresh(snap, old, forward)
	})
	if err != nil {
		return Result{}, err
	}
	return e.settle(ctx, req, out, started, forward, retried)
}

// usable says whether o may answer req at now, and how.
func (e *Engine) usable(o *Object, req *Request, now time.Time) (Result, bool) {
	if o.Pass {
		return Result{Object: o, Pass: true}, o.Fresh.Remaining(now) > 0
	}
	if req.Credentials && !o.Shareable {
		return Result{}, false
	}
	switch o.Fresh.Use(now, req.directives(), req.PragmaNoCache) {
	case httpcache.Serve:
		return Result{Object: o}, true
	case httpcache.ServeStale:
		return Result{Object: o, Stale: true}, true
	}
	return Result{}, false
}

// settle turns a lookup's outcome into this request's result. The
// request that started the lookup gets its own answer; one that joined
// gets the stored object if it selects it, else looks up again (once: the
// key is then marked Pass, or its variant is known).
func (e *Engine) settle(ctx context.Context, req *Request, out *outcome, started, forward, retried bool) (Result, error) {
	switch {
	case started && out.answer != nil:
		return Result{Answer: out.answer, Fetched: out.fetched}, nil
	case out.pass:
		return Result{Object: out.obj, Pass: true, Fetched: out.fetched}, nil
	case out.obj != nil && (started || e.selects(out.obj, req)):
		if out.obj.Pass {
			return Result{Object: out.obj, Pass: true, Fetched: out.fetched}, nil
		}
		return Result{Object: out.obj, Stale: out.stale, Fetched: out.fetched, Revalidated: out.revalidated}, nil
	case retried:
		return Result{Pass: true}, nil
	}
	return e.lookup(ctx, req, forward, true)
}

// selects reports whether o is the response req selects and may use.
func (e *Engine) selects(o *Object, req *Request) bool {
	if req.Credentials && !o.Shareable && !o.Pass {
		return false
	}
	return len(o.Vary) == 0 || httpcache.VariantKey(o.Vary, req.Header.Values) == o.Variant
}

// flightOf names the lookup req may share.
func (e *Engine) flightOf(req *Request, old *Object, forward bool) flightKey {
	k := flightKey{key: req.Key, local: !forward}
	if old != nil {
		k.variant = old.Variant
	} else if ent, ok := e.objects.cache.Peek(req.Key); ok && ent.obj == nil {
		k.variant = httpcache.VariantKey(ent.vary, req.Header.Values)
	}
	if req.Credentials {
		k.creds = xxhash.Sum64String(strings.Join(req.Header.Values("Authorization"), "\n")) | 1
	}
	d := req.directives()
	k.validate = d.NoCache || req.PragmaNoCache || d.MaxAge != httpcache.Absent || d.MinFresh != httpcache.Absent
	return k
}

// snapshot copies what a lookup keeps of a request past the handler that
// made it: the key and fields may alias buffers fasthttp reuses.
func snapshot(req *Request) *Request {
	fields := req.Header.All()
	own := make(httpcache.Fields, len(fields))
	for i, f := range fields {
		own[i] = httpcache.Field{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)}
	}
	s := *req
	s.Key = strings.Clone(req.Key)
	s.Header = FieldsHeader{Fields: own, From: req.Header.Client()}
	if req.Directives != nil {
		d := *req.Directives
		s.Directives = &d
	}
	return &s
}

// refresh finds out what req's key is now: from the object's leader when
// forward is set and the leader is another node, else from the origin,
// revalidating old (a stale entry) when there is one. It runs detached
// from any one client's context so that a client going away does not
// fail the others waiting on it.
func (e *Engine) refresh(req *Request, old *Object, forward bool) (*outcome, error) {
	// What this lookup learns may be kept only if no purge of the key
	// comes between now and then: the answer could predate the purge.
	gen := e.fence.Epoch()
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.FillTimeout)
	defer cancel()
	if cur := e.objects.find(req); cur != nil && cur != old {
		if r, ok := e.usable(cur, req, e.now()); ok && !r.Stale {
			return &outcome{obj: cur, pass: r.Pass}, nil // a lookup that ended while this one began
		}
	}
	leads := e.leadsObject(req.Key)
	if forward && !leads {
		if out, ok, err := e.askObjectLeader(ctx, req, gen); ok {
			return out, err
		}
		leads = true // no keeper ahead of this node answered
	}
	if old == nil && leads {
		// A copy a keeper holds is as good as this node's own: served if
		// fresh, else revalidated rather than fetched whole.
		if kept := e.askKeepers(ctx, req, gen); kept != nil {
			if r, ok := e.usable(kept, req, e.now()); ok && !r.Stale {
				return &outcome{obj: kept}, nil
			}
			old = kept
		}
	}
	return e.fetchFirst(req, old, gen)
}

// revalidateBehind refreshes old, a stale object served within
// stale-while-revalidate, without making anyone wait for it.
func (e *Engine) revalidateBehind(req *Request, old *Object, forward bool) {
	snap := snapshot(req)
	e.background(func() {
		_, _, _ = e.objects.flights.Do(e.ctx, e.flightOf(snap, old, forward), func() (*outcome, error) {
			return e.refresh(snap, old, forward)
		})
	})
}

// publish makes o the response its key and variant answer with, unless a
// purge of the key overtook the lookup that made it (begun at epoch gen):
// then o only answers that lookup's requests, which came before the purge.
func (e *Engine) publish(o *Object, gen uint64) *Object {
	o.gen = gen
	// Saved under the fence: a purge that marks the key after this is
	// queued on the disk after the object, and removes it.
	e.fence.Admit(o.Key, gen, func() {
		e.objects.put(o)
		e.saveObject(o)
	})
	return o
}

// Invalidate drops o if it is still what its key answers with: the origin
// showed that the version it describes is gone.
func (e *Engine) Invalidate(o *Object) {
	e.objects.drop(o)
	e.forgetObjectOnDisk(o.Key)
}

// Objects is how many keys' metadata is cached.
func (e *Engine) Objects() int { return e.objects.cache.Len() }

// Variants is how many responses are stored for key, its variants when
// they vary.
func (e *Engine) Variants(key string) int {
	ent, ok := e.objects.cache.Peek(key)
	switch {
	case !ok:
		return 0
	case ent.obj != nil:
		return 1
	}
	return len(ent.variants)
}

// HasObject reports whether key's metadata is cached, fresh or not.
func (e *Engine) HasObject(key string) bool { return e.objects.cache.Contains(key) }
