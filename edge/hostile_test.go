package edge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Hostile clients: requests no player sends, each answered with a 4xx and
// its reason (or served, where serving is right), never a 5xx, a hang or a
// request the edge did not mean to read; and the edge serves a normal
// request afterwards. docs/hostile.md lists them.

// rawConn speaks raw bytes to a listener, for requests no HTTP library
// would send.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

// waitBound is how long a raw exchange waits for an answer or for the edge
// to close the connection: a deadline, never an expected duration.
const waitBound = 10 * time.Second

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		t.Fatalf("sending %.60q: %v", s, err)
	}
}

// response reads one response to a GET.
func (r *rawConn) response(t *testing.T) response {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(waitBound))
	res, err := http.ReadResponse(r.br, nil)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading a response body: %v", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// closed reports whether the edge closes the connection within waitBound
// without sending anything more.
func (r *rawConn) closed(t *testing.T) bool {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(waitBound))
	b, err := r.br.ReadByte()
	switch {
	case err == nil:
		rest, _ := r.br.Peek(r.br.Buffered())
		t.Errorf("the edge sent more after the response: %q", trunc(append([]byte{b}, rest...)))
		return false
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return true
	default:
		t.Errorf("connection still open after %v: %v", waitBound, err)
		return false
	}
}

// rest reads what the edge sends until it closes the connection, and
// fails the test if it has not within waitBound.
func (r *rawConn) rest(t *testing.T) []byte {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(waitBound))
	out, err := io.ReadAll(r.br)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the edge neither answered nor closed the connection: %v (got %q)", err, trunc(out))
	}
	return out
}

// uriLog records the request URIs an origin receives.
type uriLog struct {
	mu   sync.Mutex
	uris []string
}

func (l *uriLog) add(u string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.uris = append(l.uris, u)
}

func (l *uriLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.uris...)
}

// hostileEdge is an edge whose origin serves /pub only: everything the
// edge asks for is under it, and /secret.ts, outside, must never be asked.
type hostileEdge struct {
	n    *Node
	uris *uriLog
}

const hostileBody = "hello from /pub/a.ts"

func startHostileEdge(t *testing.T, mutate func(*Config)) *hostileEdge {
	t.Helper()
	org := newTestOrigin(t)
	org.put("/pub/a.ts", &testObject{data: []byte(hostileBody), etag: `"a"`, modTime: confModTime})
	org.put("/secret.ts", &testObject{data: []byte("SECRET"), etag: `"s"`, modTime: confModTime})
	h := &hostileEdge{uris: &uriLog{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.uris.add(r.RequestURI)
		org.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.n = startNode(t, srv.URL+"/pub", func(c *Config) {
		c.MaxBodySize = 1 << 10 // relayed bodies over 1 KiB are refused
		if mutate != nil {
			mutate(c)
		}
	})
	return h
}

// servesNormally checks that a well-formed request on a new connection is
// still answered.
func (h *hostileEdge) servesNormally(t *testing.T) {
	t.Helper()
	res := do(t, http.MethodGet, "http://"+h.n.Addr()+"/a.ts", nil)
	if res.status != http.StatusOK || string(res.body) != hostileBody {
		t.Fatalf("a normal request after it: %d %q", res.status, trunc(res.body))
	}
}

// originStaysInside checks that every origin request stayed under /pub,
// with no dot segment in any spelling, and that no smuggled request
// reached it.
func (h *hostileEdge) originStaysInside(t *testing.T) {
	t.Helper()
	for _, u := range h.uris.all() {
		if strings.Contains(u, "smuggled") {
			t.Errorf("a smuggled request reached the origin: %q", u)
		}
		p, err := url.PathUnescape(strings.SplitN(u, "?", 2)[0])
		if err != nil || !strings.HasPrefix(u, "/pub/") || strings.Contains(p+"/", "/../") || strings.Contains(p+"/", "/./") {
			t.Errorf("the origin was asked for %q", u)
		}
	}
}

// hostileCase is one request sent as raw bytes, and what must come back.
type hostileCase struct {
	name   string
	req    string
	status int
	reason string // a substring of the response body
	// closes: the edge must close the connection after answering; else
	// the connection must still serve a normal request.
	closes bool
}

func get(target string, headers ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: edge\r\n" + strings.Join(headers, "") + "\r\n"
}

// smuggled is a request hidden in another's body: if the edge ever read it
// as a request, it would answer it and ask the origin for /pub/smuggled.ts.
const smuggled = "GET /smuggled.ts HTTP/1.1\r\nHost: edge\r\n\r\n"

func manyRanges(n int) string {
	return "Range: bytes=" + strings.TrimSuffix(strings.Repeat("0-0,", n), ",") + "\r\n"
}

func hostileCases() []hostileCase {
	huge := "99999999999999999999999" // past 2^63
	return []hostileCase{
		// Ranges.
		{"range garbage", get("/a.ts", "Range: bytes=abc\r\n"), 416, "malformed Range", false},
		{"range backwards", get("/a.ts", "Range: bytes=5-1\r\n"), 416, "malformed Range", false},
		{"range double dash", get("/a.ts", "Range: bytes=--1\r\n"), 416, "malformed Range", false},
		{"range empty set", get("/a.ts", "Range: bytes=,\r\n"), 416, "malformed Range", false},
		{"range past the end", get("/a.ts", "Range: bytes=1000-\r\n"), 416, "not satisfiable", false},
		{"overlapping ranges over the size", get("/a.ts", "Range: bytes=0-,0-,0-\r\n"), 200, hostileBody, false},
		{"overlapping ranges within the size", get("/a.ts", "Range: bytes=0-3,2-5\r\n"), 206, "Content-Range: bytes 2-5/20", false},
		{"65 ranges", get("/a.ts", manyRanges(65)), 416, "too many ranges", false},
		{"1500 ranges", get("/a.ts", manyRanges(1500)), 416, "too many ranges", false},
		{"5000 ranges", get("/a.ts", manyRanges(5000)), 431, "request headers larger than 8192 bytes", true},
		{"range end past 2^63", get("/a.ts", "Range: bytes=0-"+huge+"\r\n"), 206, hostileBody, false},
		{"range start past 2^63", get("/a.ts", "Range: bytes="+huge+"-\r\n"), 416, "not satisfiable", false},
		{"range suffix past 2^63", get("/a.ts", "Range: bytes=-"+huge+"\r\n"), 206, hostileBody, false},
		{"range at 2^63-1", get("/a.ts", "Range: bytes=9223372036854775807-9223372036854775807\r\n"), 416, "not satisfiable", false},
		// Headers.
		{"one header over the limit", get("/a.ts", "X-Big: "+strings.Repeat("y", 9000)+"\r\n"), 431, "request headers larger", true},
		{"many headers over the limit", get("/a.ts", strings.Repeat("X-A: b\r\n", 1200)), 431, "request headers larger", true},
		{"header without colon", get("/a.ts", "Nonsense\r\n"), 400, "malformed HTTP request", true},
		{"space before colon", get("/a.ts", "Host : edge\r\n"), 400, "malformed HTTP request", true},
		{"no Host in HTTP/1.1", "GET /a.ts HTTP/1.1\r\n\r\n", 400, "malformed HTTP request", true},
		{"garbage request line", "GARBAGE\r\n\r\n", 400, "malformed HTTP request", true},
		{"unknown protocol", "GET /a.ts FOO/9\r\nHost: edge\r\n\r\n", 400, "malformed HTTP request", true},
		// Smuggling: a second request in the body must never be read.
		{"body with a request in it", get("/a.ts", fmt.Sprintf("Content-Length: %d\r\n", len(smuggled))) + smuggled, 400, reasonBody, true},
		{"chunked, request after the body", get("/a.ts", "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n" + smuggled, 400, reasonChunked, true},
		{"chunked, request in a chunk", get("/a.ts", "Transfer-Encoding: chunked\r\n") + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled), 400, reasonChunked, true},
		{"Content-Length and Transfer-Encoding", get("/a.ts", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n" + smuggled, 400, reasonChunked, true},
		{"Transfer-Encoding and Content-Length", get("/a.ts", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n") + "0\r\n\r\n" + smuggled, 400, reasonChunked, true},
		{"two Content-Lengths", get("/a.ts", fmt.Sprintf("Content-Length: 0\r\nContent-Length: %d\r\n", len(smuggled))) + smuggled, 400, "malformed HTTP request", true},
		{"Transfer-Encoding gzip", get("/a.ts", "Transfer-Encoding: gzip\r\n") + smuggled, 400, "malformed HTTP request", true},
		{"Transfer-Encoding with space before colon", get("/a.ts", "Transfer-Encoding : chunked\r\n") + "0\r\n\r\n" + smuggled, 400, "malformed HTTP request", true},
		{"folded Transfer-Encoding", get("/a.ts", "Transfer-Encoding:\r\n chunked\r\n") + "0\r\n\r\n" + smuggled, 400, "refused", true},
		{"folded header", get("/a.ts", "X-Foo: a\r\n folded\r\n") + smuggled, 400, reasonObsFold, true},
		{"negative Content-Length", get("/a.ts", "Content-Length: -1\r\n") + smuggled, 400, "malformed HTTP request", true},
		{"body over the limit", get("/a.ts", "Content-Length: 4096\r\n") + strings.Repeat("x", 4096), 400, reasonBody, true},
		// A relayed method's body is framed once, unambiguously, and goes
		// to the origin whole: what it holds is never read as a request.
		{"POST with a request in its body", "POST /a.ts HTTP/1.1\r\nHost: edge\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(smuggled)) + smuggled, 200, hostileBody, false},
		{"chunked POST with a request in a chunk", "POST /a.ts HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled), 200, hostileBody, false},
		{"POST with both lengths", "POST /a.ts HTTP/1.1\r\nHost: edge\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400, reasonBothLens, true},
		{"POST Transfer-Encoding gzip", "POST /a.ts HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: gzip\r\n\r\n" + smuggled, 400, "malformed HTTP request", true},
		{"POST over the relay limit", "POST /a.ts HTTP/1.1\r\nHost: edge\r\nContent-Length: 4096\r\n\r\n" + strings.Repeat("x", 4096), 413, "request body too large", true},
		{"chunked POST over the relay limit", "POST /a.ts HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 4096, strings.Repeat("x", 4096)), 413, "request body too large", true},
		{"Content-Length 0", get("/a.ts", "Content-Length: 0\r\n"), 200, hostileBody, false},
		// Paths: nothing outside the origin's /pub, never a 5xx.
		{"dot segments", get("/../secret.ts"), 404, "404 page not found", false},
		{"deep dot segments", get("/x/../../../secret.ts"), 404, "404 page not found", false},
		{"encoded dots", get("/%2e%2e/secret.ts"), 404, "404 page not found", false},
		{"encoded upper-case dots", get("/%2E%2E/%2E%2E/secret.ts"), 404, "404 page not found", false},
		{"half-encoded dots", get("/.%2e/secret.ts"), 404, "404 page not found", false},
		{"encoded slash and dots", get("/..%2f..%2fsecret.ts"), 404, "404 page not found", false},
		{"encoded dots and slash", get("/%2e%2e%2fsecret.ts"), 404, "404 page not found", false},
		{"trailing dots", get("/a/%2e%2e"), 404, "404 page not found", false},
		{"backslashes", get(`/..\..\secret.ts`), 404, "404 page not found", false},
		{"encoded backslashes", get("/..%5c..%5csecret.ts"), 404, "404 page not found", false},
		{"double slash", get("//secret.ts"), 404, "404 page not found", false},
		{"dot segments to the object", get("/x/../a.ts"), 200, hostileBody, false},
		{"encoded slash", get("/x%2f..%2fa.ts"), 200, hostileBody, false},
		{"NUL", get("/a%00.ts"), 400, "cannot name an object", false},
		{"encoded CR LF", get("/a.ts%0d%0aX-Injected:%201"), 400, "cannot name an object", false},
		{"encoded question mark", get("/a%3f.ts"), 400, "cannot name an object", false},
		{"relative target", get("../../secret.ts"), 400, "malformed HTTP request", true},
		{"asterisk target", get("*"), 400, "malformed HTTP request", true},
		{"absolute-form target", get("http://evil.example/a.ts"), 200, hostileBody, false},
		{"raw non-ASCII", get("/\xff\xfe.ts"), 404, "404 page not found", false},
		{"long path", get("/" + strings.Repeat("d/", 3000) + "a.ts"), 404, "404 page not found", false},
		// Methods: relayed to the origin (which refuses them here), but
		// the refused ones (CONNECT, TRACE) and a target that names no
		// object.
		{"POST", "POST /a.ts HTTP/1.1\r\nHost: edge\r\nContent-Length: 0\r\n\r\n", 200, hostileBody, false},
		{"PUT", "PUT /a.ts HTTP/1.1\r\nHost: edge\r\nContent-Length: 0\r\n\r\n", 200, hostileBody, false},
		{"DELETE", "DELETE /a.ts HTTP/1.1\r\nHost: edge\r\n\r\n", 200, hostileBody, false},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: edge\r\n\r\n", 404, "404 page not found", false},
		{"TRACE", "TRACE /a.ts HTTP/1.1\r\nHost: edge\r\n\r\n", 405, "is not served here", true},
		{"CONNECT", "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", 405, "is not served here", true},
		{"PURGE", "PURGE /a.ts HTTP/1.1\r\nHost: edge\r\n\r\n", 200, hostileBody, false},
		{"lower-case get", "get /a.ts HTTP/1.1\r\nHost: edge\r\n\r\n", 200, hostileBody, false},
		// HTTP/1.0: served, then closed unless it asks for keep-alive.
		{"HTTP/1.0", "GET /a.ts HTTP/1.0\r\n\r\n", 200, hostileBody, true},
		{"HTTP/1.0 keep-alive", "GET /a.ts HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, hostileBody, false},
		{"HTTP/1.1 close", get("/a.ts", "Connection: close\r\n"), 200, hostileBody, true},
	}
}

func TestHostileClients(t *testing.T) {
	h := startHostileEdge(t, nil)
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, h.n.Addr())
			rc.send(t, c.req)
			res := rc.response(t)
			if res.status != c.status || !strings.Contains(string(res.body), c.reason) {
				t.Errorf("%d %q; want %d with %q", res.status, trunc(res.body), c.status, c.reason)
			}
			if strings.Contains(c.reason, "not served here") && !strings.HasPrefix(res.header.Get("Allow"), "GET, HEAD, POST") {
				t.Errorf("Allow %q", res.header.Get("Allow"))
			}
			if c.closes {
				if !rc.closed(t) {
					t.Error("the edge kept the connection open")
				}
			} else {
				// The same connection serves the next request, and what
				// comes back is its answer, not one to hidden bytes.
				rc.send(t, get("/a.ts"))
				if next := rc.response(t); next.status != 200 || string(next.body) != hostileBody {
					t.Errorf("next request on the connection: %d %q", next.status, trunc(next.body))
				}
			}
			h.servesNormally(t)
		})
	}
	h.originStaysInside(t)
}

// Random bytes, and random mutations of valid requests, never get a 5xx
// or a hang, and never reach outside the origin's /pub.
func TestHostileRandomRequests(t *testing.T) {
	h := startHostileEdge(t, nil)
	r := rand.New(rand.NewPCG(7, 7))
	valid := []string{get("/a.ts", "Range: bytes=0-3\r\n"), get("/x/../a.ts"), "HEAD /a.ts HTTP/1.0\r\n\r\n"}
	for i := range 300 {
		req := []byte(valid[i%len(valid)])
		switch i % 3 {
		case 0: // flip bytes
			for range 1 + r.IntN(4) {
				req[r.IntN(len(req))] = byte(r.Uint32())
			}
		case 1: // insert a byte from the grammar's delimiters
			pos := r.IntN(len(req))
			delims := []byte("\r\n :/%.?#\x00\t-,=")
			d := delims[r.IntN(len(delims))]
			req = append(req[:pos], append([]byte{d}, req[pos:]...)...)
		case 2: // random bytes ending like a request
			req = append(randomBytes(r, 1+r.IntN(200)), "\r\n\r\n"...)
		}
		rc := dialRaw(t, h.n.Addr())
		rc.send(t, string(req))
		rc.c.(*net.TCPConn).CloseWrite()
		if out := rc.rest(t); len(out) >= 12 && out[9] == '5' {
			t.Fatalf("%q: a 5xx: %q", req, trunc(out))
		}
		rc.c.Close()
	}
	h.servesNormally(t)
	h.originStaysInside(t)
}

// An idle connection, one that never sends a byte and one idle between
// requests, is closed by the edge's timeouts.
func TestHostileIdleConnections(t *testing.T) {
	h := startHostileEdge(t, func(cfg *Config) {
		cfg.ReadTimeout = 200 * time.Millisecond
		cfg.IdleTimeout = 200 * time.Millisecond
	})
	silent := dialRaw(t, h.n.Addr())
	if out := silent.rest(t); len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.1 408")) {
		t.Errorf("answer to a connection that never sent a byte: %q", trunc(out))
	}
	idle := dialRaw(t, h.n.Addr())
	idle.send(t, get("/a.ts"))
	if res := idle.response(t); res.status != 200 {
		t.Fatalf("status %d", res.status)
	}
	if !idle.closed(t) {
		t.Error("a keep-alive connection idle past IdleTimeout stayed open")
	}
	h.servesNormally(t)
}

// A slowloris client sends its headers a byte at a time and never ends
// them: the read timeout bounds the whole header, not each byte, so the
// edge closes the connection however steadily the bytes trickle in.
func TestHostileSlowloris(t *testing.T) {
	h := startHostileEdge(t, func(cfg *Config) { cfg.ReadTimeout = 300 * time.Millisecond })
	rc := dialRaw(t, h.n.Addr())
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		header := []byte(get("/a.ts") + strings.Repeat("X-Slow: a\r\n", 10000))
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for _, b := range header {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := rc.c.Write([]byte{b}); err != nil {
				return // the edge closed the connection
			}
		}
	}()
	if out := rc.rest(t); len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.1 408")) {
		t.Errorf("answer to a slow request: %q", trunc(out))
	}
	h.servesNormally(t)
}

// MaxConns caps the connections served at once: the next one gets a 503
// and is closed, and once a connection ends a new one is served again.
func TestHostileConnectionLimit(t *testing.T) {
	const limit = 4
	h := startHostileEdge(t, func(cfg *Config) { cfg.MaxConns = limit })
	var held []*rawConn
	for range limit {
		rc := dialRaw(t, h.n.Addr())
		rc.send(t, get("/a.ts"))
		if res := rc.response(t); res.status != 200 {
			t.Fatalf("status %d", res.status)
		}
		held = append(held, rc) // kept alive: each holds a connection slot
	}
	over := dialRaw(t, h.n.Addr())
	over.send(t, get("/a.ts"))
	if out := over.rest(t); !bytes.HasPrefix(out, []byte("HTTP/1.1 503")) || !bytes.Contains(out, []byte("Concurrency limit")) {
		t.Errorf("over the limit: %q", trunc(out))
	}
	held[0].c.Close()
	waitFor(t, "a connection slot to be free again", func() bool {
		c, err := net.Dial("tcp", h.n.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitBound))
		io.WriteString(c, get("/a.ts", "Connection: close\r\n"))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
}

// A client that stops reading in the middle of a large body is cut off by
// the write timeout: the edge closes the connection and keeps no goroutine
// for it, and serves others meanwhile and after.
func TestHostileClientStopsReading(t *testing.T) {
	org := newTestOrigin(t)
	data := randomBytes(rand.New(rand.NewPCG(3, 3)), 24<<20)
	org.put("/big.mp4", &testObject{data: data, etag: `"b"`, modTime: confModTime})
	org.put("/small.ts", &testObject{data: []byte("small"), etag: `"s"`, modTime: confModTime})
	n := startNode(t, org.URL(), func(cfg *Config) {
		cfg.ChunkSize = 64 << 10
		cfg.WriteTimeout = 500 * time.Millisecond
	})
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/small.ts", nil); res.status != 200 {
		t.Fatalf("status %d", res.status)
	}
	testClient.CloseIdleConnections()
	// Every goroutine alive now (the test's, the node's, its origin's and
	// fasthttp's idle workers) is the baseline; an idle worker started
	// later is fasthttp's pool, not a connection (see below).
	baseline := goleak.IgnoreCurrent()

	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		// A small receive buffer, so that the edge's writes block soon
		// rather than after filling megabytes of socket buffers.
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
	}}
	c, err := d.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, get("/big.mp4"))
	first := make([]byte, 1024)
	c.SetReadDeadline(time.Now().Add(waitBound))
	if _, err := io.ReadFull(c, first); err != nil || !bytes.HasPrefix(first, []byte("HTTP/1.1 200")) {
		t.Fatalf("start of the response: %v %q", err, trunc(first))
	}
	// The client reads no more. Meanwhile another is served.
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/small.ts", nil); res.status != 200 {
		t.Fatalf("another client while one is stuck: %d", res.status)
	}
	testClient.CloseIdleConnections()
	waitFor(t, "the edge to drop the stuck connection", func() bool {
		n.clientLn.mu.Lock()
		defer n.clientLn.mu.Unlock()
		return len(n.clientLn.conns) == 0
	})
	// What the client can still read ends short of the body.
	c.SetReadDeadline(time.Now().Add(waitBound))
	rest, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading the rest: %v", err)
	}
	if got := len(first) + len(rest); got >= len(data) {
		t.Errorf("the client received %d bytes of a %d-byte body it stopped reading", got, len(data))
	}
	// Chunk fetches the response started finish for the cache; the
	// origin's idle connections they leave are closed here, so that
	// nothing of the request remains. fasthttp keeps a worker that served
	// a connection idle in its pool for a while (MaxIdleWorkerDuration) to
	// reuse it: blocked in workerFunc itself, with no connection; a worker
	// still serving one would be blocked in a read or write below it.
	n.origin.inner.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	goleak.VerifyNone(t, baseline, goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*workerPool).workerFunc"))
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/small.ts", nil); res.status != 200 {
		t.Fatalf("after: %d", res.status)
	}
}
