package origin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// testOrigin serves body at every path, honouring Range unless
// ignoreRange, without a length when chunked, and counts its requests.
type testOrigin struct {
	body        []byte
	ignoreRange bool
	chunked     bool
	etag        string
	requests    atomic.Int32
	lastHeader  atomic.Pointer[http.Header]
}

func (o *testOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	h := r.Header.Clone()
	o.lastHeader.Store(&h)
	if o.etag != "" {
		w.Header().Set("ETag", o.etag)
	}
	w.Header().Set("X-Origin", "yes")
	switch {
	case o.chunked:
		w.WriteHeader(http.StatusOK)
		for i := 0; i < len(o.body); i += 10 {
			w.Write(o.body[i:min(i+10, len(o.body))])
			w.(http.Flusher).Flush()
		}
	case o.ignoreRange:
		w.Header().Set("Content-Length", strconv.Itoa(len(o.body)))
		w.Write(o.body)
	default:
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(o.body))
	}
}

func newTestOrigin(t *testing.T, o *testOrigin) *Client {
	t.Helper()
	hs := httptest.NewServer(o)
	t.Cleanup(hs.Close)
	return newClient(t, hs.URL, nil)
}

func body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestFirstFromARangedOrigin(t *testing.T) {
	o := &testOrigin{body: body(1000), etag: `"v1"`}
	c := newTestOrigin(t, o)
	f, err := c.First(context.Background(), "/a", http.Header{"X-Client": {"1"}}, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != 200 || f.Size != 1000 || !bytes.Equal(f.Head, o.body[:100]) || f.Rest != nil || !f.Ranges {
		t.Errorf("first answer: status %d size %d head %d rest %v ranges %v", f.Status, f.Size, len(f.Head), f.Rest != nil, f.Ranges)
	}
	if f.Header.Get("Content-Range") != "" || f.Header.Get("Content-Length") != "" || f.Header.Get("X-Origin") != "yes" {
		t.Errorf("fields: %v", f.Header)
	}
	if h := *o.lastHeader.Load(); h.Get("Range") != "bytes=0-99" || h.Get("X-Client") != "1" {
		t.Errorf("the origin saw Range %q X-Client %q", h.Get("Range"), h.Get("X-Client"))
	}
	// A body shorter than the window comes whole.
	small := &testOrigin{body: body(30)}
	f, err = newTestOrigin(t, small).First(context.Background(), "/b", nil, 100, nil)
	if err != nil || f.Size != 30 || !bytes.Equal(f.Head, small.body) || f.Rest != nil {
		t.Errorf("small object: %v, size %d head %d", err, f.Size, len(f.Head))
	}
}

func TestFirstFromAnOriginThatIgnoresRange(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		o := &testOrigin{body: body(1000), ignoreRange: true, chunked: chunked}
		f, err := newTestOrigin(t, o).First(context.Background(), "/a", nil, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantSize := int64(1000)
		if chunked {
			wantSize = -1
		}
		if f.Status != 200 || f.Size != wantSize || !bytes.Equal(f.Head, o.body[:100]) || f.Rest == nil || f.Ranges {
			t.Fatalf("chunked %v: status %d size %d head %d rest %v ranges %v", chunked, f.Status, f.Size, len(f.Head), f.Rest != nil, f.Ranges)
		}
		rest, err := io.ReadAll(f.Rest)
		f.Rest.Close()
		if err != nil || !bytes.Equal(rest, o.body[100:]) {
			t.Errorf("chunked %v: rest %d bytes, %v", chunked, len(rest), err)
		}
	}
}

// An origin that answers a range of an empty object with 416 is asked
// again for the whole (empty) body.
func TestFirstOfAnEmptyObject(t *testing.T) {
	var requests atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("X-Kind", "empty")
		if r.Header.Get("Range") != "" {
			w.Header().Set("Content-Range", "bytes */0")
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		}
	}))
	defer hs.Close()
	f, err := newClient(t, hs.URL, nil).First(context.Background(), "/empty", nil, 100, nil)
	if err != nil || f.Status != 200 || f.Size != 0 || len(f.Head) != 0 || f.Rest != nil || f.Header.Get("X-Kind") != "empty" {
		t.Fatalf("empty object: %v %+v", err, f)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (the 416 then the whole empty body)", n)
	}
}

func TestFirstReturnsAnyStatus(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("Cache-Control", "max-age=9")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "no such thing")
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, nil)
	f, err := c.First(context.Background(), "/x", nil, 100, nil)
	if err != nil || f.Status != 404 || string(f.Head) != "no such thing" || f.Size != 13 {
		t.Errorf("404: %v %+v", err, f)
	}
	f, err = c.First(context.Background(), "/x", nil, 100, &Meta{ETag: `"v1"`})
	if err != nil || f.Status != 304 || f.Header.Get("Cache-Control") != "max-age=9" {
		t.Errorf("revalidation: %v %+v", err, f)
	}
}

func TestFirstRefusesAWrongWindow(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 5-9/100")
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, "abcde")
	}))
	defer hs.Close()
	if _, err := newClient(t, hs.URL, nil).First(context.Background(), "/x", nil, 100, nil); !errors.Is(err, ErrBadResponse) {
		t.Errorf("a 206 for other bytes: %v, want ErrBadResponse", err)
	}
}

func TestStream(t *testing.T) {
	o := &testOrigin{body: body(1000), etag: `"v1"`}
	c := newTestOrigin(t, o)
	m := Meta{Size: 1000, ETag: `"v1"`}
	auth := http.Header{"Authorization": {"Bearer t"}}
	for _, off := range []int64{0, 300} {
		rc, err := c.Stream(context.Background(), "/a", m, auth, off)
		if err != nil {
			t.Fatalf("from %d: %v", off, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, o.body[off:]) {
			t.Errorf("from %d: %d bytes, %v", off, len(got), err)
		}
		if h := *o.lastHeader.Load(); h.Get("Authorization") != "Bearer t" {
			t.Errorf("from %d: the version's request fields were not sent", off)
		}
	}
	o.etag = `"v2"`
	if _, err := c.Stream(context.Background(), "/a", m, nil, 0); !errors.Is(err, ErrChanged) {
		t.Errorf("a changed ETag: %v, want ErrChanged", err)
	}
	if _, err := c.Stream(context.Background(), "/a", m, nil, 300); !errors.Is(err, ErrChanged) {
		t.Errorf("If-Range failing: %v, want ErrChanged", err)
	}
	ignoring := &testOrigin{body: body(1000), ignoreRange: true}
	c = newTestOrigin(t, ignoring)
	if _, err := c.Stream(context.Background(), "/a", Meta{Size: 1000}, nil, 300); !errors.Is(err, ErrChanged) {
		t.Errorf("a range from an origin that ignores Range: %v, want ErrChanged", err)
	}
}
