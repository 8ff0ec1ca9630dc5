package engine

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/origin"
)

// MaxStoredHeader bounds the fields a stored response may carry; a
// response with more passes to its client unstored, so that no origin can
// make every hit replay an unbounded header.
const MaxStoredHeader = 16 << 10

// responseOwned are the fields the edge writes itself on every answer from
// a stored response (framing and age), never stored.
var responseOwned = map[string]bool{"Content-Length": true, "Age": true}

// passFor is how long a key whose response could not be stored makes
// later requests relay to the origin instead of waiting for one another.
// It is short: a response that becomes storable is stored again soon.
const passFor = 10 * time.Second

// fetchFirst asks the origin for req's key with one request made from the
// client's, revalidating old when there is one, and keeps what it may.
func (e *Engine) fetchFirst(req *Request, old *Object, gen uint64) (*outcome, error) {
	header := forward.Header(req.Header.All(), forward.Fill, req.Header.Client(), e.cfg.Via)
	var validators *origin.Meta
	if old != nil && !old.Pass && (old.Meta.ETag != "" || !old.Meta.LastModified.IsZero()) {
		validators = &old.Meta
	}
	first, conditional := header, false
	if validators == nil {
		first, conditional = clientConditionals(header, req.Header)
	}
	e.stats.originLookups.Add(1)
	sent := e.now()
	// The answer's body may outlive this lookup (read on as a stream, or
	// by the client it is for): it lives under the engine's context, and
	// the origin client bounds the wait for its header.
	f, err := e.origin.First(e.ctx, req.Key, first, e.cfg.ChunkSize, validators)
	got := e.now()
	if err != nil {
		return e.staleOnError(req, old, err)
	}
	switch {
	case f.Status == http.StatusNotModified && validators != nil:
		return e.refreshed(req, old, f, sent, got, gen), nil
	case f.Status == http.StatusNotModified && conditional:
		// The client's own validators matched: its answer alone, nothing
		// stored, and the key is not marked pass.
		return &outcome{answer: &Answer{Status: f.Status, Header: httpcache.EndToEnd(fieldsOf(f.Header), responseOwned)},
			fetched: true}, nil
	case f.Status == http.StatusNotModified:
		return nil, fmt.Errorf("%w: a 304 to a request without validators", origin.ErrBadResponse)
	case serverError(f.Status) && old != nil && !old.Pass && old.Fresh.ServeOnError(got, req.directives()):
		if f.Rest != nil {
			f.Rest.Close()
		}
		return &outcome{obj: old, stale: true, fetched: true}, nil
	}
	return e.admit(req, f, header, sent, got, gen)
}

// clientConditionals returns the fields of a first request for a key the
// edge holds no response for: the fill's fields plus the client's
// If-None-Match and If-Modified-Since, so that a client revalidating what
// it holds costs the origin a 304, not a body (RFC 9111 §4.3.2). It
// reports whether there were any. The fill's fields stay as they are:
// they are also those of the body's later reads, which must not be
// conditional.
func clientConditionals(fill http.Header, client RequestHeader) (http.Header, bool) {
	inm, ims := client.Values("If-None-Match"), client.Values("If-Modified-Since")
	if len(inm) == 0 && len(ims) == 0 {
		return fill, false
	}
	h := fill.Clone()
	if len(inm) > 0 {
		h["If-None-Match"] = inm
	} else {
		h["If-Modified-Since"] = ims
	}
	return h, true
}

// serverError reports the statuses that count as the origin failing for
// stale-if-error (RFC 5861 §4).
func serverError(status int) bool {
	return status == 500 || status == 502 || status == 503 || status == 504
}

// staleOnError answers with old when the origin failed and old allows
// it, else with the failure.
func (e *Engine) staleOnError(req *Request, old *Object, err error) (*outcome, error) {
	if old != nil && !old.Pass && old.Fresh.ServeOnError(e.now(), req.directives()) {
		e.log.Warn("origin failed; serving a stale response", "key", req.Key, "err", err)
		return &outcome{obj: old, stale: true}, nil
	}
	return nil, err
}

// admit makes an object of the origin's answer if it may be stored (and
// keeps its first chunk, and the rest as it flows), else hands the answer
// to the request that caused it.
func (e *Engine) admit(req *Request, f *origin.First, fetch http.Header, sent, got time.Time, gen uint64) (*outcome, error) {
	received := fieldsOf(f.Header)
	fields := httpcache.EndToEnd(received, responseOwned)
	if !fields.Has("Date") {
		fields = append(fields, httpcache.Field{Name: "Date", Value: httpcache.FormatDate(got)})
	}
	d := e.cfg.Policy.Evaluate(httpcache.Request{Directives: *req.directives(), Authorization: req.Credentials},
		f.Status, received, sent, got)
	if d.Store && f.Size < 0 && f.Rest != nil {
		if err := e.bufferRest(f); err != nil {
			return nil, err
		}
	}
	switch {
	case !d.Store:
	case f.Size < 0:
		d.Store, d.Reason = false, "its length is unknown and it is long"
	case fields.Size() > MaxStoredHeader:
		d.Store, d.Reason = false, "its fields are too large"
	case len(d.Vary) > httpcache.MaxVaryFields:
		d.Store, d.Reason = false, "it varies on too many fields"
	}
	if !d.Store {
		if !d.ByRequest {
			e.publish(e.passMarker(req.Key, got), gen)
		}
		e.log.Debug("origin answer not stored", "key", req.Key, "status", f.Status, "why", d.Reason)
		a := &Answer{Status: f.Status, Header: fields, Size: f.Size, Head: f.Head, Rest: f.Rest}
		e.restOf(a, req.Key, fetch)
		return &outcome{answer: a, fetched: true}, nil
	}
	o := &Object{Key: req.Key, Status: f.Status, Header: fields, Fetch: fetch, Fresh: d.Freshness, Vary: d.Vary,
		Ranges: f.Ranges, Shareable: d.Shareable}
	o.Variant = httpcache.VariantKey(d.Vary, req.Header.Values)
	o.Meta = metaOf(f, fields)
	o.Piecewise = o.Ranges && strongETag(o.Meta.ETag)
	o.Version = versionOf(o.Meta, o.Variant, got)
	e.publish(o, gen)
	e.keepFirst(o, f)
	e.shareObject(o)
	return &outcome{obj: o, fetched: true}, nil
}

// restOf lets a, when it is the first window of a longer body, fetch the
// rest from the origin with the fields of fetch: one request from the
// window's end, checked to be the same version.
func (e *Engine) restOf(a *Answer, key string, fetch http.Header) {
	if !a.Windowed() {
		return
	}
	m := origin.Meta{Size: a.Size, ETag: a.Header.Get("ETag")}
	if lm, ok := httpcache.ParseDate(strings.TrimSpace(a.Header.Get("Last-Modified"))); ok {
		m.LastModified = lm
	}
	off := int64(len(a.Head))
	a.more = func() (io.ReadCloser, error) { return e.origin.Stream(e.ctx, key, m, fetch, off) }
}

// metaOf is the size and validators of the version an answer is.
func metaOf(f *origin.First, fields httpcache.Fields) origin.Meta {
	m := origin.Meta{Size: f.Size, ETag: fields.Get("ETag")}
	if lm, ok := httpcache.ParseDate(strings.TrimSpace(fields.Get("Last-Modified"))); ok {
		m.LastModified = lm
	}
	return m
}

// keepFirst keeps the first chunk of a new object, and the rest of a
// body the origin sent whole, cut into chunks as it flows.
func (e *Engine) keepFirst(o *Object, f *origin.First) {
	n := e.ChunkLen(o, 0)
	if o.Meta.Size == 0 || len(f.Head) < n {
		// An origin may answer a range with fewer bytes than asked: the
		// first chunk is then read like any other.
		if f.Rest != nil {
			f.Rest.Close()
		}
		return
	}
	e.keepAndPlace(o, 0, f.Head[:n])
	if f.Rest != nil {
		e.startStream(o, 1, f.Rest)
	}
}

// bufferRest reads on a body of unknown length, up to a bound, so that a
// short one (a chunked dynamic answer) is stored like any other. A longer
// one keeps what was read in Head and the rest open in Rest: it passes to
// its client.
func (e *Engine) bufferRest(f *origin.First) error {
	limit := maxBufferedChunks * e.cfg.ChunkSize
	buf := append(make([]byte, 0, len(f.Head)), f.Head...)
	more, err := io.ReadAll(io.LimitReader(f.Rest, limit-int64(len(buf))+1))
	if err != nil {
		f.Rest.Close()
		return fmt.Errorf("%w: reading a body of unknown length: %w", origin.ErrBadResponse, err)
	}
	f.Head = append(buf, more...)
	if int64(len(f.Head)) <= limit {
		f.Rest.Close()
		f.Rest, f.Size = nil, int64(len(f.Head))
	}
	return nil
}

// maxBufferedChunks bounds what is read of a body of unknown length
// before deciding it is too long to store.
const maxBufferedChunks = 8

// refreshed applies a 304 to old (RFC 9111 §4.3.4): the stored fields
// take the 304's, and its freshness starts again.
func (e *Engine) refreshed(req *Request, old *Object, f *origin.First, sent, got time.Time, gen uint64) *outcome {
	received := fieldsOf(f.Header)
	fields := httpcache.Refresh(old.Header, httpcache.EndToEnd(received, responseOwned))
	// Freshness comes from the updated fields and the 304's own Age and
	// Date, which time this validation.
	basis := append(append(httpcache.Fields{}, fields...), httpcache.Field{Name: "Age", Value: received.Get("Age")})
	d := e.cfg.Policy.Evaluate(httpcache.Request{Directives: *req.directives(), Authorization: req.Credentials},
		old.Status, basis, sent, got)
	n := old.Copy()
	n.Header, n.Fresh, n.Shareable = fields, d.Freshness, d.Shareable
	if !d.Store {
		e.objects.drop(old)
		n.gen = gen
		return &outcome{obj: n, fetched: true, revalidated: true}
	}
	e.publish(n, gen)
	e.shareObject(n)
	return &outcome{obj: n, fetched: true, revalidated: true}
}

// passMarker marks key as not stored for a while.
func (e *Engine) passMarker(key string, now time.Time) *Object {
	return &Object{Key: key, Pass: true, Fresh: httpcache.Freshness{Lifetime: passFor, ResponseTime: now}}
}

// fieldsOf lists a net/http header's fields, in the order of their
// names: net/http keeps the order of lines of one name only, and every
// edge must replay the same list.
func fieldsOf(h http.Header) httpcache.Fields {
	var f httpcache.Fields
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			f = append(f, httpcache.Field{Name: name, Value: v})
		}
	}
	return f
}

// strongETag reports whether etag is a strong entity tag.
func strongETag(etag string) bool {
	return len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"'
}
