package edge

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/origin"
)

var (
	strGET    = []byte(http.MethodGet)
	strHEAD   = []byte(http.MethodHead)
	hdrXCache = "X-Cache"
	hdrStatus = "Cache-Status"
)

// serveRequest answers one client request. GET and HEAD are answered from
// the cache (RFC 9111); any other method is relayed to the origin and
// back, storing nothing, unless the operator refuses it. It notes in x
// what the metrics and the access log need.
func (n *Node) serveRequest(ctx *fasthttp.RequestCtx, x *exchange) {
	m := ctx.Method()
	cacheable := bytes.Equal(m, strGET) || bytes.Equal(m, strHEAD)
	switch {
	case bytes.Equal(m, strGET):
		x.method = methodGET
	case bytes.Equal(m, strHEAD):
		x.method = methodHEAD
	default:
		x.method = methodOther
	}
	framing := framingProblem(&ctx.Request.Header, !cacheable)
	if framing != "" {
		ctx.SetConnectionClose()
		n.reject(ctx, http.StatusBadRequest, framing)
		return
	}
	if n.refused(m) {
		ctx.SetConnectionClose() // its body, if any, is not read
		n.reject(ctx, http.StatusMethodNotAllowed, "the method "+string(m)+" is not served here")
		ctx.Response.Header.Set("Allow", n.allowed)
		return
	}
	key, ok := requestKey(ctx)
	if !ok {
		n.reject(ctx, http.StatusBadRequest, "the path holds characters that cannot name an object")
		return
	}
	n.stats.requests.Add(1)
	if !cacheable {
		n.relay(ctx, key, x)
		return
	}
	n.serveCached(ctx, key, x)
}

// serveCached answers a GET or HEAD: from a stored response when one may
// answer it, else with what the object's leader or the origin says now.
func (n *Node) serveCached(ctx *fasthttp.RequestCtx, key string, x *exchange) {
	req := n.lookupRequest(ctx, key)
	isHead := x.method == methodHEAD
	// A version that changes at the origin while we serve it is found
	// before any byte is sent: look the object up again, once.
	for attempt := 0; ; attempt++ {
		// Never ctx itself: a timer context derived from a RequestCtx
		// reads it when the timer fires, after fasthttp may have reset it.
		r, err := n.eng.Lookup(n.baseCtx, &req)
		switch {
		case err != nil:
			n.fail(ctx, key, err)
			return
		case r.Answer != nil:
			n.writeAnswer(ctx, key, r.Answer, isHead, x)
			return
		case r.Pass:
			n.relay(ctx, key, x)
			return
		}
		err = n.serveObject(ctx, r, isHead, x)
		if err == nil {
			return
		}
		if errors.Is(err, origin.ErrChanged) && attempt == 0 {
			n.eng.Invalidate(r.Object)
			ctx.Response.Reset()
			continue
		}
		n.fail(ctx, key, err)
		return
	}
}

// lookupRequest is what the engine reads of a client request. It holds
// views of the request's buffers: the engine copies what it keeps.
func (n *Node) lookupRequest(ctx *fasthttp.RequestCtx, key string) engine.Request {
	h := &ctx.Request.Header
	req := engine.Request{Key: key, Header: (*clientHeader)(ctx), Credentials: len(h.Peek("Authorization")) > 0}
	if cc := h.Peek("Cache-Control"); len(cc) > 0 {
		d := httpcache.ParseCacheControl(clientHeaderValues(h, "Cache-Control"))
		req.Directives = &d
	} else if p := h.Peek("Pragma"); len(p) > 0 {
		req.PragmaNoCache = engine.PragmaNoCache([]string{string(p)})
	}
	return req
}

// clientHeader is a client request as the engine reads it: every method
// copies what it returns, so that nothing aliases fasthttp's buffers.
type clientHeader fasthttp.RequestCtx

// Values is engine.RequestHeader's.
func (c *clientHeader) Values(name string) []string {
	return clientHeaderValues(&(*fasthttp.RequestCtx)(c).Request.Header, name)
}

// All is engine.RequestHeader's.
func (c *clientHeader) All() httpcache.Fields {
	var f httpcache.Fields
	for k, v := range (*fasthttp.RequestCtx)(c).Request.Header.All() {
		f = append(f, httpcache.Field{Name: string(k), Value: string(v)})
	}
	return f
}

// Client is engine.RequestHeader's.
func (c *clientHeader) Client() forward.Client {
	ctx := (*fasthttp.RequestCtx)(c)
	fc := forward.Client{Host: string(ctx.Request.Header.Host()), Proto: "http"}
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		fc.IP = a.IP.String()
	}
	if ctx.IsTLS() {
		fc.Proto = "https"
	}
	return fc
}

func clientHeaderValues(h *fasthttp.RequestHeader, name string) []string {
	var out []string
	for _, v := range h.PeekAll(name) {
		out = append(out, string(v))
	}
	return out
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

// reject ends a request with an error of the edge's own and its reason in
// the body. Whatever the response held goes (Reset), and fasthttp dates it
// (render.go).
func (n *Node) reject(ctx *fasthttp.RequestCtx, status int, reason string) {
	closing := ctx.Response.ConnectionClose()
	ctx.Response.Reset()
	if closing {
		ctx.SetConnectionClose()
	}
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set(hdrXCache, "MISS")
	ctx.SetBodyString(reason + "\n")
}

// fail answers a request the edge could not serve, with the status of
// statusFor, and logs upstream failures.
func (n *Node) fail(ctx *fasthttp.RequestCtx, key string, err error) {
	status, reason := engine.StatusFor(err)
	if status >= 500 {
		n.log.Warn("request failed", "path", key, "status", status, "err", err)
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
