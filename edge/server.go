package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/httpsem"
	"github.com/edgecache/edgecache/edge/internal/playlist"
	"github.com/edgecache/edgecache/origin"
	"github.com/valyala/fasthttp"
)

var (
	strGET    = []byte(http.MethodGet)
	strHEAD   = []byte(http.MethodHead)
	hdrXCache = "X-Cache"
	hdrStatus = "Cache-Status"
)

// serveRequest answers one player request: GET or HEAD of any origin path,
// with the range and conditional semantics of RFC 9110. It notes in x what
// the metrics and the access log need.
func (n *Node) serveRequest(ctx *fasthttp.RequestCtx, x *exchange) {
	isHead := false
	framing := framingProblem(&ctx.Request.Header)
	if framing != "" {
		ctx.SetConnectionClose()
	}
	switch m := ctx.Method(); {
	case bytes.Equal(m, strGET):
		x.method = methodGET
	case bytes.Equal(m, strHEAD):
		isHead = true
		x.method = methodHEAD
	default:
		x.method = methodOther
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		n.reject(ctx, http.StatusMethodNotAllowed, "only GET and HEAD are served")
		return
	}
	if framing != "" {
		n.reject(ctx, http.StatusBadRequest, framing)
		return
	}
	key, ok := requestKey(ctx)
	if !ok {
		n.reject(ctx, http.StatusBadRequest, "the path holds characters that cannot name an object")
		return
	}
	n.stats.requests.Add(1)
	// A version that changes at the origin while we serve it is found
	// before any byte is sent: look the object up again, once.
	for attempt := 0; ; attempt++ {
		o, err := n.eng.Lookup(ctx, key)
		if err != nil {
			n.fail(ctx, key, err)
			return
		}
		err = n.serveObject(ctx, o, isHead, x)
		if err == nil {
			return
		}
		if errors.Is(err, origin.ErrChanged) && attempt == 0 {
			n.eng.Invalidate(o)
			ctx.Response.Reset()
			continue
		}
		n.fail(ctx, key, err)
		return
	}
}

// requestKey names the object a request asks for: its normalized path (dot
// segments removed and escapes decoded by fasthttp, so that no spelling
// reaches outside the origin's tree), escaped again canonically, and its raw
// query. A key that needs no escaping and has no query aliases the request
// buffer and must be cloned before it is kept.
func requestKey(ctx *fasthttp.RequestCtx) (string, bool) {
	p := ctx.Path()
	if len(p) == 0 || p[0] != '/' {
		return "", false
	}
	plain := true
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '?' || c == '#' {
			return "", false
		}
		plain = plain && pathSafe(c)
	}
	q := ctx.URI().QueryString()
	if plain && len(q) == 0 {
		return unsafe.String(unsafe.SliceData(p), len(p)), true
	}
	key := string(p)
	if !plain {
		key = (&url.URL{Path: key}).EscapedPath()
	}
	if len(q) > 0 {
		key += "?" + string(q)
	}
	return key, true
}

// pathSafe reports whether c stands for itself in a URL path (RFC 3986
// pchar or '/', less '%').
func pathSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// serveObject writes the response for one version of an object.
func (n *Node) serveObject(ctx *fasthttp.RequestCtx, o *engine.Object, isHead bool, x *exchange) error {
	h := &ctx.Response.Header
	n.setObjectHeaders(h, o)
	useRange, done := n.preconditions(ctx, o, x)
	if done {
		return nil
	}
	var buf [4]httpsem.Range
	ranges, ok := n.ranges(ctx, o, useRange, buf[:0])
	if !ok {
		return nil
	}
	b := newBody(n, o)
	length := n.layout(ctx, b, o, ranges, isHead)
	if isHead {
		n.answerHead(h, o, b, x, length)
		return nil
	}
	src, err := b.prepare()
	if err != nil {
		b.release()
		return err
	}
	if src != engine.SourceHit && len(b.needs) > 0 && b.needs[0] == 0 && o.Meta.Size <= n.cfg.ChunkSize && playlist.Is(o.Key) {
		// A playlist new to this node, whole in its first chunk, which
		// prepare has in hand.
		n.prefetchPlaylist(o.Key, b.slots[0].data)
	}
	n.setCacheHeaders(h, o, src)
	x.cache = cacheFor(o, src)
	b.length = length
	x.body = b
	ctx.SetBodyStream(b, int(length))
	return nil
}

// preconditions evaluates the request's conditional headers against o (RFC
// 9110 §13.2.2). done: they ended the request (304 or 412, written here);
// useRange is false when If-Range says the client's copy is stale.
func (n *Node) preconditions(ctx *fasthttp.RequestCtx, o *engine.Object, x *exchange) (useRange, done bool) {
	conds := httpsem.Conds{
		IfMatch:           ctx.Request.Header.Peek("If-Match"),
		IfNoneMatch:       ctx.Request.Header.Peek("If-None-Match"),
		IfModifiedSince:   ctx.Request.Header.Peek("If-Modified-Since"),
		IfUnmodifiedSince: ctx.Request.Header.Peek("If-Unmodified-Since"),
		IfRange:           ctx.Request.Header.Peek("If-Range"),
	}
	if !conds.Any() {
		return true, false
	}
	status, useRange := conds.Evaluate(o.Meta.ETag, o.Meta.LastModified)
	if status == 0 {
		return useRange, false
	}
	h := &ctx.Response.Header
	if status == http.StatusNotModified && o.Meta.ETag != "" {
		h.Del("Last-Modified") // as net/http does: the ETag suffices
	}
	h.Del("Content-Type")
	ctx.SetStatusCode(status)
	n.setCacheHeaders(h, o, engine.SourceHit)
	x.cache = cacheFor(o, engine.SourceHit)
	return false, true
}

// ranges returns the byte ranges the request asks of o, in buf; none for
// the whole object. ok is false when they cannot be satisfied: the 416 is
// written here.
func (n *Node) ranges(ctx *fasthttp.RequestCtx, o *engine.Object, useRange bool, buf []httpsem.Range) (ranges []httpsem.Range, ok bool) {
	rh := ctx.Request.Header.Peek("Range")
	if len(rh) == 0 || !useRange {
		return nil, true
	}
	ranges, err := httpsem.ParseRange(rh, o.Meta.Size, n.cfg.MaxRanges, buf)
	switch {
	case errors.Is(err, httpsem.ErrRangeUnit):
		return nil, true
	case err != nil:
		ctx.Response.Header.SetBytesV("Content-Range", httpsem.Unsatisfiable(o.Meta.Size))
		n.reject(ctx, http.StatusRequestedRangeNotSatisfiable, err.Error())
		return nil, false
	}
	return ranges, true
}

// layout sets the status and lays out the body of a response of ranges of
// o (the whole object when there are none), and returns its length.
func (n *Node) layout(ctx *fasthttp.RequestCtx, b *body, o *engine.Object, ranges []httpsem.Range, isHead bool) int64 {
	size := o.Meta.Size
	switch len(ranges) {
	case 0:
		ctx.SetStatusCode(http.StatusOK)
		b.addRange(0, size)
		return size
	case 1:
		r := ranges[0]
		ctx.SetStatusCode(http.StatusPartialContent)
		var crb [64]byte
		ctx.Response.Header.SetBytesV("Content-Range", httpsem.AppendContentRange(crb[:0], r, size))
		b.addRange(r.Start, r.End)
		if !isHead {
			b.addNext(ctx.ConnID(), r.Start, r.End)
		}
		return r.Len()
	default:
		ctx.SetStatusCode(http.StatusPartialContent)
		return n.addMultipart(b, &ctx.Response.Header, o, ranges)
	}
}

// answerHead ends a HEAD request whose body b would be length bytes: its
// X-Cache says HIT only if every chunk of it is in memory now.
func (n *Node) answerHead(h *fasthttp.ResponseHeader, o *engine.Object, b *body, x *exchange, length int64) {
	src := engine.SourceHit
	for _, idx := range b.needs {
		if !o.Storable() || !n.eng.Holds(o.ChunkKey(idx)) {
			src = engine.SourceOrigin
			break
		}
	}
	b.release()
	n.setCacheHeaders(h, o, src)
	x.cache = cacheFor(o, src)
	h.SetContentLength(int(length))
}

// addMultipart lays out a multipart/byteranges body (RFC 9110 §14.6) in
// the framing mime/multipart writes, so its length matches net/http's for
// the same ranges. It returns the body length.
func (n *Node) addMultipart(b *body, h *fasthttp.ResponseHeader, o *engine.Object, ranges []httpsem.Range) int64 {
	var rnd [30]byte
	for i := 0; i < len(rnd); i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < len(rnd); j++ {
			rnd[i+j] = byte(v >> (8 * j))
		}
	}
	boundary := fmt.Sprintf("%x", rnd[:])
	h.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
	var length int64
	var part []byte
	for i, r := range ranges {
		part = part[:0]
		if i > 0 {
			part = append(part, "\r\n"...)
		}
		part = append(part, "--"+boundary+"\r\nContent-Range: "...)
		part = httpsem.AppendContentRange(part, r, o.Meta.Size)
		part = append(part, "\r\nContent-Type: "+o.ContentType+"\r\n\r\n"...)
		b.addLiteral(part)
		b.addRange(r.Start, r.End)
		length += int64(len(part)) + r.Len()
	}
	tail := "\r\n--" + boundary + "--\r\n"
	b.addLiteral([]byte(tail))
	return length + int64(len(tail))
}

// setObjectHeaders sets the headers every response about o carries.
func (n *Node) setObjectHeaders(h *fasthttp.ResponseHeader, o *engine.Object) {
	h.Set("Accept-Ranges", "bytes")
	h.SetContentType(o.ContentType)
	if o.Meta.ETag != "" {
		h.Set("ETag", o.Meta.ETag)
	}
	if o.LastModified != "" {
		h.Set("Last-Modified", o.LastModified)
	}
	if o.Meta.CacheControl != "" {
		h.Set("Cache-Control", o.Meta.CacheControl)
	}
	if o.Meta.Expires != "" {
		h.Set("Expires", o.Meta.Expires)
	}
	if o.Meta.ContentDisposition != "" {
		h.Set("Content-Disposition", o.Meta.ContentDisposition)
	}
}

// setCacheHeaders says where the bytes came from: X-Cache for people and
// dashboards, Cache-Status (RFC 9211) for software, and Age (RFC 9111).
func (n *Node) setCacheHeaders(h *fasthttp.ResponseHeader, o *engine.Object, src engine.Source) {
	now := n.now()
	var buf [96]byte
	age := int64(max(now.Sub(o.Fetched), 0) / time.Second)
	h.SetBytesV("Age", strconv.AppendInt(buf[:0], age, 10))
	h.Set(hdrXCache, src.String())
	status := append(buf[:0], "edgecache; "...)
	switch {
	case src == engine.SourceHit:
		status = append(status, "hit"...)
	case src == engine.SourcePeer:
		status = append(status, "hit; detail=peer"...)
	case o.Storable():
		status = append(status, "fwd=miss; stored"...)
	default:
		status = append(status, "fwd=miss"...)
	}
	if o.Storable() {
		status = append(status, "; ttl="...)
		status = strconv.AppendInt(status, int64(o.ExpiresAt().Sub(now)/time.Second), 10)
	}
	h.SetBytesV(hdrStatus, status)
}

// reject ends a request with a client error and its reason in the body.
func (n *Node) reject(ctx *fasthttp.RequestCtx, status int, reason string) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set(hdrXCache, "MISS")
	ctx.SetBodyString(reason + "\n")
}

// fail answers a request the edge could not serve, with the status of
// statusFor, and logs upstream failures.
func (n *Node) fail(ctx *fasthttp.RequestCtx, key string, err error) {
	status, reason := engine.StatusFor(err)
	ctx.Response.Reset()
	if status >= 500 {
		n.log.Warn("request failed", "path", key, "status", status, "err", err)
	}
	if errors.Is(err, engine.ErrNotFoundCached) {
		ctx.Response.Header.Set(hdrStatus, "edgecache; hit; detail=negative")
	}
	n.reject(ctx, status, reason)
}

// logBodyError records a response cut short after its headers were sent:
// the client sees a short body, never wrong bytes.
func (n *Node) logBodyError(o *engine.Object, chunk int64, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	n.log.Warn("response cut short", "path", o.Key, "chunk", chunk, "err", err)
}
