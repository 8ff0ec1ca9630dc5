// Package testorigin is a scriptable HTTP origin for tests of the edge in
// front of origins as they are found in the wild: each path answers as its
// Route says (any status and fields, with or without ranges, HEAD,
// validators or a length), and every request it receives is recorded, so
// that a test can count what reached the origin. It is for tests only.
package testorigin

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Route is how the origin answers one path.
type Route struct {
	// Status is the answer's status; 0 means 200, served with ranges and
	// conditionals (http.ServeContent) unless IgnoreRange.
	Status int
	// Header holds the answer's fields; an ETag or Last-Modified here is
	// what ServeContent validates against.
	Header http.Header
	// Body is the content (of any status).
	Body []byte
	// IgnoreRange answers every GET with the whole body, as a dynamic
	// origin does.
	IgnoreRange bool
	// RefuseHEAD answers HEAD with 405, as presigned object-store URLs do.
	RefuseHEAD bool
	// Chunked sends the body without Content-Length, in small pieces.
	Chunked bool
	// Handler, when set, answers instead of everything above.
	Handler http.HandlerFunc
}

// Request is one request the origin received.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	Sent         int64 // body bytes the origin wrote in answer, once it has
}

// Origin is a running test origin.
type Origin struct {
	srv *httptest.Server

	mu       sync.Mutex
	routes   map[string]Route
	requests []Request
}

// New starts an origin that answers 404 until routes are set, and stops it
// when the test ends.
func New(t testing.TB) *Origin {
	o := &Origin{routes: map[string]Route{}}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.srv.Close)
	return o
}

// URL is the origin's base URL.
func (o *Origin) URL() string { return o.srv.URL }

// Set makes path answer as r says; path includes any query.
func (o *Origin) Set(path string, r Route) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.routes[path] = r
}

// Requests returns the requests received for path (any query included),
// oldest first; "" returns every request.
func (o *Origin) Requests(path string) []Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Request
	for _, r := range o.requests {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Count is how many requests path received.
func (o *Origin) Count(path string) int { return len(o.Requests(path)) }

// BodyBytes is how many body bytes the origin sent for path: its egress.
func (o *Origin) BodyBytes(path string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var n int64
	for _, r := range o.requests {
		if r.Path == path {
			n += r.Sent
		}
	}
	return n
}

func (o *Origin) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := r.URL.RequestURI()
	// Recorded as it arrives, so that a request the edge is still reading
	// the answer of is counted; the bytes sent are noted when it ends.
	h := r.Header.Clone()
	o.mu.Lock()
	route, ok := o.routes[path]
	i := len(o.requests)
	o.requests = append(o.requests, Request{Method: r.Method, Path: path, Header: h, Body: body})
	o.mu.Unlock()
	cw := &countingWriter{ResponseWriter: w}
	switch {
	case !ok:
		http.NotFound(cw, r)
	case route.Handler != nil:
		route.Handler(cw, r)
	default:
		route.answer(cw, r)
	}
	o.mu.Lock()
	o.requests[i].Sent = cw.n
	o.mu.Unlock()
}

func (rt Route) answer(w http.ResponseWriter, r *http.Request) {
	for k, v := range rt.Header {
		w.Header()[k] = v
	}
	switch {
	case r.Method == http.MethodHead && rt.RefuseHEAD:
		w.WriteHeader(http.StatusMethodNotAllowed)
	case rt.Status != 0 && rt.Status != http.StatusOK, rt.IgnoreRange, rt.Chunked:
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		if !rt.Chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(rt.Body)))
		}
		w.WriteHeader(status)
		if r.Method == http.MethodHead {
			return
		}
		for i := 0; i < len(rt.Body); i += 4096 {
			w.Write(rt.Body[i:min(i+4096, len(rt.Body))])
			if rt.Chunked {
				w.(http.Flusher).Flush()
			}
		}
	default:
		var mod time.Time
		if lm := rt.Header.Get("Last-Modified"); lm != "" {
			mod, _ = http.ParseTime(lm)
		}
		http.ServeContent(w, r, "", mod, bytes.NewReader(rt.Body))
	}
}

// countingWriter counts the body bytes written.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// Unwrap lets http.NewResponseController reach the connection, for
// handlers that hijack it to write a raw answer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Ranges returns the Range fields of the requests path received, "" for
// those without one, in order.
func (o *Origin) Ranges(path string) []string {
	var out []string
	for _, r := range o.Requests(path) {
		out = append(out, r.Header.Get("Range"))
	}
	return out
}

// Methods returns the methods of the requests path received, joined by
// spaces: "GET GET HEAD".
func (o *Origin) Methods(path string) string {
	var out []string
	for _, r := range o.Requests(path) {
		out = append(out, r.Method)
	}
	return strings.Join(out, " ")
}
