package engine

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/flight"
	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/origin"
)

// Object is one stored response of the origin: one version of one
// variant of one URL, with everything needed to answer from it (status,
// fields, size) and to read its body a chunk at a time. It is immutable
// once published in the metadata cache: a revalidation publishes a new
// one, so that a response in flight keeps a consistent view. Its fields
// must not be changed.
type Object struct {
	// Key is the primary cache key: the path and query asked of the origin.
	Key string
	// Variant names which of Key's responses this is, when they vary
	// (httpcache.VariantKey); 0 otherwise.
	Variant uint64
	// Status is the status the edge answers with: 200 for the window of
	// a 206 that the origin sent for a whole object.
	Status int
	// Header holds the end-to-end fields replayed on every answer, Date
	// included (added when the origin sent none).
	Header httpcache.Fields
	// Meta holds the body's size and validators, for ranged reads and
	// revalidation.
	Meta origin.Meta
	// Version names this version in its chunks' keys (chunk.Key).
	Version string
	// Fetch holds the request fields sent with every later read of the
	// body, so that each part comes from the same representation.
	Fetch http.Header
	// Fresh is its lifetime and age.
	Fresh httpcache.Freshness
	// Vary lists the request fields that select among Key's responses.
	Vary []string
	// Ranges: the origin serves ranges of it. Piecewise reports that each
	// chunk may be read as a range of its own (Ranges and a strong ETag,
	// so that parts cannot mix versions); otherwise the body is read as
	// one stream, at the object's leader, cut into chunks as it flows.
	Ranges, Piecewise bool
	// Shareable: it may answer requests that carry credentials.
	Shareable bool
	// Pass marks Key as not stored for a while (its responses were not
	// storable): requests relay to the origin instead of waiting for each
	// other. Such an Object has no body.
	Pass bool

	// gen is the purge epoch when the lookup that made this object began:
	// a purge of its key after that forbids keeping anything of it.
	gen uint64
	// rendered is what Rendering built, an *any; set atomically. A copy
	// of an Object must start without it (fresh).
	rendered unsafe.Pointer
}

// Rendering returns what build makes of the object, built once per object
// and kept with it: the edge's answer header, ready to copy onto each
// answer. build must depend on nothing but the object; two callers at
// once may both build, and one result is kept.
func (o *Object) Rendering(build func(*Object) any) any {
	if p := atomic.LoadPointer(&o.rendered); p != nil {
		return *(*any)(p)
	}
	v := build(o)
	atomic.StorePointer(&o.rendered, unsafe.Pointer(&v))
	return v
}

// Copy returns a copy of o to change before it is published, without
// what was rendered of o.
func (o *Object) Copy() *Object {
	c := *o
	c.rendered = nil
	return &c
}

// Storable reports whether the object's chunks may be kept.
func (o *Object) Storable() bool { return !o.Pass }

// ChunkKey names chunk idx of this version of the object.
func (o *Object) ChunkKey(idx int64) chunk.Key {
	return chunk.Key{Object: o.Key, Version: o.Version, Index: idx}
}

// ContentType is the stored Content-Type, "" without one.
func (o *Object) ContentType() string { return o.Header.Get("Content-Type") }

// Fetched is when the origin last vouched for the object.
func (o *Object) Fetched() time.Time { return o.Fresh.ResponseTime }

// versionOf names a version in chunk keys: its validators (a minted time
// when it has none, so that versions never mix), and its variant.
func versionOf(m origin.Meta, variant uint64, fetched time.Time) string {
	v := chunk.Version(m.ETag, m.LastModified, m.Size)
	if v == "" {
		v = "t:" + strconv.FormatInt(fetched.UnixNano(), 36) + ":" + strconv.FormatInt(m.Size, 10)
	}
	if variant != 0 {
		v += "|v:" + strconv.FormatUint(variant, 36)
	}
	return v
}

// Request is what a lookup needs of the client request it serves.
type Request struct {
	// Key is the primary cache key; it may alias a request buffer.
	Key string
	// Header gives the request's fields: by name for Vary (on every
	// lookup of an object that varies), all of them on a miss.
	Header RequestHeader
	// Directives is the request's Cache-Control, nil without one.
	Directives *httpcache.Directives
	// PragmaNoCache: "Pragma: no-cache" without Cache-Control.
	PragmaNoCache bool
	// Credentials: the request carries Authorization.
	Credentials bool
}

// NewRequest makes a lookup's request of a key and a request's fields,
// deriving what the lookup reads of them (directives, credentials).
func NewRequest(key string, h httpcache.Fields, client forward.Client) *Request {
	r := &Request{Key: key, Header: FieldsHeader{Fields: h, From: client}, Credentials: h.Has("Authorization")}
	if cc := h.Values("Cache-Control"); len(cc) > 0 {
		d := httpcache.ParseCacheControl(cc)
		r.Directives = &d
	} else {
		r.PragmaNoCache = PragmaNoCache(h.Values("Pragma"))
	}
	return r
}

// PragmaNoCache reports whether Pragma lines hold no-cache, which a
// request without Cache-Control means as Cache-Control: no-cache (RFC 9111
// §5.4).
func PragmaNoCache(lines []string) bool {
	for _, l := range lines {
		for _, tok := range strings.Split(l, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "no-cache") {
				return true
			}
		}
	}
	return false
}

// RequestHeader is a request's fields, and its client.
type RequestHeader interface {
	// Values returns every line of the field name.
	Values(name string) []string
	// All returns every field, in a slice the caller may keep.
	All() httpcache.Fields
	// Client is what the origin is told of the client (Via,
	// X-Forwarded-*).
	Client() forward.Client
}

// FieldsHeader is a RequestHeader of fields already copied.
type FieldsHeader struct {
	Fields httpcache.Fields
	From   forward.Client
}

// Values is RequestHeader's.
func (h FieldsHeader) Values(name string) []string { return h.Fields.Values(name) }

// All is RequestHeader's.
func (h FieldsHeader) All() httpcache.Fields { return h.Fields }

// Client is RequestHeader's.
func (h FieldsHeader) Client() forward.Client { return h.From }

// directives returns the request's Cache-Control, or none.
func (r *Request) directives() *httpcache.Directives {
	if r.Directives != nil {
		return r.Directives
	}
	return &noDirectives
}

var noDirectives = httpcache.ParseCacheControl(nil)

// Result is what a lookup found for a request: exactly one of a stored
// Object to answer from, an Answer for this request alone, or Pass.
type Result struct {
	Object *Object
	// Stale: Object is stale, served within stale-while-revalidate (it is
	// being revalidated) or stale-if-error (the origin failed).
	Stale bool
	// Answer is an origin answer that may not be stored or shared: it is
	// this request's alone. The caller writes it and closes it.
	Answer *Answer
	// Pass: relay the request to the origin as it is, and its answer
	// back (the key's responses are not stored for now).
	Pass bool
	// Fetched: the origin was asked on this lookup's behalf.
	Fetched bool
	// Revalidated: the origin answered that asking with 304, so no byte
	// of the body came with it.
	Revalidated bool
}

// Answer is an origin answer for one request, not stored.
type Answer struct {
	Status int
	Header httpcache.Fields // end-to-end, as received
	Size   int64            // -1 when unknown: the body ends when Rest does
	Head   []byte           // the start of the body
	Rest   io.ReadCloser    // the rest of the body, open, or nil (see Open)

	// more opens the rest of the body when the origin sent only a window
	// of it: one more request, made only by whoever sends the body.
	more func() (io.ReadCloser, error)
	once sync.Once
}

// Open makes Rest the rest of the body when the origin sent only its
// first window (one more origin request, checked to be the same
// version); it does nothing when Head and Rest already hold it all.
func (a *Answer) Open() error {
	if a.Rest != nil || int64(len(a.Head)) >= a.Size || a.more == nil {
		return nil
	}
	rest, err := a.more()
	if err != nil {
		return err
	}
	a.Rest = rest
	return nil
}

// Whole reports whether Head is the whole body.
func (a *Answer) Whole() bool { return a.Rest == nil && int64(len(a.Head)) == a.Size }

// Windowed reports whether Head is the first window of a longer body that
// Open can fetch the rest of.
func (a *Answer) Windowed() bool { return a.Rest == nil && int64(len(a.Head)) < a.Size }

// Close releases the rest of the body, if any.
func (a *Answer) Close() {
	a.once.Do(func() {
		if a.Rest != nil {
			a.Rest.Close()
		}
	})
}

// entry is what the metadata cache holds for one primary key: the object
// when the key's responses do not vary, else its variants. Entries are
// replaced, never changed, so readers need no lock.
type entry struct {
	obj      *Object            // the object, or the Pass marker; nil when it varies
	vary     []string           // the latest response's Vary
	variants map[uint64]*Object // by variant key, at most maxVariants
}

// maxVariants bounds the responses kept for one URL: a request field with
// many values (a cookie, a user agent) named in Vary must not fill the
// cache with one URL.
const maxVariants = 32

// objects caches object metadata: the answer to "what is this URL now"
// that every request needs before it can name a chunk. Lookups of one key
// share one origin request, and a stale entry is revalidated once per
// object, not once per chunk or per request.
type objects struct {
	cache   *lru.Cache[string, *entry]
	mu      sync.Mutex // serializes replacing entries
	flights flight.Group[flightKey, *outcome]
}

// flightKey names a lookup that others may join: one per key and variant
// (when known), never shared across credentials, and apart for requests
// that demand the origin's word and for a leader's own lookups.
type flightKey struct {
	key      string
	variant  uint64
	creds    uint64 // a hash of the credentials; 0 without
	validate bool   // the request demands validation (no-cache)
	local    bool   // a leader's lookup, which never forwards
}

func newObjects(entries int) (*objects, error) {
	c, err := lru.New[string, *entry](entries)
	if err != nil {
		return nil, err
	}
	return &objects{cache: c}, nil
}

// find returns the object req selects, if one is cached, fresh or not.
func (c *objects) find(req *Request) *Object {
	e, ok := c.cache.Get(req.Key)
	if !ok {
		return nil
	}
	if e.obj != nil {
		return e.obj
	}
	return e.variants[httpcache.VariantKey(e.vary, req.Header.Values)]
}

// put publishes o, replacing the response it selects for.
func (c *objects) put(o *Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(o.Vary) == 0 || o.Pass {
		c.cache.Add(o.Key, &entry{obj: o})
		return
	}
	old, _ := c.cache.Peek(o.Key)
	e := &entry{vary: o.Vary, variants: map[uint64]*Object{}}
	if old != nil && old.obj == nil && slices.Equal(old.vary, o.Vary) {
		for k, v := range old.variants {
			if len(e.variants) < maxVariants-1 {
				e.variants[k] = v
			}
		}
	}
	e.variants[o.Variant] = o
	c.cache.Add(o.Key, e)
}

// drop removes o if it is still what its key holds for its variant.
func (c *objects) drop(o *Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache.Peek(o.Key)
	switch {
	case !ok:
	case e.obj == o:
		c.cache.Remove(o.Key)
	case e.obj == nil && e.variants[o.Variant] == o:
		n := &entry{vary: e.vary, variants: map[uint64]*Object{}}
		for k, v := range e.variants {
			if v != o {
				n.variants[k] = v
			}
		}
		c.cache.Add(o.Key, n)
	}
}

// forget drops key's entry, every variant, and any lookup of it in
// flight, so that later requests do not join it; it reports whether an
// entry was held.
func (c *objects) forget(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, had := c.cache.Peek(key)
	c.cache.Remove(key)
	c.flights.Forget(func(k flightKey) bool { return k.key == key })
	return had
}
