package edge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// syncBuffer is a bytes.Buffer safe for the access log's goroutine and the
// test's.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// accessEntry is one access log line as the README documents it.
type accessEntry struct {
	Time      time.Time `json:"time"`
	Remote    string    `json:"remote"`
	Method    string    `json:"method"`
	URI       string    `json:"uri"`
	Range     string    `json:"range"`
	UserAgent string    `json:"user_agent"`
	Status    int       `json:"status"`
	Cache     string    `json:"cache"`
	Bytes     int64     `json:"bytes"`
	TTFB      float64   `json:"ttfb_s"`
	Duration  float64   `json:"duration_s"`
	Complete  bool      `json:"complete"`
}

// The access log has one line per request, in the documented format, with
// what the client saw: status, cache result, body bytes; and every line is
// valid JSON whatever bytes the request carried. Stopping the node writes
// the last lines out.
func TestAccessLogLines(t *testing.T) {
	org := newTestOrigin(t)
	data := randomBytes(rand.New(rand.NewPCG(6, 6)), 3*4096+10)
	org.put("/v.ts", &testObject{data: data, etag: `"v"`, modTime: confModTime})
	var out syncBuffer
	cfg := testConfig(org.URL())
	cfg.ChunkSize, cfg.AccessLog, cfg.AccessLogFlush = 4096, &out, time.Hour
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stop := sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	defer stop()

	const oddAgent = "VLC \"3\" \\ \xff\tend"
	type call struct {
		method string
		path   string
		hdr    http.Header
		status int
		cache  string
	}
	calls := []call{
		{"GET", "/v.ts", nil, 200, "miss"},
		{"GET", "/v.ts", http.Header{"Range": {"bytes=4096-8191"}, "User-Agent": {oddAgent}}, 206, "hit"},
		{"HEAD", "/v.ts?x=%22", nil, 200, "miss"},
		{"GET", "/nothing.ts", nil, 404, "none"},
		{"GET", "/v.ts", http.Header{"Range": {"bytes=99999-"}}, 416, "none"},
		{"TRACE", "/v.ts", nil, 405, "none"},
	}
	var bodies []int
	for _, c := range calls {
		res := do(t, c.method, "http://"+n.Addr()+c.path, c.hdr)
		if res.status != c.status {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, res.status, c.status)
		}
		bodies = append(bodies, len(res.body))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(calls) {
		t.Fatalf("%d lines for %d requests:\n%s", len(lines), len(calls), out.String())
	}
	for i, line := range lines {
		c := calls[i]
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var e accessEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %d is not the documented JSON: %v\n%s", i, err, line)
		}
		wantAgent := "Go-http-client/1.1"
		if ua := c.hdr.Get("User-Agent"); ua != "" {
			wantAgent = string([]rune(ua)) // each invalid byte becomes U+FFFD
		}
		switch {
		case e.Method != c.method || e.URI != c.path || e.Status != c.status || e.Cache != c.cache:
			t.Errorf("line %d: %s %s %d %s, want %s %s %d %s", i, e.Method, e.URI, e.Status, e.Cache, c.method, c.path, c.status, c.cache)
		case e.Range != c.hdr.Get("Range") || e.UserAgent != wantAgent:
			t.Errorf("line %d: range %q agent %q, want %q %q", i, e.Range, e.UserAgent, c.hdr.Get("Range"), wantAgent)
		case e.Bytes != int64(bodies[i]) || !e.Complete:
			t.Errorf("line %d: %d bytes (complete %v), the client received %d", i, e.Bytes, e.Complete, bodies[i])
		case e.TTFB < 0 || e.Duration < e.TTFB || e.Time.IsZero():
			t.Errorf("line %d: time %v ttfb %v duration %v", i, e.Time, e.TTFB, e.Duration)
		case !strings.HasPrefix(e.Remote, "127.0.0.1:"):
			t.Errorf("line %d: remote %q", i, e.Remote)
		}
	}
	if !utf8.ValidString(out.String()) {
		t.Error("the log is not valid UTF-8")
	}
}

// blockingWriter stands for a disk or pipe that stalls until released,
// and fails while fail is set.
type blockingWriter struct {
	syncBuffer
	release chan struct{}
	fail    bool
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	fail := w.fail
	w.mu.Unlock()
	if fail {
		return 0, errors.New("disk full")
	}
	return w.syncBuffer.Write(p)
}

// Lines wait for the period, or for 64 KiB of them; a writer that stalls
// costs lines beyond the buffer, never a request's time; a writer that
// fails costs the lines it refused; closing writes what is left.
func TestAccessLogBuffering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w syncBuffer
		l := newAccessLog(&w, time.Second, slog.New(slog.DiscardHandler))
		l.write([]byte("a\n"))
		time.Sleep(time.Second - time.Millisecond)
		synctest.Wait()
		if w.String() != "" {
			t.Errorf("written before the period: %q", w.String())
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if w.String() != "a\n" {
			t.Errorf("after the period: %q", w.String())
		}
		line := append(bytes.Repeat([]byte("x"), 1023), '\n')
		for range accessLogFlushAt / len(line) {
			l.write(line)
		}
		synctest.Wait() // no time passes: the burst wakes the writer
		if got := len(w.String()); got != 2+accessLogFlushAt {
			t.Errorf("after a 64 KiB burst %d bytes written, want %d", got, 2+accessLogFlushAt)
		}
		l.write([]byte("b\n"))
		l.close(time.Minute)
		if !strings.HasSuffix(w.String(), "x\nb\n") || l.dropped.Load() != 0 {
			t.Errorf("close did not write the last line, or lost some: %d dropped", l.dropped.Load())
		}
	})

	synctest.Test(t, func(t *testing.T) {
		w := &blockingWriter{release: make(chan struct{})}
		l := newAccessLog(w, time.Second, slog.New(slog.DiscardHandler))
		line := append(bytes.Repeat([]byte("y"), 1023), '\n')
		l.write(line)
		time.Sleep(time.Second)
		synctest.Wait() // the writer is stuck with the first line
		const sent = accessLogMaxPending/1024 + 100
		for range sent {
			l.write(line) // never blocks, however long the writer is stuck
		}
		if got := l.dropped.Load(); got != 100 {
			t.Errorf("%d lines dropped, want the 100 past the buffer", got)
		}
		close(w.release)
		l.close(time.Minute)
		if got := strings.Count(w.String(), "\n"); got != 1+sent-100 {
			t.Errorf("%d lines written, want %d", got, 1+sent-100)
		}
	})

	synctest.Test(t, func(t *testing.T) {
		w := &blockingWriter{release: make(chan struct{})}
		l := newAccessLog(w, time.Second, slog.New(slog.DiscardHandler))
		l.write([]byte("stuck\n"))
		start := time.Now()
		l.close(5 * time.Second) // the writer never returns: close gives up
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("close waited %v for a stalled writer, want 5s", waited)
		}
		close(w.release)
		<-l.done
	})

	synctest.Test(t, func(t *testing.T) {
		w := &blockingWriter{release: make(chan struct{}), fail: true}
		close(w.release)
		l := newAccessLog(w, time.Second, slog.New(slog.DiscardHandler))
		for range 3 {
			l.write([]byte("z\n"))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := l.dropped.Load(); got != 3 {
			t.Errorf("%d lines dropped after a failed write, want 3", got)
		}
		w.mu.Lock()
		w.fail = false
		w.mu.Unlock()
		l.write([]byte("ok\n"))
		l.close(time.Minute)
		if w.String() != "ok\n" {
			t.Errorf("after the writer recovered: %q", w.String())
		}
	})
}

// Whatever bytes a request carries, its fields are valid JSON strings that
// decode to the bytes, each invalid UTF-8 byte as U+FFFD.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "/a b", `"\`, "\x00\x1f\x7f", "é€😀", "\xff\xfe", "\xed\xa0\x80", "a\u2028b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		out := append([]byte{'"'}, appendJSONString(nil, s)...)
		out = append(out, '"')
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q gave %s: %v", s, out, err)
		}
		if want := string([]rune(string(s))); got != want {
			t.Fatalf("%q gave %s, which decodes to %q, want %q", s, out, got, want)
		}
	})
}

// The hit path allocates nothing with metrics and an access log on:
// BenchmarkHit_1MiB_Range measures it, this keeps it so in `go test`.
func TestHitPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	org := newTestOrigin(t)
	org.put("/h.bin", &testObject{data: make([]byte, 3*4096), etag: `"h"`, modTime: confModTime})
	n := startNode(t, org.URL(), func(c *Config) { c.AccessLog = io.Discard })
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	req.SetRequestURI("/h.bin")
	req.Header.Set("Range", "bytes=100-5000")
	w := bufio.NewWriterSize(io.Discard, 64<<10)
	serve := func() {
		req.CopyTo(&ctx.Request)
		n.serveClient(&ctx)
		if err := ctx.Response.Write(w); err != nil {
			t.Fatal(err)
		}
		if c := ctx.Response.StatusCode(); c != http.StatusPartialContent {
			t.Fatalf("status %d", c)
		}
		ctx.Response.Reset()
	}
	serve() // fill
	// The fill also fetched the chunk after the range in the background,
	// for a sequential player's next request; until it lands, every hit
	// asks for it again. And AllocsPerRun counts every goroutine's
	// allocations, so the node's background work (the access log's
	// flusher, the status sampler) may land in a window: a hit that
	// allocates does so in every attempt.
	waitFor(t, "the chunk after the range to be fetched", func() bool { return n.Stats().FillsInFlight == 0 })
	least := math.Inf(1)
	for range 5 {
		least = min(least, testing.AllocsPerRun(200, serve))
	}
	if least != 0 {
		t.Errorf("a hit allocates %v times", least)
	}
}
