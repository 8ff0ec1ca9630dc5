package edge

import (
	"time"

	"github.com/valyala/fasthttp"
)

// exchange is what the node records of one client request, for its
// metrics and its access log, filled in as the request goes. It lives on
// the handler's stack, then, for a streamed response, in the body, whose
// end is the request's end.
type exchange struct {
	start  time.Time // zero when the node records nothing
	ttfb   time.Duration
	status int
	method methodClass
	cache  cacheResult
	body   streamed    // the streamed body that ends the request; nil: it ends with the handler
	line   *accessLine // the access log line, begun when the headers are ready
}

// streamed is a response body that ends its request's record when
// fasthttp closes it (CloseWithError).
type streamed interface {
	adopt(x exchange)
}

// recording reports whether requests are timed at all: with neither
// metrics nor an access log, the hot path does not even read the clock.
func (n *Node) recording() bool { return n.metrics != nil || n.access != nil }

// serveClient answers one player request (serveRequest) and records it.
func (n *Node) serveClient(ctx *fasthttp.RequestCtx) {
	n.captureBase(ctx)
	var x exchange
	if n.recording() {
		x.start = n.now()
	}
	n.serveRequest(ctx, &x)
	if x.start.IsZero() {
		return
	}
	// The headers are ready: fasthttp writes them, and the first body
	// bytes, as soon as the handler returns.
	x.ttfb = n.now().Sub(x.start)
	x.status = ctx.Response.StatusCode()
	if x.status >= 400 {
		x.cache = cacheNone
	}
	if n.access != nil {
		x.line = n.access.begin(ctx, &x)
	}
	if x.body != nil {
		x.body.adopt(x) // ended by the body's CloseWithError
		return
	}
	n.endExchange(&x, int64(len(ctx.Response.Body())), true)
}

// endExchange records a request whose response has ended after sent body
// bytes; complete is false when it was cut short.
func (n *Node) endExchange(x *exchange, sent int64, complete bool) {
	took := n.now().Sub(x.start)
	if n.metrics != nil {
		n.metrics.request(x, took)
	}
	if x.line != nil {
		n.access.end(x.line, sent, x.ttfb, took, complete)
	}
}
