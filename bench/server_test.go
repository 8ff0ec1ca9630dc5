package bench

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// testOrigin is a synthetic origin for tests, on 127.0.0.1: it serves
// origin.SyntheticPath objects with Range support, counts what it serves at
// origin.StatsPath like the reference origin, and can misbehave on request.
type testOrigin struct {
	requests  atomic.Int64
	bodyBytes atomic.Int64
	conns     atomic.Int64

	// corrupt, when positive, is the 1-based number of the request whose
	// body gets one flipped byte.
	corrupt int64
	// delay, when set, holds request n (1-based) for the returned time
	// before answering: a stalled or slow server.
	delay func(n int64) time.Duration
	// xcache is sent as the X-Cache header when not empty.
	xcache string
}

func startOrigin(t *testing.T, o *testOrigin) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(o)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			o.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func (o *testOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == origin.StatsPath {
		_ = json.NewEncoder(w).Encode(originCounters{Requests: o.requests.Load(), BodyBytes: o.bodyBytes.Load()})
		return
	}
	n := o.requests.Add(1)
	size, name, ok := origin.ParseSyntheticPath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if o.delay != nil {
		if d := o.delay(n); d > 0 {
			time.Sleep(d) // the fixture's stall, not a wait for the test
		}
	}
	if o.xcache != "" {
		w.Header().Set("X-Cache", o.xcache)
	}
	w.Header().Set("Content-Type", "application/octet-stream") // no sniffing read
	obj := &synthObject{size: size, name: name, flip: n == o.corrupt}
	cw := &countingWriter{ResponseWriter: w, n: &o.bodyBytes}
	http.ServeContent(cw, r, "", origin.SyntheticModTime, io.NewSectionReader(obj, 0, size))
}

// synthObject is an io.ReaderAt over a synthetic object; with flip set, the
// first read has one byte inverted.
type synthObject struct {
	size int64
	name string
	flip bool
}

func (s *synthObject) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	origin.SyntheticFill(p[:n], s.size, s.name, off)
	if s.flip && n > 0 {
		p[n/2] ^= 0xff
		s.flip = false
	}
	return n, nil
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}
