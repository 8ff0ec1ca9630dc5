package bench

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/origin"
)

// bufSize is the size of each worker's read buffer: large enough that a
// read is a few syscalls' worth of data, small enough to stay in cache
// while it is verified.
const bufSize = 64 << 10

// client sends the workload's requests: one fasthttp.HostClient per target
// with keep-alive connections, responses streamed through a per-worker
// buffer and verified as they arrive. fasthttp because the tool must not be
// the bottleneck of what it measures: it parses without allocating and
// reuses requests, responses and buffers.
type client struct {
	targets []target
	hosts   []*fasthttp.HostClient
	timeout time.Duration
	// down holds, per target, the Unix nanosecond time until which the
	// target is skipped after a connection failure (see pick).
	down []atomic.Int64
}

// errRejected closes the stream of a response the client rejected.
var errRejected = errors.New("bench: response rejected")

// downFor is how long a target that refused a connection is skipped.
const downFor = time.Second

func newClient(targets []target, conns int, timeout time.Duration) *client {
	c := &client{targets: targets, timeout: timeout, down: make([]atomic.Int64, len(targets))}
	for _, t := range targets {
		c.hosts = append(c.hosts, &fasthttp.HostClient{
			Addr:                   t.host,
			IsTLS:                  t.tls,
			Name:                   "edgecache-bench",
			MaxConns:               conns,
			MaxConnWaitTimeout:     timeout,
			ReadBufferSize:         bufSize,
			WriteBufferSize:        4 << 10,
			StreamResponseBody:     true,
			DisablePathNormalizing: true,
			// One attempt, except when the server closed an idle
			// keep-alive connection before answering: then the request
			// never reached it, and every HTTP client retries once.
			MaxIdemponentCallAttempts: 2,
			RetryIfErr: func(_ *fasthttp.Request, _ int, err error) (bool, bool) {
				return false, errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed)
			},
		})
	}
	return c
}

// pick returns the target a worker uses: its preferred one, or the next
// that is not marked down. A player whose node stops answering moves to
// another node; so do the bench's workers, which is what makes a node loss
// show up as load moving to the rest of the cluster rather than as an
// endless stream of refused connections.
func (c *client) pick(preferred int, now time.Time) int {
	n := len(c.targets)
	for i := range n {
		t := (preferred + i) % n
		if c.down[t].Load() <= now.UnixNano() {
			return t
		}
	}
	return preferred % n
}

// markDown skips target t for downFor.
func (c *client) markDown(t int, now time.Time) {
	c.down[t].Store(now.Add(downFor).UnixNano())
}

// scratch is one worker's reusable request state, never shared.
type scratch struct {
	req  fasthttp.Request
	resp fasthttp.Response
	uri  []byte // the request's URL, built without allocating
	buf  []byte // received bytes
	want []byte // expected bytes of a synthetic object
	hash *xxhash.Digest
}

func newScratch() *scratch {
	return &scratch{buf: make([]byte, bufSize), want: make([]byte, bufSize), hash: xxhash.New()}
}

// outcome is what one request did.
type outcome struct {
	kind    errKind
	source  source
	bytes   int64         // body bytes received
	checked int64         // body bytes compared with the expected bytes
	ttfb    time.Duration // from the start (intended time) to the response headers
	latency time.Duration // from the start (intended time) to the last body byte
	// sum is the xxhash64 of the body, computed (sampled) when fetch was
	// asked for it, for a reference check of a non-synthetic object.
	sum     uint64
	sampled bool
	// failovers counts the targets that refused the connection before
	// the one that answered (or the last that refused).
	failovers int
}

// fetch performs rq against target ti. start is the time latency counts
// from: the actual send time in closed loop, the intended one in open
// loop. live, when not nil, is credited with body bytes as they arrive so
// the per-second throughput is smooth even for large objects.
func (c *client) fetch(s *scratch, ti int, rq request, start time.Time, wantSum bool, live *atomic.Int64) outcome {
	var out outcome
	req, resp := &s.req, &s.resp
	req.Reset()
	s.uri = c.targets[ti].appendURL(s.uri[:0], rq.obj.path)
	req.SetRequestURIBytes(s.uri)
	req.Header.SetMethod(fasthttp.MethodGet)
	if !rq.whole {
		req.Header.SetByteRange(int(rq.off), int(rq.off+rq.n-1))
	}
	err := c.hosts[ti].DoTimeout(req, resp, c.timeout)
	now := time.Now()
	out.ttfb = now.Sub(start)
	if err != nil {
		out.kind = classify(err)
		if out.kind == errConnect {
			c.markDown(ti, now)
		}
		out.latency = out.ttfb
		return out
	}
	out.source = sourceOf(resp.Header.Peek("X-Cache"))
	out.kind = c.checkHeaders(resp, rq)
	if out.kind == errNone {
		out.kind = c.readBody(s, resp.BodyStream(), rq, wantSum, live, &out)
	}
	// A rejected response's connection is closed, not reused: what is
	// left of its body is unknown.
	if body, ok := resp.BodyStream().(fasthttp.ReadCloserWithError); ok && out.kind != errNone {
		_ = body.CloseWithError(errRejected)
	}
	_ = resp.CloseBodyStream()
	out.latency = time.Since(start)
	return out
}

// checkHeaders judges the status and the range of a response before its
// body is read.
func (c *client) checkHeaders(resp *fasthttp.Response, rq request) errKind {
	code := resp.StatusCode()
	switch {
	case code >= 300 && code < 400:
		return errStatus3xx
	case code >= 400 && code < 500:
		return errStatus4xx
	case code >= 500:
		return errStatus5xx
	case code < 200:
		return errOther
	}
	if rq.whole {
		if code != fasthttp.StatusOK {
			return errBadRange
		}
	} else {
		// A server that ignores Range answers 200 with the whole object:
		// not what was asked, and not comparable with one that honours it.
		if code != fasthttp.StatusPartialContent {
			return errBadRange
		}
		first, last, ok := parseContentRange(resp.Header.Peek(fasthttp.HeaderContentRange))
		if !ok || first != rq.off || last != rq.off+rq.n-1 {
			return errBadRange
		}
	}
	if cl := resp.Header.ContentLength(); cl >= 0 && int64(cl) != rq.n {
		return errBadRange
	}
	return errNone
}

// readBody streams the body through s.buf, verifying a synthetic object's
// bytes chunk by chunk against origin.SyntheticFill of the same range, and
// hashing others when wantSum is set.
func (c *client) readBody(s *scratch, body io.Reader, rq request, wantSum bool, live *atomic.Int64, out *outcome) errKind {
	if body == nil {
		if rq.n == 0 {
			return errNone
		}
		return errShortBody
	}
	if wantSum {
		s.hash.Reset()
	}
	var got int64
	for got < rq.n {
		want := min(int64(len(s.buf)), rq.n-got)
		m, err := io.ReadFull(body, s.buf[:want])
		if m > 0 {
			out.bytes += int64(m)
			if live != nil {
				live.Add(int64(m))
			}
			if !s.check(s.buf[:m], rq, got, wantSum, out) {
				return errMismatch
			}
			got += int64(m)
		}
		if err != nil {
			return bodyErr(err)
		}
	}
	// A body longer than the range (possible only without Content-Length)
	// is not what was asked for.
	if m, err := body.Read(s.buf[:1]); m > 0 {
		return errBadRange
	} else if err != nil && !errors.Is(err, io.EOF) {
		return classify(err)
	}
	if wantSum {
		out.sum, out.sampled = s.hash.Sum64(), true
	}
	return errNone
}

// check verifies the piece of a body that starts at offset off of the
// range: a synthetic object's bytes against origin.SyntheticFill of the
// same range, and others into the hash when wantSum is set. It reports
// whether the piece is right.
func (s *scratch) check(piece []byte, rq request, off int64, wantSum bool, out *outcome) bool {
	if rq.obj.synthetic {
		exp := s.want[:len(piece)]
		origin.SyntheticFill(exp, rq.obj.size, rq.obj.name, rq.off+off)
		if !bytes.Equal(piece, exp) {
			return false
		}
		out.checked += int64(len(piece))
	} else if wantSum {
		_, _ = s.hash.Write(piece)
	}
	return true
}

// bodyErr is the kind of an error reading a body before its end: a
// timeout, or else a body cut short.
func bodyErr(err error) errKind {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && classify(err) == errTimeout {
		return errTimeout
	}
	return errShortBody
}

// classify maps a transport error to its kind.
func classify(err error) errKind {
	var dial *fasthttp.ErrDialWithUpstream
	if errors.As(err, &dial) {
		return errConnect
	}
	if errors.Is(err, fasthttp.ErrTimeout) {
		return errTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errTimeout
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return errConnect
	}
	if errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return errClosed
	}
	return errOther
}

// parseContentRange parses "bytes first-last/total" (total may be *).
func parseContentRange(v []byte) (first, last int64, ok bool) {
	rest, found := bytes.CutPrefix(bytes.TrimSpace(v), []byte("bytes "))
	if !found {
		return 0, 0, false
	}
	rng, _, found := bytes.Cut(rest, []byte("/"))
	if !found {
		return 0, 0, false
	}
	a, b, found := bytes.Cut(rng, []byte("-"))
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(string(a), 10, 64)
	last, err2 := strconv.ParseInt(string(b), 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, false
	}
	return first, last, true
}
