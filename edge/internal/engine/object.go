package engine

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/origin"
)

// Policy is what a response's headers allow a shared cache to do with it
// (Config.Freshness derives it).
type Policy struct {
	// NoStore: stream the bytes, never keep them (no-store, private).
	NoStore bool
	// TTL is how long the response stays fresh from the time it was
	// fetched; 0 means it must be revalidated before every use.
	TTL time.Duration
	// StaleIfError is how long past TTL a stale copy may be served when
	// the origin fails (RFC 5861).
	StaleIfError time.Duration
}

// Object is what the engine knows of one version of one object. It is
// immutable once published in the metadata cache: a revalidation publishes
// a new one, so a response in flight keeps a consistent view. Its fields
// must not be changed.
type Object struct {
	Key      string // the cache key and the path asked of the origin
	Meta     origin.Meta
	Version  string // chunk version; "" when the origin gives no validator
	Policy   Policy
	Fetched  time.Time // when the origin last vouched for it
	NotFound bool      // a cached 404

	// Header values formatted once, so that a hit formats nothing.
	LastModified string // Meta.LastModified as an HTTP date; "" without one
	ContentType  string // the origin's, else guessed from the key

	// gen is the purge epoch when the lookup that made this object began:
	// a purge of its key after that forbids keeping anything of it.
	gen uint64
}

// Storable reports whether the object's chunks may be kept. Without a
// validator, chunks fetched at different times might come from different
// versions, so they are streamed but never stored.
func (o *Object) Storable() bool { return !o.Policy.NoStore && o.Version != "" }

// Fresh reports whether the object may be used at now without asking the
// origin.
func (o *Object) Fresh(now time.Time) bool { return now.Before(o.Fetched.Add(o.Policy.TTL)) }

// ExpiresAt is when the object stops being fresh.
func (o *Object) ExpiresAt() time.Time { return o.Fetched.Add(o.Policy.TTL) }

// ChunkKey names chunk idx of this version of the object.
func (o *Object) ChunkKey(idx int64) chunk.Key {
	return chunk.Key{Object: o.Key, Version: o.Version, Index: idx}
}

// objects caches object metadata: the answer to "what is this path now"
// that every request needs before it can name a chunk. Lookups of one path
// share one origin round trip, and a stale entry is revalidated once per
// object, not once per chunk or per request.
type objects struct {
	cache       *lru.Cache[string, *Object]
	flights     singleflight.Group
	origin      Origin
	now         func() time.Time
	freshness   func(origin.Meta, time.Time) Policy
	negativeTTL time.Duration
	timeout     time.Duration
	coalesced   func() // counts a lookup that joined another's flight
	// remote asks the object's leader when that is another node; ok is
	// false when there is none to ask (this node leads, or the leaders
	// failed), and the origin is asked instead.
	remote func(ctx context.Context, key string) (o *Object, ok bool, err error)
	// leads reports whether this node is the object's leader.
	leads func(key string) bool
	// fence refuses entries of lookups that a purge overtook.
	fence *Fence
}

// Lookup returns the current object for key. key may alias a request
// buffer: it is copied before anything keeps it. When the cache has no
// fresh entry, the object's leader is asked first, so that the origin sees
// one metadata request per object for the whole cluster. A cached 404 is
// returned with ErrNotFoundCached.
func (e *Engine) Lookup(ctx context.Context, key string) (*Object, error) {
	return e.objects.get(ctx, key, true)
}

// LookupLocal is Lookup for a peer that asks this node as the object's
// leader: it never forwards, so differing ring views cannot make two
// leaders ask each other in a circle.
func (e *Engine) LookupLocal(ctx context.Context, key string) (*Object, error) {
	return e.objects.get(ctx, key, false)
}

// Invalidate drops o if it is still the current entry for its key: the
// origin showed that the version it describes is gone.
func (e *Engine) Invalidate(o *Object) {
	if cur, ok := e.objects.cache.Peek(o.Key); ok && cur == o {
		e.objects.cache.Remove(o.Key)
	}
}

// Objects is how many objects' metadata is cached.
func (e *Engine) Objects() int { return e.objects.cache.Len() }

// HasObject reports whether key's metadata is cached, fresh or not.
func (e *Engine) HasObject(key string) bool { return e.objects.cache.Contains(key) }

func (c *objects) get(ctx context.Context, key string, forward bool) (*Object, error) {
	if o, ok := c.cache.Get(key); ok && o.Fresh(c.now()) {
		if o.NotFound {
			return o, ErrNotFoundCached
		}
		return o, nil
	}
	key = strings.Clone(key)
	if forward && c.leads(key) {
		forward = false // share the flight of peers asking this node as leader
	}
	flight := "o:" + key
	if forward {
		flight = "f:" + key
	}
	ch := c.flights.DoChan(flight, func() (any, error) { return c.refresh(key, forward) })
	select {
	case r := <-ch:
		if r.Shared {
			c.coalesced()
		}
		if r.Err != nil {
			return nil, r.Err
		}
		o := r.Val.(*Object)
		if o.NotFound {
			return o, ErrNotFoundCached
		}
		return o, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// refresh finds out what key is now: from the object's leader when forward
// is set and the leader is another node, else from the origin, revalidating
// the entry it replaces when there is one. It runs detached from any one
// client's context so that a client going away does not fail the others
// waiting on it.
func (c *objects) refresh(key string, forward bool) (*Object, error) {
	// What this lookup learns may be kept only if no purge of key comes
	// between now and then: the answer could predate the purge.
	gen := c.fence.Epoch()
	now := c.now()
	if o, ok := c.cache.Get(key); ok && o.Fresh(now) {
		return o, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if forward {
		if o, ok, err := c.remote(ctx, key); ok {
			if err != nil {
				return nil, err
			}
			return c.store(o, gen), nil
		}
	}
	if old, had := c.cache.Peek(key); had && !old.NotFound {
		return c.revalidate(ctx, old, now, gen)
	}
	m, err := c.origin.Stat(ctx, key)
	if errors.Is(err, origin.ErrNotFound) {
		return c.store(c.negative(key, now), gen), nil
	}
	if err != nil {
		return nil, err
	}
	return c.store(c.newObject(key, m, now), gen), nil
}

// revalidate asks the origin whether old, a stale entry, is still current.
func (c *objects) revalidate(ctx context.Context, old *Object, now time.Time, gen uint64) (*Object, error) {
	m, _, err := c.origin.Revalidate(ctx, old.Key, old.Meta)
	if err != nil {
		if errors.Is(err, origin.ErrNotFound) {
			return c.store(c.negative(old.Key, now), gen), nil
		}
		if now.Before(old.ExpiresAt().Add(old.Policy.StaleIfError)) {
			return old, nil // RFC 5861 stale-if-error
		}
		return nil, err
	}
	return c.store(c.newObject(old.Key, m, now), gen), nil
}

// store publishes o, a new object that a lookup begun at purge epoch gen
// produced, unless its key was purged since: then o is only returned to
// the lookup's waiters, who asked before the purge.
func (c *objects) store(o *Object, gen uint64) *Object {
	o.gen = gen
	c.fence.Admit(o.Key, gen, func() { c.cache.Add(o.Key, o) })
	return o
}

func (c *objects) negative(key string, now time.Time) *Object {
	return &Object{Key: key, Fetched: now, NotFound: true, Policy: Policy{TTL: c.negativeTTL}, gen: c.fence.Epoch()}
}

func (c *objects) newObject(key string, m origin.Meta, now time.Time) *Object {
	o := &Object{
		Key:         key,
		Meta:        m,
		Version:     chunk.Version(m.ETag, m.LastModified, m.Size),
		Policy:      c.freshness(m, now),
		Fetched:     now,
		ContentType: m.ContentType,
		gen:         c.fence.Epoch(),
	}
	if !m.LastModified.IsZero() {
		o.LastModified = m.LastModified.UTC().Format(http.TimeFormat)
	}
	if o.ContentType == "" {
		o.ContentType = origin.ContentType(key)
	}
	return o
}

// forget drops key's entry and any lookup of it in flight, so that later
// requests do not join it; it reports whether an entry was held.
func (c *objects) forget(key string) bool {
	_, had := c.cache.Peek(key)
	c.cache.Remove(key)
	c.flights.Forget("o:" + key)
	c.flights.Forget("f:" + key)
	return had
}
