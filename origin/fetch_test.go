package origin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fetchAll fetches req and reads the whole answer.
func fetchAll(t *testing.T, c *Client, req Request) (*Response, string) {
	t.Helper()
	resp, err := c.Fetch(context.Background(), req)
	if err != nil {
		t.Fatalf("Fetch %s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body of %s: %v", req.Path, err)
	}
	return resp, string(b)
}

// Every status is an answer, redirects included, with its fields and body.
func TestFetchReturnsEveryStatus(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/target", http.StatusMovedPermanently)
		case "/target":
			t.Error("the redirect was followed")
		case "/gone":
			w.Header().Set("X-Why", "deleted")
			w.WriteHeader(http.StatusGone)
			io.WriteString(w, "gone for good")
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, nil)
	resp, body := fetchAll(t, c, Request{Path: "/moved"})
	if resp.Status != http.StatusMovedPermanently || resp.Header.Get("Location") != "/target" {
		t.Errorf("/moved: %d Location %q, want 301 /target", resp.Status, resp.Header.Get("Location"))
	}
	_ = body
	resp, body = fetchAll(t, c, Request{Path: "/gone"})
	if resp.Status != http.StatusGone || resp.Header.Get("X-Why") != "deleted" || body != "gone for good" ||
		resp.ContentLength != int64(len(body)) {
		t.Errorf("/gone: %d %q %q (length %d)", resp.Status, resp.Header.Get("X-Why"), body, resp.ContentLength)
	}
	if resp, _ = fetchAll(t, c, Request{Path: "/busy"}); resp.Status != http.StatusServiceUnavailable {
		t.Errorf("/busy: %d, want the origin's 503 as an answer", resp.Status)
	}
}

// The fields given are sent as they are; User-Agent only when absent.
func TestFetchSendsFieldsAndBody(t *testing.T) {
	type seen struct {
		method, ua, auth, body string
		length                 int64
	}
	got := make(chan seen, 4)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Header.Get("User-Agent"), r.Header.Get("Authorization"), string(b), r.ContentLength}
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, func(cfg *Config) { cfg.UserAgent = "edge-test" })

	fetchAll(t, c, Request{Path: "/a", Header: http.Header{"Authorization": {"Bearer x"}}})
	if s := <-got; s.method != "GET" || s.ua != "edge-test" || s.auth != "Bearer x" {
		t.Errorf("GET: %+v", s)
	}
	fetchAll(t, c, Request{Method: "POST", Path: "/a", Header: http.Header{"User-Agent": {"player/1"}},
		Body: strings.NewReader("hello"), ContentLength: 5})
	if s := <-got; s.method != "POST" || s.ua != "player/1" || s.body != "hello" || s.length != 5 {
		t.Errorf("POST with a length: %+v", s)
	}
	fetchAll(t, c, Request{Method: "PUT", Path: "/a", Body: strings.NewReader("chunked"), ContentLength: -1})
	if s := <-got; s.method != "PUT" || s.body != "chunked" || s.length != -1 {
		t.Errorf("PUT of unknown length: %+v", s)
	}
}

// A request without a body is retried when no answer came; one with a
// body is not, since the origin may have acted on it.
func TestFetchRetries(t *testing.T) {
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close() // no answer at all
			return
		}
		io.WriteString(w, "ok")
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, func(cfg *Config) { cfg.Retries = 1 })
	if _, body := fetchAll(t, c, Request{Path: "/x"}); body != "ok" || calls.Load() != 2 {
		t.Errorf("GET after a dropped connection: %q after %d calls, want ok after 2", body, calls.Load())
	}
	calls.Store(0)
	_, err := c.Fetch(context.Background(), Request{Method: "POST", Path: "/x", Body: strings.NewReader("a"), ContentLength: 1})
	if !errors.Is(err, ErrUnreachable) || calls.Load() != 1 {
		t.Errorf("POST after a dropped connection: %v after %d calls, want ErrUnreachable after 1", err, calls.Load())
	}
}

// An origin that sends no header within the timeout is a timeout.
func TestFetchHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hs.Close()
	defer close(release)
	c := newClient(t, hs.URL, func(cfg *Config) { cfg.Timeout, cfg.Retries = 50*time.Millisecond, -1 })
	if _, err := c.Fetch(context.Background(), Request{Path: "/slow"}); !errors.Is(err, ErrTimeout) {
		t.Errorf("no header: %v, want ErrTimeout", err)
	}
}

// stallingBody is a body that answers its first read and then blocks
// until the request's context ends.
type stallingBody struct {
	ctx   context.Context
	reads int
}

func (s *stallingBody) Read(p []byte) (int, error) {
	if s.reads++; s.reads == 1 {
		return copy(p, "a"), nil
	}
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}

func (s *stallingBody) Close() error { return nil }

// A body read that stalls fails after the timeout; time the caller spends
// between reads does not count.
func TestWatchedBodyTimesReadsOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		wd := newWatchdog(time.Second, cancel)
		wd.stop()
		b := &watchedBody{rc: &stallingBody{ctx: ctx}, wd: wd, cancel: cancel}
		defer b.Close()
		if _, err := b.Read(make([]byte, 8)); err != nil {
			t.Fatalf("first read: %v", err)
		}
		time.Sleep(time.Hour) // a slow reader: nothing is cancelled
		if ctx.Err() != nil {
			t.Fatal("the request was cancelled while the caller was not reading")
		}
		start := time.Now()
		if _, err := b.Read(make([]byte, 8)); !errors.Is(err, ErrTimeout) || ctx.Err() == nil {
			t.Fatalf("stalled read: %v, want a timeout that cancels the request", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("the stalled read failed after %v, want the 1s timeout", waited)
		}
	})
}
