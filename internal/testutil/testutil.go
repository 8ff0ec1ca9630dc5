// Package testutil holds the helpers that the tests of several packages
// share, so that each exists once: a buffer goroutines may log to while a
// test reads it, the goroutine-leak settings for fasthttp, a GET with a
// Range header, and a bounded wait for a condition of a running process.
//
// It is for tests only: no package's non-test code imports it.
package testutil

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// SyncBuffer is a bytes.Buffer that goroutines of the code under test may
// write (a log sink) while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FasthttpTimers are the goleak options that ignore fasthttp's own timers,
// none of which holds a connection or a request:
//   - the server's Date header refresher, started once per process and
//     never stopped (updateServerDate);
//   - the default dialer's DNS cache cleaner, started by the first dial of
//     the process and never stopped (tcpAddrsClean; it waits on a channel,
//     so it is the top function);
//   - a client's cleaners, which sleep up to MaxIdleConnDuration (30 s for
//     an edge's peer client, 10 s for a default one) after the last
//     connection closed before they notice and exit (mCleaner,
//     connsCleaner);
//   - a server's idle-worker cleaner, which sleeps MaxIdleWorkerDuration
//     (10 s) between rounds and sees that the server stopped only after
//     (workerPool.Start.func2).
//
// All but the DNS cleaner sit in time.Sleep, so they are named anywhere
// in the stack rather than at its top.
func FasthttpTimers() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	}
}

// Get sends a GET for url, with the Range header rng unless it is empty,
// and returns the response (its body closed) and the whole body. Any
// transport or read error fails the test.
func Get(t testing.TB, url, rng string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// WaitUntil polls cond until it holds, for at most 10 seconds, failing the
// test naming what it waited for. It is for conditions of real servers
// and processes, which no fake clock drives; it asserts nothing about how
// long they take.
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
