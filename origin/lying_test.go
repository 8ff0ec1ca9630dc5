package origin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The lying origin: servers that misbehave on purpose, one way each, to
// check that ReadRange never takes their bytes for the range it asked.

var (
	lieContent = func() []byte {
		b := make([]byte, 1000)
		SyntheticFill(b, 1000, "lie", 0)
		return b
	}()
	lieModTime = time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	lieMeta    = Meta{Size: 1000, ETag: `"v1"`, LastModified: lieModTime}
)

const lieOff, lieLen = 100, 100

// honest answers a request for lieContent as a correct origin would.
func honest(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", lieMeta.ETag)
	http.ServeContent(w, r, "x", lieModTime, bytes.NewReader(lieContent))
}

// reply206 answers with a 206 whose parts the caller chooses.
func reply206(w http.ResponseWriter, contentRange string, body []byte) {
	w.Header().Set("ETag", lieMeta.ETag)
	w.Header().Set("Content-Range", contentRange)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusPartialContent)
	w.Write(body)
}

// countingHandler counts the requests h receives.
func countingHandler(n *atomic.Int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}
}

func TestReadRangeRefusesLies(t *testing.T) {
	want := lieContent[lieOff : lieOff+lieLen]
	okCR := fmt.Sprintf("bytes %d-%d/1000", lieOff, lieOff+lieLen-1)
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		want     error
		attempts int64 // Retries is 2: a bad response is retried once, a change never
	}{
		{"200 instead of 206", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", lieMeta.ETag)
			w.Write(lieContent)
		}, ErrBadResponse, 2},
		{"wrong Content-Range", func(w http.ResponseWriter, r *http.Request) {
			reply206(w, "bytes 0-99/1000", lieContent[:100])
		}, ErrBadResponse, 2},
		{"Content-Range off by one", func(w http.ResponseWriter, r *http.Request) {
			reply206(w, "bytes 101-200/1000", lieContent[101:201])
		}, ErrBadResponse, 2},
		{"Content-Range of unknown size", func(w http.ResponseWriter, r *http.Request) {
			reply206(w, fmt.Sprintf("bytes %d-%d/*", lieOff, lieOff+lieLen-1), want)
		}, ErrBadResponse, 2},
		{"malformed Content-Range", func(w http.ResponseWriter, r *http.Request) {
			reply206(w, "bytes=100-199/1000", want)
		}, ErrBadResponse, 2},
		{"no Content-Range", func(w http.ResponseWriter, r *http.Request) {
			reply206(w, "", want)
		}, ErrBadResponse, 2},
		{"multipart answer", func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set("Range", "bytes=100-149,150-199")
			honest(w, r)
		}, ErrBadResponse, 2},
		{"short body, honest Content-Length", func(w http.ResponseWriter, r *http.Request) {
			reply206(w, okCR, want[:50])
		}, ErrBadResponse, 2},
		{"long body, chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", lieMeta.ETag)
			w.Header().Set("Content-Range", okCR)
			w.WriteHeader(http.StatusPartialContent)
			w.Write(want)
			w.(http.Flusher).Flush()
			w.Write([]byte("and some more"))
		}, ErrBadResponse, 2},
		{"short body, chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", lieMeta.ETag)
			w.Header().Set("Content-Range", okCR)
			w.WriteHeader(http.StatusPartialContent)
			w.Write(want[:99])
		}, ErrBadResponse, 2},
		{"Content-Encoding", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			reply206(w, okCR, want)
		}, ErrBadResponse, 2},
		{"ETag changed, If-Range ignored", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"v2"`)
			w.Header().Set("Content-Range", okCR)
			w.WriteHeader(http.StatusPartialContent)
			w.Write(want)
		}, ErrChanged, 1},
		{"Last-Modified changed", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Last-Modified", lieModTime.Add(time.Hour).Format(http.TimeFormat))
			reply206(w, okCR, want)
		}, ErrChanged, 1},
		{"size changed", func(w http.ResponseWriter, r *http.Request) {
			reply206(w, fmt.Sprintf("bytes %d-%d/1001", lieOff, lieOff+lieLen-1), want)
		}, ErrChanged, 1},
		{"ETag changed, If-Range honoured", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"v2"`) // ServeContent sends the whole new version
			http.ServeContent(w, r, "x", lieModTime, bytes.NewReader(lieContent))
		}, ErrChanged, 1},
		{"412", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(412) }, ErrChanged, 1},
		{"416", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(416) }, ErrChanged, 1},
		{"404", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, ErrNotFound, 1},
		{"410", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) }, ErrNotFound, 1},
		{"304 nobody asked for", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(304) }, ErrBadResponse, 1},
		{"500 is not retried", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, nil, 1},
		{"503 forever", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, ErrUnreachable, 3},
		{"502 forever", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }, ErrUnreachable, 3},
		{"504 forever", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(504) }, ErrTimeout, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			hs := httptest.NewServer(countingHandler(&n, tt.handler))
			defer hs.Close()
			c := newClient(t, hs.URL, nil)
			dst := make([]byte, lieLen)
			err := c.ReadRange(context.Background(), "/x", lieMeta, nil, lieOff, dst)
			if err == nil {
				t.Fatal("ReadRange accepted the lie")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			var se *StatusError
			if tt.want == nil && !errors.As(err, &se) {
				t.Errorf("err = %v, want a *StatusError", err)
			}
			if n.Load() != tt.attempts {
				t.Errorf("%d requests, want %d", n.Load(), tt.attempts)
			}
			st := c.Stats()
			if st.Requests != tt.attempts || st.Retries != tt.attempts-1 || st.Errors != 1 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

func TestReadRangeAcceptsWholeObject200(t *testing.T) {
	// An origin that ignores ranges is fine when the range is the object.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", lieMeta.ETag)
		w.Write(lieContent)
	}))
	defer hs.Close()
	dst := make([]byte, len(lieContent))
	if err := newClient(t, hs.URL, nil).ReadRange(context.Background(), "/x", lieMeta, nil, 0, dst); err != nil || !bytes.Equal(dst, lieContent) {
		t.Fatalf("ReadRange(whole object from a 200) = %v", err)
	}
}

func TestReadRangeSendsValidators(t *testing.T) {
	var got atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Range") + "|" + r.Header.Get("If-Range") + "|" + r.Header.Get("Accept-Encoding") + "|" + r.UserAgent())
		honest(w, r)
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, nil)
	for _, tc := range []struct {
		m    Meta
		want string
	}{
		{lieMeta, `bytes=100-199|"v1"|identity|edgecache`},
		{Meta{Size: 1000, ETag: `W/"v1"`, LastModified: lieModTime}, "bytes=100-199|" + lieModTime.Format(http.TimeFormat) + "|identity|edgecache"},
	} {
		// The weak-ETag Meta fails the ETag comparison on purpose: what
		// matters here is what was sent.
		_ = c.ReadRange(context.Background(), "/x", tc.m, nil, lieOff, make([]byte, lieLen))
		if got.Load() != tc.want {
			t.Errorf("request headers %q, want %q", got.Load(), tc.want)
		}
	}
}

func TestRetryThenSuccess(t *testing.T) {
	var n atomic.Int64
	hs := httptest.NewServer(countingHandler(&n, func(w http.ResponseWriter, r *http.Request) {
		if n.Load() <= 2 {
			w.WriteHeader(503)
			return
		}
		honest(w, r)
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, func(cfg *Config) { cfg.Backoff = time.Microsecond })
	dst := make([]byte, lieLen)
	if err := c.ReadRange(context.Background(), "/x", lieMeta, nil, lieOff, dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst, lieContent[lieOff:lieOff+lieLen]) {
		t.Fatal("wrong bytes after retries")
	}
	if st := c.Stats(); st.Requests != 3 || st.Retries != 2 || st.Errors != 0 {
		t.Errorf("Stats = %+v, want 3 requests, 2 retries, no error", st)
	}
}

func TestNoRetries(t *testing.T) {
	var n atomic.Int64
	hs := httptest.NewServer(countingHandler(&n, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer hs.Close()
	c := newClient(t, hs.URL, func(cfg *Config) { cfg.Retries = -1 })
	if err := c.ReadRange(context.Background(), "/x", lieMeta, nil, 0, make([]byte, 1)); HTTPStatus(err) != 502 || n.Load() != 1 {
		t.Errorf("err = %v after %d requests, want a 502 after 1", err, n.Load())
	}
}

// rawOrigin is a TCP server that answers each request with whatever
// respond writes on the connection, for lies net/http will not tell.
func rawOrigin(t *testing.T, respond func(conn *net.TCPConn)) (url string, requests *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	requests = new(atomic.Int64)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
					return
				}
				requests.Add(1)
				respond(conn.(*net.TCPConn))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), requests
}

func TestReadRangeTransportFailures(t *testing.T) {
	head := fmt.Sprintf("HTTP/1.1 206 Partial Content\r\nETag: \"v1\"\r\nContent-Range: bytes %d-%d/1000\r\nContent-Length: %d\r\n\r\n",
		lieOff, lieOff+lieLen-1, lieLen)
	tests := []struct {
		name     string
		respond  func(conn *net.TCPConn)
		want     error
		attempts int64
	}{
		{"Content-Length larger than the body", func(conn *net.TCPConn) {
			conn.Write([]byte(head))
			conn.Write(lieContent[lieOff : lieOff+lieLen/2])
		}, ErrBadResponse, 2},
		{"reset before answering", func(conn *net.TCPConn) {
			conn.SetLinger(0)
		}, ErrUnreachable, 3},
		{"reset mid-body", func(conn *net.TCPConn) {
			conn.Write([]byte(head))
			conn.Write(lieContent[lieOff : lieOff+10])
			conn.SetLinger(0)
		}, nil, 0}, // ErrUnreachable or ErrBadResponse, depending on what the kernel delivers first
		{"garbage instead of HTTP", func(conn *net.TCPConn) {
			conn.Write([]byte("SSH-2.0-OpenSSH\r\n\r\n"))
		}, ErrUnreachable, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, n := rawOrigin(t, tt.respond)
			c := newClient(t, url, nil)
			err := c.ReadRange(context.Background(), "/x", lieMeta, nil, lieOff, make([]byte, lieLen))
			if err == nil {
				t.Fatal("ReadRange succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && !errors.Is(err, ErrUnreachable) && !errors.Is(err, ErrBadResponse) {
				t.Errorf("err = %v, want ErrUnreachable or ErrBadResponse", err)
			}
			if tt.attempts > 0 && n.Load() != tt.attempts {
				t.Errorf("%d requests, want %d", n.Load(), tt.attempts)
			}
			if HTTPStatus(err) != 502 {
				t.Errorf("HTTPStatus = %d, want 502", HTTPStatus(err))
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, "http://"+addr, nil)
	_, err = c.Stat(context.Background(), "/x")
	if !errors.Is(err, ErrUnreachable) || c.Stats().Requests != 3 {
		t.Errorf("Stat(closed port) = %v after %d requests; want ErrUnreachable after 3", err, c.Stats().Requests)
	}
}

// stallingOrigin answers nothing (or, with headFirst, headers and half a
// body) until the test ends, and reports each request on arrived.
func stallingOrigin(t *testing.T, headFirst bool) (url string, arrived chan struct{}) {
	t.Helper()
	arrived = make(chan struct{}, 16)
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headFirst {
			w.Header().Set("ETag", lieMeta.ETag)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/1000", lieOff, lieOff+lieLen-1))
			w.Header().Set("Content-Length", strconv.Itoa(lieLen))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(lieContent[lieOff : lieOff+lieLen/2])
			w.(http.Flusher).Flush()
		}
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblock handlers, then close
	return hs.URL, arrived
}

func TestStallIsTimeout(t *testing.T) {
	for _, headFirst := range []bool{false, true} {
		url, _ := stallingOrigin(t, headFirst)
		c := newClient(t, url, func(cfg *Config) {
			cfg.Timeout = 50 * time.Millisecond
			cfg.Retries = 1
		})
		err := c.ReadRange(context.Background(), "/x", lieMeta, nil, lieOff, make([]byte, lieLen))
		if !errors.Is(err, ErrTimeout) || HTTPStatus(err) != 504 {
			t.Errorf("headFirst=%v: err = %v, want ErrTimeout", headFirst, err)
		}
		if st := c.Stats(); st.Requests != 2 {
			t.Errorf("headFirst=%v: %d requests, want 2 (a timeout is retried)", headFirst, st.Requests)
		}
	}
}

func TestCallerCancellation(t *testing.T) {
	url, arrived := stallingOrigin(t, false)
	c := newClient(t, url, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.ReadRange(ctx, "/x", lieMeta, nil, lieOff, make([]byte, lieLen)) }()
	<-arrived
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want context.Canceled only", err)
	}
	if c.Stats().Requests != 1 {
		t.Errorf("%d requests after cancellation, want 1", c.Stats().Requests)
	}
}

func TestCallerDeadline(t *testing.T) {
	url, _ := stallingOrigin(t, false)
	c := newClient(t, url, nil) // attempt timeout 10s: the caller's 20ms wins
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Stat(ctx, "/x")
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || HTTPStatus(err) != 504 {
		t.Errorf("err = %v, want ErrTimeout wrapping context.DeadlineExceeded", err)
	}
}

func TestBackoffHonoursContext(t *testing.T) {
	arrived := make(chan struct{}, 16)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		w.WriteHeader(503)
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, func(cfg *Config) {
		cfg.Backoff = time.Hour
		cfg.Retries = 5
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.ReadRange(ctx, "/x", lieMeta, nil, lieOff, make([]byte, lieLen)) }()
	<-arrived
	cancel() // the client is now waiting out its first backoff
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadRange kept waiting after its context was cancelled")
	}
}

func TestStatRefusesLies(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"coded HEAD": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", "10")
		},
		"206 of unknown size": func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "HEAD" {
				w.WriteHeader(405)
				return
			}
			reply206(w, "bytes 0-0/*", []byte{1})
		},
		"206 of the wrong range": func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "HEAD" {
				w.WriteHeader(405)
				return
			}
			reply206(w, "bytes 1-1/10", []byte{1})
		},
		"416 for a non-empty object": func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "HEAD" {
				w.WriteHeader(405)
				return
			}
			w.Header().Set("Content-Range", "bytes */10")
			w.WriteHeader(416)
		},
		"200 without a size": func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "HEAD" {
				w.WriteHeader(405)
				return
			}
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
		},
	} {
		hs := httptest.NewServer(h)
		_, err := newClient(t, hs.URL, nil).Stat(context.Background(), "/x")
		hs.Close()
		if !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: err = %v, want ErrBadResponse", name, err)
		}
	}
}
