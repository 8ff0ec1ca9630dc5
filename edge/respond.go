package edge

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/edge/internal/httpsem"
	"github.com/edgecache/edgecache/edge/internal/playlist"
)

// serveObject answers from a stored response: its status and fields as
// stored, its bytes from chunks. A 200 is answered with the range and
// conditional semantics of RFC 9110; any other status with its whole
// body.
func (n *Node) serveObject(ctx *fasthttp.RequestCtx, r engine.Result, isHead bool, x *exchange) error {
	o := r.Object
	h := &ctx.Response.Header
	n.template(o).CopyTo(h)
	size := o.Meta.Size
	if o.Status != http.StatusOK {
		b := newBody(n, o)
		b.fetched = r.Fetched && !r.Revalidated
		b.addRange(0, size)
		return n.serveBody(ctx, r, b, size, isHead, x)
	}
	h.Set("Accept-Ranges", "bytes")
	useRange, done := n.conditionals(ctx, r)
	if done {
		x.cache = cacheFor(o, engine.SourceHit)
		return nil
	}
	var ranges []httpsem.Range
	if rh := ctx.Request.Header.Peek("Range"); len(rh) > 0 && useRange {
		var err error
		var buf [4]httpsem.Range
		ranges, err = httpsem.ParseRange(rh, size, n.cfg.MaxRanges, buf[:0])
		switch {
		case errors.Is(err, httpsem.ErrRangeUnit):
			ranges = nil
		case err != nil:
			n.reject(ctx, http.StatusRequestedRangeNotSatisfiable, err.Error())
			h.SetBytesV("Content-Range", httpsem.Unsatisfiable(size))
			return nil
		}
	}
	b := newBody(n, o)
	b.fetched = r.Fetched && !r.Revalidated
	var length int64
	switch len(ranges) {
	case 0:
		b.addRange(0, size)
		length = size
	case 1:
		rg := ranges[0]
		ctx.SetStatusCode(http.StatusPartialContent)
		var crb [64]byte
		h.SetBytesV("Content-Range", httpsem.AppendContentRange(crb[:0], rg, size))
		b.addRange(rg.Start, rg.End)
		if !isHead {
			b.addNext(ctx.ConnID(), rg.Start, rg.End)
		}
		length = rg.Len()
	default:
		ctx.SetStatusCode(http.StatusPartialContent)
		length = n.addMultipart(b, h, o, ranges)
	}
	return n.serveBody(ctx, r, b, length, isHead, x)
}

// conditionals evaluates the request's preconditions against o (RFC 9110
// §13.2.2). done reports that they decided the answer (304 or 412, its
// header set); useRange is false when If-Range failed.
func (n *Node) conditionals(ctx *fasthttp.RequestCtx, r engine.Result) (useRange, done bool) {
	rh := &ctx.Request.Header
	conds := httpsem.Conds{
		IfMatch:           rh.Peek("If-Match"),
		IfNoneMatch:       rh.Peek("If-None-Match"),
		IfModifiedSince:   rh.Peek("If-Modified-Since"),
		IfUnmodifiedSince: rh.Peek("If-Unmodified-Since"),
		IfRange:           rh.Peek("If-Range"),
	}
	if !conds.Any() {
		return true, false
	}
	o := r.Object
	status, useRange := conds.Evaluate(o.Meta.ETag, o.Meta.LastModified)
	if status == 0 && notModifiedSinceDate(conds, o) {
		status = http.StatusNotModified
	}
	if status == 0 {
		return useRange, false
	}
	h := &ctx.Response.Header
	if status == http.StatusNotModified && o.Meta.ETag != "" {
		h.Del("Last-Modified") // as net/http does: the ETag suffices
	}
	for _, f := range contentFields {
		h.Del(f)
	}
	ctx.SetStatusCode(status)
	n.setCacheHeaders(h, r, engine.SourceHit)
	return useRange, true
}

// contentFields describe a body, which a 304 or 412 does not have.
var contentFields = []string{"Content-Type", "Content-Encoding", "Content-Language", "Content-Range"}

// serveBody sends b, length bytes, or for HEAD only its headers.
func (n *Node) serveBody(ctx *fasthttp.RequestCtx, r engine.Result, b *body, length int64, isHead bool, x *exchange) error {
	h := &ctx.Response.Header
	if isHead {
		src := n.knownSource(r, b)
		b.release()
		n.setCacheHeaders(h, r, src)
		x.cache = cacheFor(r.Object, src)
		h.SetContentLength(int(length))
		return nil
	}
	src, err := b.prepare()
	if err != nil {
		b.release()
		return err
	}
	if r.Fetched {
		src = engine.SourceOrigin
	}
	o := r.Object
	if src != engine.SourceHit && len(b.needs) > 0 && b.needs[0] == 0 && o.Meta.Size <= n.cfg.ChunkSize && playlist.Is(o.Key) {
		// A playlist new to this node, whole in its first chunk, which
		// prepare has in hand.
		n.prefetchPlaylist(o.Key, b.slots[0].data)
	}
	n.setCacheHeaders(h, r, src)
	x.cache = cacheFor(o, src)
	b.length = length
	x.body = b
	ctx.SetBodyStream(b, int(length))
	return nil
}

// notModifiedSinceDate evaluates If-Modified-Since against a response
// without Last-Modified by its Date, the time the origin vouched for it
// (RFC 9111 §4.3.2), when no If-None-Match takes precedence.
func notModifiedSinceDate(c httpsem.Conds, o *engine.Object) bool {
	if len(c.IfModifiedSince) == 0 || len(c.IfNoneMatch) > 0 || !o.Meta.LastModified.IsZero() {
		return false
	}
	ims, ok := httpcache.ParseDate(string(c.IfModifiedSince))
	date, dok := httpcache.ParseDate(o.Header.Get("Date"))
	return ok && dok && !date.After(ims)
}

// knownSource is where a HEAD's bytes would come from, as far as the node
// knows without asking anyone: the origin if it was asked for this
// lookup, this node's memory if every chunk is there, else the peers.
func (n *Node) knownSource(r engine.Result, b *body) engine.Source {
	if r.Fetched {
		return engine.SourceOrigin
	}
	for _, idx := range b.needs {
		if !n.eng.Holds(r.Object.ChunkKey(idx)) {
			return engine.SourcePeer
		}
	}
	return engine.SourceHit
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
	ctype := o.ContentType()
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
		if ctype != "" {
			part = append(part, "\r\nContent-Type: "+ctype...)
		}
		part = append(part, "\r\n\r\n"...)
		b.addLiteral(part)
		b.addRange(r.Start, r.End)
		length += int64(len(part)) + r.Len()
	}
	tail := "\r\n--" + boundary + "--\r\n"
	b.addLiteral([]byte(tail))
	return length + int64(len(tail))
}

// setCacheHeaders says where the bytes came from: X-Cache for people and
// dashboards, Cache-Status (RFC 9211) for software; and Age (RFC 9111) and
// Via (RFC 9110 §7.6.3). A chunk from this node's disk is a hit of this
// cache; which tier answered is what RFC 9211's detail parameter is for.
func (n *Node) setCacheHeaders(h *fasthttp.ResponseHeader, r engine.Result, src engine.Source) {
	o := r.Object
	now := n.now()
	var buf [96]byte
	h.SetBytesV("Age", strconv.AppendInt(buf[:0], int64(o.Fresh.Age(now)/time.Second), 10))
	h.Add("Via", n.via)
	h.Set(hdrXCache, src.String())
	status := append(buf[:0], "edgecache; "...)
	switch {
	case src == engine.SourceHit:
		status = append(status, "hit"...)
	case src == engine.SourceDisk:
		status = append(status, "hit; detail=disk"...)
	case src == engine.SourcePeer:
		status = append(status, "hit; detail=peer"...)
	case r.Revalidated:
		status = append(status, "fwd=stale; fwd-status=304; stored"...)
	default:
		status = append(status, "fwd=miss; stored"...)
	}
	status = append(status, "; ttl="...)
	status = strconv.AppendInt(status, int64(o.Fresh.Remaining(now)/time.Second), 10)
	h.SetBytesV(hdrStatus, status)
}
