package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/edgecache/edgecache/origin"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syntheticServer serves the reference origin's synthetic objects, with
// corrupt flipping one byte of every body when set.
func syntheticServer(t *testing.T, corrupt *atomic.Bool) *httptest.Server {
	t.Helper()
	o, err := origin.NewServer(origin.ServerConfig{Synthetic: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if corrupt == nil || !corrupt.Load() {
			o.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		o.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		body[len(body)/2] ^= 1
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testConfig(url string) config {
	return config{URL: url, Objects: 3, ObjectSize: 300 << 10, Passes: 2, Rate: 200, RangeSize: 64 << 10,
		Workers: 3, Seed: 1, Timeout: 10 * time.Second, RetryFor: time.Minute, RetryEvery: time.Millisecond}
}

func TestWholeModeChecksEveryByte(t *testing.T) {
	srv := syntheticServer(t, nil)
	sum := newReader(testConfig(srv.URL), nil).run(context.Background())
	if sum.Requests != 6 || sum.OK != 6 || sum.Failed != 0 || sum.Bytes != 6*300<<10 {
		t.Fatalf("summary %+v, want 6 whole reads of 300 KiB, all OK", sum)
	}
}

// handlerTransport answers requests in memory from a handler, so that a
// test of the range mode's pacing runs in a synctest bubble on fake time.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

func TestRangeModeReadsAtTheRateForTheDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, err := origin.NewServer(origin.ServerConfig{Synthetic: true})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		cfg := testConfig("http://origin.test")
		cfg.Duration, cfg.Rate = 2050*time.Millisecond, 10
		r := newReader(cfg, nil)
		r.hc.Transport = handlerTransport{o}
		sum := r.run(context.Background())
		// A request at each tick, every 100 ms from 100 ms to 2 s.
		if sum.Requests != 20 || sum.OK != 20 || sum.Bytes != 20*cfg.RangeSize {
			t.Fatalf("summary %+v, want 20 OK reads of %d bytes", sum, cfg.RangeSize)
		}
	})
}

func TestWrongBytesAreFailuresNotRetries(t *testing.T) {
	var corrupt atomic.Bool
	corrupt.Store(true)
	srv := syntheticServer(t, &corrupt)
	cfg := testConfig(srv.URL)
	cfg.Passes = 1
	sum := newReader(cfg, nil).run(context.Background())
	if sum.Failed != 3 || sum.Mismatches != 3 || sum.Retried != 0 || len(sum.Errors) != 3 {
		t.Fatalf("summary %+v, want 3 mismatches, no retry", sum)
	}
	if !strings.Contains(sum.Errors[0], "differs") {
		t.Errorf("error %q does not say the bytes differ", sum.Errors[0])
	}
}

// refusing dials refuse the first n connections, then dial for real.
func refusing(n int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var calls atomic.Int32
	d := &net.Dialer{}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if calls.Add(1) <= n {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return d.DialContext(ctx, network, addr)
	}
}

func TestRefusedConnectionsAreRetried(t *testing.T) {
	srv := syntheticServer(t, nil)
	cfg := testConfig(srv.URL)
	cfg.Passes, cfg.Objects = 1, 1
	r := newReader(cfg, refusing(3))
	waits := 0
	r.wait = func(context.Context, time.Duration) error { waits++; return nil }
	sum := r.run(context.Background())
	if sum.OK != 1 || sum.Retried != 1 || sum.Retries != 3 || waits != 3 {
		t.Fatalf("summary %+v after %d waits, want one OK read after 3 retries", sum, waits)
	}
}

func TestRetriesStopAfterRetryFor(t *testing.T) {
	srv := syntheticServer(t, nil)
	cfg := testConfig(srv.URL)
	cfg.Passes, cfg.Objects, cfg.RetryFor = 1, 1, 0
	sum := newReader(cfg, refusing(1000)).run(context.Background())
	if sum.Failed != 1 || sum.Retried != 0 || sum.Mismatches != 0 {
		t.Fatalf("summary %+v, want one failure without retry", sum)
	}
}

func TestVerifyRejectsLongAndShortBodies(t *testing.T) {
	const size = 10000
	body := make([]byte, size)
	origin.SyntheticFill(body, size, "x", 0)
	if _, err := verify(bytes.NewReader(body), size, "x", 0, size-1); err == nil || !strings.Contains(err.Error(), "longer") {
		t.Errorf("a body one byte long: %v", err)
	}
	if _, err := verify(bytes.NewReader(body[:size-1]), size, "x", 0, size); err == nil || !strings.Contains(err.Error(), "ended") {
		t.Errorf("a body one byte short: %v", err)
	}
	if _, err := verify(bytes.NewReader(body[100:]), size, "x", 100, size-100); err != nil {
		t.Errorf("the right range: %v", err)
	}
}

func TestRunPrintsOneJSONLine(t *testing.T) {
	srv := syntheticServer(t, nil)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--url", srv.URL, "--objects", "2", "--object-size", "64KiB"}, &out); err != nil {
		t.Fatal(err)
	}
	var sum summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil || sum.OK != 2 || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("output %q (%v), want one JSON line with 2 OK reads", out.String(), err)
	}
}

func TestBadFlagsAreErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--nope"},
		{"--url", "http://x", "--objects", "0"},
		{"--url", "http://x", "--object-size", "8MB"},
		{"--url", "http://x", "--duration", "1s", "--range-size", "16MiB"},
		{"--url", "http://x", "--duration", "1s", "--rate", "0"},
		{"--url", "http://x", "--timeout", "0s"},
	} {
		if err := run(context.Background(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
