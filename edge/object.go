package edge

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

// originReader is what the edge needs of an origin; *origin.Client is one.
type originReader interface {
	Stat(ctx context.Context, path string) (origin.Meta, error)
	Revalidate(ctx context.Context, path string, old origin.Meta) (origin.Meta, bool, error)
	ReadRange(ctx context.Context, path string, m origin.Meta, off int64, dst []byte) error
}

// object is what the edge knows of one version of one object. It is
// immutable once published in the object cache: a revalidation publishes a
// new one, so a response in flight keeps a consistent view.
type object struct {
	key      string // the cache key and the path asked of the origin
	meta     origin.Meta
	version  string // chunk version; "" when the origin gives no validator
	policy   cachePolicy
	fetched  time.Time // when the origin last vouched for it
	notFound bool      // a cached 404
	// gen is the node's purge epoch when the lookup that made this object
	// began: a purge of its key after that forbids keeping anything of it
	// (see purgeLog).
	gen uint64

	// Header values formatted once, so that a hit formats nothing.
	lastModified string
	contentType  string
}

// storable reports whether the object's chunks may be kept. Without a
// validator, chunks fetched at different times might come from different
// versions, so they are streamed but never stored.
func (o *object) storable() bool { return !o.policy.noStore && o.version != "" }

func (o *object) fresh(now time.Time) bool { return now.Before(o.fetched.Add(o.policy.ttl)) }

func (o *object) expiresAt() time.Time { return o.fetched.Add(o.policy.ttl) }

// chunkKey names chunk idx of this version of the object.
func (o *object) chunkKey(idx int64) chunk.Key {
	return chunk.Key{Object: o.key, Version: o.version, Index: idx}
}

// objects caches object metadata: the answer to "what is this path now"
// that every request needs before it can name a chunk. Lookups of one path
// share one origin round trip, and a stale entry is revalidated once per
// object, not once per chunk or per request.
type objects struct {
	cache       *lru.Cache[string, *object]
	flights     singleflight.Group
	origin      originReader
	now         func() time.Time
	defaultTTL  time.Duration
	negativeTTL time.Duration
	timeout     time.Duration
	coalesced   func() // counts a lookup that joined another's flight
	// remote asks the object's leader when that is another node; ok is
	// false when there is none to ask (this node leads, or the leaders
	// failed), and the origin is asked instead.
	remote func(ctx context.Context, key string) (o *object, ok bool, err error)
	// leads reports whether this node is the object's leader.
	leads func(key string) bool
	// fence refuses entries of lookups that a purge overtook; nil: no
	// purges (tests that build objects alone).
	fence *purgeLog
}

func newObjects(entries int, or originReader, now func() time.Time, defaultTTL, negativeTTL, timeout time.Duration) (*objects, error) {
	c, err := lru.New[string, *object](entries)
	if err != nil {
		return nil, err
	}
	return &objects{cache: c, origin: or, now: now, defaultTTL: defaultTTL, negativeTTL: negativeTTL, timeout: timeout, coalesced: func() {}}, nil
}

// lookup returns the current object for key. key may alias a request
// buffer: it is copied before anything keeps it. When the cache has no
// fresh entry, the object's leader is asked first (remote), so that the
// origin sees one metadata request per object for the whole cluster.
func (c *objects) lookup(ctx context.Context, key string) (*object, error) {
	return c.get(ctx, key, true)
}

// lookupLocal is lookup for a peer that asks this node as the object's
// leader: it never forwards, so differing ring views cannot make two
// leaders ask each other in a circle.
func (c *objects) lookupLocal(ctx context.Context, key string) (*object, error) {
	return c.get(ctx, key, false)
}

func (c *objects) get(ctx context.Context, key string, forward bool) (*object, error) {
	if o, ok := c.cache.Get(key); ok && o.fresh(c.now()) {
		if o.notFound {
			return o, errNotFoundCached
		}
		return o, nil
	}
	key = strings.Clone(key)
	if forward && c.leads != nil && c.leads(key) {
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
		o := r.Val.(*object)
		if o.notFound {
			return o, errNotFoundCached
		}
		return o, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errNotFoundCached: the origin said 404 recently; the edge answers 404
// without asking again until the negative entry expires.
var errNotFoundCached = errors.New("not found at origin (cached)")

// refresh finds out what key is now: from the object's leader when forward
// is set and the leader is another node, else from the origin, revalidating
// the entry it replaces when there is one. It runs detached from any one
// client's context so that a client going away does not fail the others
// waiting on it.
func (c *objects) refresh(key string, forward bool) (*object, error) {
	// What this lookup learns may be kept only if no purge of key comes
	// between now and then: the answer could predate the purge.
	gen := c.fence.epoch()
	now := c.now()
	if o, ok := c.cache.Get(key); ok && o.fresh(now) {
		return o, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if forward && c.remote != nil {
		if o, ok, err := c.remote(ctx, key); ok {
			if err != nil {
				return nil, err
			}
			return c.store(o, gen), nil
		}
	}
	old, had := c.cache.Peek(key)
	if had && !old.notFound {
		m, _, err := c.origin.Revalidate(ctx, key, old.meta)
		if err != nil {
			if errors.Is(err, origin.ErrNotFound) {
				return c.store(c.negative(key, now), gen), nil
			}
			if now.Before(old.expiresAt().Add(old.policy.staleIfError)) {
				return old, nil // RFC 5861 stale-if-error
			}
			return nil, err
		}
		return c.store(c.newObject(key, m, now), gen), nil
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

// store publishes o, a new object that a lookup begun at purge epoch gen
// produced, unless its key was purged since: then o is only returned to
// the lookup's waiters, who asked before the purge.
func (c *objects) store(o *object, gen uint64) *object {
	o.gen = gen
	c.fence.admit(o.key, gen, func() { c.cache.Add(o.key, o) })
	return o
}

func (c *objects) negative(key string, now time.Time) *object {
	return &object{key: key, fetched: now, notFound: true, policy: cachePolicy{ttl: c.negativeTTL}, gen: c.fence.epoch()}
}

func (c *objects) newObject(key string, m origin.Meta, now time.Time) *object {
	o := &object{
		key:         key,
		meta:        m,
		version:     chunk.Version(m.ETag, m.LastModified, m.Size),
		policy:      policyFor(m.CacheControl, m.Expires, m.Date, m.LastModified, now, c.defaultTTL),
		fetched:     now,
		contentType: m.ContentType,
		gen:         c.fence.epoch(),
	}
	if !m.LastModified.IsZero() {
		o.lastModified = m.LastModified.UTC().Format(http.TimeFormat)
	}
	if o.contentType == "" {
		o.contentType = origin.ContentType(key)
	}
	return o
}

// invalidate drops o if it is still the current entry for its key: the
// origin showed that the version it describes is gone.
func (c *objects) invalidate(o *object) {
	if cur, ok := c.cache.Peek(o.key); ok && cur == o {
		c.cache.Remove(o.key)
	}
}
