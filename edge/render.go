package edge

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
)

// A stored response is replayed with its own Date (RFC 9111 §4: a cache
// does not update it), and a relayed one with the origin's; but fasthttp
// drops a Date set through its header API, and writes the time of sending
// unless the response header says NoDefaultDate, which only the server
// sets (Server.NoDefaultDate, which the client listener has) and only
// Reset clears. So a response that replays fields starts from a copy of a
// header the server made (baseHeader), with its fields parsed in as a
// header block, the one way fasthttp keeps a Date; for a stored response
// that is done once, into a template each answer copies. Every other
// response Resets its header first, and fasthttp dates it.

// template returns o's status and stored fields as a response header
// ready to copy onto every answer from o, built once per object.
func (n *Node) template(o *engine.Object) *fasthttp.ResponseHeader {
	return o.Rendering(func(o *engine.Object) any {
		t := new(fasthttp.ResponseHeader)
		n.withFields(t, o.Status, o.Header)
		return t
	}).(*fasthttp.ResponseHeader)
}

// withFields sets h to status and fields, their Date included. Fields
// whose name or value could break the header's framing are left out.
func (n *Node) withFields(h *fasthttp.ResponseHeader, status int, fields httpcache.Fields) {
	if !fields.Has("Date") {
		fields = append(fields[:len(fields):len(fields)], httpcache.Field{Name: "Date", Value: httpcache.FormatDate(n.now())})
	}
	n.base.CopyTo(h)
	raw := appendHeaderBlock(nil, status, fields)
	if err := parseHeaderBlock(h, raw); err != nil {
		n.log.Warn("response fields that cannot be written; sending the status alone", "status", status, "err", err)
		n.base.CopyTo(h)
		_ = parseHeaderBlock(h, appendHeaderBlock(nil, status, nil))
	}
	// A parsed header without Content-Length reads as a close-delimited
	// body; the edge frames the body itself.
	h.ResetConnectionClose()
}

// captureBase keeps, from the first request, a response header the client
// listener made, with its settings and nothing else: the starting point
// of every response that replays fields. Call it before anything touches
// the response.
func (n *Node) captureBase(ctx *fasthttp.RequestCtx) {
	n.baseOnce.Do(func() {
		ctx.Response.Header.CopyTo(&n.base)
		n.base.ResetConnectionClose()
	})
}

// appendHeaderBlock writes a response header block of status and fields.
func appendHeaderBlock(dst []byte, status int, fields httpcache.Fields) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, " \r\n"...) // no reason phrase: fasthttp writes the standard one
	for _, f := range fields {
		if !safeField(f) {
			continue
		}
		dst = append(dst, f.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, f.Value...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// safeField reports whether a field can be written as it is: a token for
// a name, and a value without CR, LF or NUL. Fields come from the origin
// or a peer; net/http has checked the origin's, a peer's are checked here.
func safeField(f httpcache.Field) bool {
	if f.Name == "" || strings.ContainsAny(f.Value, "\r\n\x00") {
		return false
	}
	for i := 0; i < len(f.Name); i++ {
		if c := f.Name[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// headerReaders read header blocks; one holds the largest block a stored
// response can make.
var headerReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 2*engine.MaxStoredHeader) }}

// parseHeaderBlock reads raw, a whole response header block, into h.
func parseHeaderBlock(h *fasthttp.ResponseHeader, raw []byte) error {
	br := headerReaders.Get().(*bufio.Reader)
	var r bytes.Reader
	r.Reset(raw)
	br.Reset(&r)
	err := h.Read(br)
	br.Reset(nil)
	headerReaders.Put(br)
	return err
}
