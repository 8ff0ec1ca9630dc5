package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/origin"
)

// relay passes a request the cache does not answer to the origin as it
// is, body streamed, and the origin's answer back, storing nothing: any
// method but GET and HEAD, and a GET or HEAD of a key whose responses are
// not stored for now. A non-error answer to an unsafe method invalidates
// the target, and the same-host Location and Content-Location it names,
// on every member (RFC 9111 §4.4).
func (n *Node) relay(ctx *fasthttp.RequestCtx, key string, x *exchange) {
	client := (*clientHeader)(ctx)
	req := origin.Request{Method: string(ctx.Method()), Path: key,
		Header: forward.Header(client.All(), forward.Pass, client.Client(), n.viaName)}
	body, length, err := n.requestBody(ctx)
	if err != nil {
		ctx.SetConnectionClose()
		n.reject(ctx, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	req.Body, req.ContentLength = body, length
	// The answer's body is read after the handler returns: the request
	// lives under the node's context, and ends when the body is closed.
	resp, err := n.origin.Fetch(n.baseCtx, req)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			ctx.SetConnectionClose()
			n.reject(ctx, http.StatusRequestEntityTooLarge, err.Error())
			return
		}
		n.fail(ctx, key, err)
		return
	}
	if !safeMethod(req.Method) && resp.Status < 400 {
		n.invalidate(key, string(ctx.Request.Header.Host()), resp.Header)
	}
	fwd := "bypass"
	if x.method == methodOther {
		fwd = "method"
	}
	a := &engine.Answer{Status: resp.Status, Header: httpcache.EndToEnd(fieldsOf(resp.Header), framingFields),
		Size: resp.ContentLength, Rest: resp.Body}
	n.writeAnswerAs(ctx, a, bodiless(req.Method, resp.Status), fwd, x)
}

// framingFields are an answer's fields that describe how it was framed on
// the origin's connection, not the message: the edge frames its own.
var framingFields = map[string]bool{"Content-Length": true}

// writeAnswer answers with an origin answer that is this request's alone:
// its status and fields as received, its body as it comes.
func (n *Node) writeAnswer(ctx *fasthttp.RequestCtx, key string, a *engine.Answer, isHead bool, x *exchange) {
	noBody := isHead || bodiless("", a.Status)
	if !noBody {
		if err := a.Open(); err != nil {
			n.fail(ctx, key, err)
			return
		}
	}
	n.writeAnswerAs(ctx, a, noBody, "miss", x)
}

func (n *Node) writeAnswerAs(ctx *fasthttp.RequestCtx, a *engine.Answer, noBody bool, fwd string, x *exchange) {
	h := &ctx.Response.Header
	n.withFields(h, a.Status, a.Header)
	h.Add("Via", n.via)
	h.Set(hdrXCache, "MISS")
	h.Set(hdrStatus, "edgecache; fwd="+fwd)
	x.cache = cacheNone
	if noBody {
		a.Close()
		if a.Size >= 0 {
			h.SetContentLength(int(a.Size))
		}
		return
	}
	rb := &relayBody{n: n, a: a, r: io.MultiReader(bytes.NewReader(a.Head), restOf(a)), length: a.Size}
	x.body = rb
	size := int(a.Size)
	if a.Size < 0 {
		size = -1 // chunked
	}
	ctx.SetBodyStream(rb, size)
}

func restOf(a *engine.Answer) io.Reader {
	if a.Rest == nil {
		return bytes.NewReader(nil)
	}
	return a.Rest
}

// bodiless reports whether a response has no body: to HEAD, and 1xx, 204
// and 304 (RFC 9110 §6.4.1).
func bodiless(method string, status int) bool {
	return method == http.MethodHead || status < 200 || status == http.StatusNoContent || status == http.StatusNotModified
}

// safeMethod reports the methods RFC 9110 §9.2.1 defines as safe: the
// others may change the target, so their success invalidates it.
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// errBodyTooLarge refuses a request body over MaxBodySize.
var errBodyTooLarge = errors.New("request body too large")

// requestBody returns the request's body to stream to the origin, and its
// length (-1: chunked); nil for none. A body over MaxBodySize is refused
// before it is sent when its length says so, and cut (failing the origin
// request) when a chunked one grows past it.
func (n *Node) requestBody(ctx *fasthttp.RequestCtx) (io.Reader, int64, error) {
	limit := n.cfg.MaxBodySize
	cl := int64(ctx.Request.Header.ContentLength())
	if cl > limit {
		return nil, 0, fmt.Errorf("%w: %d bytes, over the %d this edge relays", errBodyTooLarge, cl, limit)
	}
	if s := ctx.RequestBodyStream(); s != nil {
		return &limitedBody{r: s, left: limit}, cl, nil
	}
	if b := ctx.Request.Body(); len(b) > 0 {
		return bytes.NewReader(b), int64(len(b)), nil
	}
	return nil, 0, nil
}

// limitedBody fails a body that goes past its limit.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// invalidate drops the target of a successful unsafe request, and the
// Location and Content-Location of its answer when they name this host,
// here at once and on every other member in the background.
func (n *Node) invalidate(key, host string, h http.Header) {
	keys := []string{key}
	for _, name := range []string{"Location", "Content-Location"} {
		if k, ok := sameHostKey(h.Get(name), host); ok && k != key {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		n.eng.Purge(k)
		n.stats.invalidations.Add(1)
	}
	go func() {
		for _, k := range keys {
			n.purge(k)
		}
	}()
}

// sameHostKey is the cache key of a URI reference an answer names, if it
// is relative or names host.
func sameHostKey(ref, host string) (string, bool) {
	if ref == "" {
		return "", false
	}
	u, err := url.Parse(ref)
	if err != nil || (u.Host != "" && !strings.EqualFold(u.Host, host)) || !strings.HasPrefix(u.EscapedPath(), "/") {
		return "", false
	}
	k := u.EscapedPath()
	if u.RawQuery != "" {
		k += "?" + u.RawQuery
	}
	return k, true
}

// relayBody streams an answer's body to the client and ends its request
// when fasthttp closes it.
type relayBody struct {
	n      *Node
	a      *engine.Answer
	r      io.Reader
	length int64
	sent   int64
	x      exchange
}

func (b *relayBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.sent += int64(n)
	return n, err
}

func (b *relayBody) adopt(x exchange) { b.x = x }

// CloseWithError is how fasthttp ends the body: it releases the origin's
// answer and records the request.
func (b *relayBody) CloseWithError(err error) error {
	b.a.Close()
	complete := err == nil && (b.length < 0 || b.sent == b.length)
	b.n.stats.relayedBytes.Add(b.sent)
	var sent [engine.NumSources]int64
	sent[engine.SourceOrigin] = b.sent
	b.n.countSent(sent)
	if !b.x.start.IsZero() {
		b.n.endExchange(&b.x, b.sent, complete)
	}
	return nil
}

// fieldsOf lists a net/http header's fields.
func fieldsOf(h http.Header) httpcache.Fields {
	var f httpcache.Fields
	for name, values := range h {
		for _, v := range values {
			f = append(f, httpcache.Field{Name: name, Value: v})
		}
	}
	return f
}
