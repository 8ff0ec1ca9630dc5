package edge

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/edgecache/edgecache/edge/internal/httpsem"
	"github.com/valyala/fasthttp"
)

// The edge's defences against requests that are malformed on purpose or by
// accident, on both listeners. Each ends in a 4xx with its reason in the
// body, never in a 5xx, a panic or a connection left waiting.

// Reasons a client request is refused for how it is framed.
const (
	reasonBody     = "a GET or HEAD request carries no body"
	reasonChunked  = "a GET or HEAD request carries no body: Transfer-Encoding is refused"
	reasonObsFold  = "obsolete header line folding is refused (RFC 9112 §5.2)"
	reasonBothLens = "a request with both Content-Length and Transfer-Encoding is refused (RFC 9112 §6.1)"
	reasonTE       = "a Transfer-Encoding other than chunked is refused"
	reasonTwoLens  = "a request with more than one Content-Length is refused"
)

// framingProblem says why a client request must be refused for its framing,
// or returns "". Request smuggling lives in framing that two parsers could
// read apart: a proxy in front of the edge that frames the same bytes
// differently would make the edge read part of one request as the next.
// So the edge refuses folded header lines, a Content-Length beside a
// Transfer-Encoding, two Content-Lengths, and any coding but chunked, and
// a GET or HEAD that announces a body at all (a player's never does);
// bodyAllowed is false for those. It does not guess: it refuses the request
// and closes the connection, so that nothing after it on that connection
// is ever read as a request. A Content-Length of 0 is harmless and
// allowed.
func framingProblem(h *fasthttp.RequestHeader, bodyAllowed bool) string {
	if cl := h.ContentLength(); !bodyAllowed && cl == -1 {
		return reasonChunked
	} else if !bodyAllowed && cl > 0 {
		return reasonBody
	}
	// Once it has read an empty chunked body, fasthttp forgets the
	// Transfer-Encoding (the length is 0); the raw headers remember it.
	// fasthttp also joins folded lines into one value, as RFC 9112 allows,
	// but a proxy that does not would see other headers than the edge.
	lens, codings := 0, 0
	for raw := h.RawHeaders(); len(raw) > 0; {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		switch {
		case len(line) > 0 && (line[0] == ' ' || line[0] == '\t'):
			return reasonObsFold
		case hasFieldName(line, "transfer-encoding"):
			if !bodyAllowed {
				return reasonChunked
			}
			codings++
			if v := bytes.TrimSpace(line[len("transfer-encoding:"):]); !httpsem.EqualFoldASCII(v, "chunked") {
				return reasonTE
			}
		case hasFieldName(line, "content-length"):
			lens++
		}
	}
	switch {
	case codings > 0 && lens > 0:
		return reasonBothLens
	case codings > 1:
		return reasonTE
	case lens > 1:
		return reasonTwoLens
	}
	return ""
}

// hasFieldName reports whether a raw header line is a field named name
// (lower case).
func hasFieldName(line []byte, name string) bool {
	return len(line) > len(name) && line[len(name)] == ':' && httpsem.EqualFoldASCII(line[:len(name)], name)
}

// requestError is the status and reason for a request fasthttp could not
// read: too large headers (431) or body (413), too slow (408), anything
// else malformed (400). fasthttp's own messages are not passed on: they
// quote the request's bytes back.
func requestError(err error, maxHeader, maxBody int) (int, string) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		return http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("request headers larger than %d bytes", maxHeader)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxBody)
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusRequestTimeout, "request not received in time"
	}
	return http.StatusBadRequest, "malformed HTTP request"
}

// peerReadBufferSize is the peer listener's read buffer, which bounds a
// peer request's headers. A shard or metadata request carries a chunk key
// in its query, and the key holds the client's path: escaped for the key
// and again for the query, a path byte takes up to 5 bytes (0xff becomes
// %FF, then %25FF). A buffer too small for a long path would make members
// refuse each other (431) and a player's long URL mark healthy peers
// suspect.
func peerReadBufferSize(maxHeaderBytes int) int {
	return 5*maxHeaderBytes + 16<<10
}

// clientRequestError answers a player request fasthttp could not read.
// fasthttp closes the connection after it.
func (n *Node) clientRequestError(ctx *fasthttp.RequestCtx, err error) {
	status, reason := requestError(err, n.client.ReadBufferSize, n.client.MaxRequestBodySize)
	n.log.Debug("malformed client request", "remote", ctx.RemoteAddr().String(), "status", status, "err", err)
	n.reject(ctx, status, reason)
}

// peerRequestError answers a peer request fasthttp could not read: a
// member never sends one, so it is refused, counted and logged like a
// request that fails authentication.
func (n *Node) peerRequestError(ctx *fasthttp.RequestCtx, err error) {
	status, reason := requestError(err, n.peer.ReadBufferSize, n.peer.MaxRequestBodySize)
	n.stats.peerRefused.Add(1)
	n.log.Warn("peer request refused", "remote", ctx.RemoteAddr().String(), "status", status, "err", err)
	ctx.Error(reason, status)
}
