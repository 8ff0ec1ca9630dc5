package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// config is what one player run does.
type config struct {
	URL        string
	Objects    int
	ObjectSize int64
	Passes     int
	Duration   time.Duration // 0: whole mode
	Rate       float64
	RangeSize  int64
	Workers    int
	Seed       int64
	Timeout    time.Duration
	RetryFor   time.Duration
	RetryEvery time.Duration
}

func (c config) validate() error {
	switch {
	case c.URL == "":
		return errors.New("--url is required")
	case c.Objects < 1:
		return errors.New("--objects must be at least 1")
	case c.Passes < 1:
		return errors.New("--passes must be at least 1")
	case c.Duration < 0:
		return errors.New("--duration must not be negative")
	case c.Duration > 0 && (c.Rate <= 0 || c.Workers < 1):
		return errors.New("range mode needs --rate > 0 and --workers >= 1")
	case c.Duration > 0 && c.RangeSize > c.ObjectSize:
		return errors.New("--range-size must not exceed --object-size")
	case c.Timeout <= 0 || c.RetryFor < 0 || c.RetryEvery <= 0:
		return errors.New("--timeout and --retry-every must be positive, --retry-for not negative")
	}
	return nil
}

// summary is what a run did, printed as one JSON line.
type summary struct {
	Requests int `json:"requests"` // requests begun
	OK       int `json:"ok"`       // answered with the right status and every byte right
	// Failed requests: an error once connected, a wrong status or length,
	// wrong bytes, or connections still refused after RetryFor.
	Failed     int `json:"failed"`
	Mismatches int `json:"mismatches"` // of the failed: a body byte differed
	// Retried requests needed more than one connection attempt; Retries
	// counts the extra attempts, LongestRetryMS the longest wait.
	Retried        int            `json:"retried"`
	Retries        int            `json:"retries"`
	LongestRetryMS int64          `json:"longest_retry_ms"`
	Bytes          int64          `json:"bytes"`            // body bytes received and checked
	XCache         map[string]int `json:"x_cache"`          // answered requests by X-Cache header
	Errors         []string       `json:"errors,omitempty"` // the first few failures
}

const maxErrors = 10

// reader reads and tallies; safe for concurrent requests.
type reader struct {
	cfg  config
	hc   *http.Client
	mu   sync.Mutex
	sum  summary
	wait func(context.Context, time.Duration) error
}

// newReader returns a reader for cfg. dial, when not nil, replaces the
// network dialer (tests use it to refuse connections).
func newReader(cfg config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *reader {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	tr := &http.Transport{DialContext: dial, MaxIdleConnsPerHost: cfg.Workers + 1, DisableCompression: true}
	return &reader{
		cfg:  cfg,
		hc:   &http.Client{Transport: tr, Timeout: cfg.Timeout},
		sum:  summary{XCache: map[string]int{}},
		wait: sleepCtx,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run reads in the configured mode and returns the tally.
func (r *reader) run(ctx context.Context) summary {
	defer r.hc.CloseIdleConnections()
	if r.cfg.Duration == 0 {
		r.whole(ctx)
	} else {
		r.ranges(ctx)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum
}

// whole reads every object whole, in order, Passes times.
func (r *reader) whole(ctx context.Context) {
	for range r.cfg.Passes {
		for i := range r.cfg.Objects {
			if ctx.Err() != nil {
				return
			}
			r.read(ctx, i, 0, r.cfg.ObjectSize, true)
		}
	}
}

// ranges reads random ranges at Rate for Duration, at most Workers at once.
func (r *reader) ranges(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), 0))
	slots := make(chan struct{}, r.cfg.Workers)
	tick := time.NewTicker(time.Duration(float64(time.Second) / r.cfg.Rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		obj := rng.IntN(r.cfg.Objects)
		off := rng.Int64N(r.cfg.ObjectSize - r.cfg.RangeSize + 1)
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			// A request begun is finished even when the run's time is up.
			r.read(context.WithoutCancel(ctx), obj, off, r.cfg.RangeSize, false)
		})
	}
}

// objectName is the name of object i, as the bench's catalogue names them.
func objectName(i int) string { return "obj-" + strconv.Itoa(i) + ".bin" }

// read fetches [off, off+n) of object i (whole: without a Range header),
// retrying connections that cannot be made, and tallies the outcome.
func (r *reader) read(ctx context.Context, i int, off, n int64, whole bool) {
	name := objectName(i)
	url := r.cfg.URL + origin.SyntheticPath(r.cfg.ObjectSize, name)
	start := time.Now()
	attempts := 0
	var got int64
	var xcache string
	var err error
	for {
		attempts++
		got, xcache, err = r.fetch(ctx, url, name, off, n, whole)
		if !isDialError(err) || time.Since(start) >= r.cfg.RetryFor {
			break
		}
		if r.wait(ctx, r.cfg.RetryEvery) != nil {
			break
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.sum
	s.Requests++
	s.Bytes += got
	if attempts > 1 {
		s.Retried++
		s.Retries += attempts - 1
		s.LongestRetryMS = max(s.LongestRetryMS, time.Since(start).Milliseconds())
	}
	if err == nil {
		s.OK++
		s.XCache[xcache]++
		return
	}
	s.Failed++
	if errors.Is(err, errMismatch) {
		s.Mismatches++
	}
	if len(s.Errors) < maxErrors {
		s.Errors = append(s.Errors, fmt.Sprintf("%s [%d,%d) after %d attempts: %v", name, off, off+n, attempts, err))
	}
}

// isDialError reports whether err is a connection that could not be made:
// the request never reached an edge, so retrying it is safe.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// errMismatch marks a body that differs from the origin's bytes.
var errMismatch = errors.New("body differs from the origin's bytes")

// fetch does one attempt and checks status, length and every byte. It
// returns the body bytes checked and the X-Cache header.
func (r *reader) fetch(ctx context.Context, url, name string, off, n int64, whole bool) (int64, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	want := http.StatusOK
	if !whole {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
		want = http.StatusPartialContent
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return 0, "", fmt.Errorf("status %s, want %d", resp.Status, want)
	}
	got, err := verify(resp.Body, r.cfg.ObjectSize, name, off, n)
	return got, resp.Header.Get("X-Cache"), err
}

// verify reads exactly n bytes of body and compares them with bytes
// [off, off+n) of the synthetic object; a longer body is an error too.
func verify(body io.Reader, size int64, name string, off, n int64) (int64, error) {
	buf := make([]byte, 64<<10)
	want := make([]byte, len(buf))
	var got int64
	for got < n {
		k := int(min(int64(len(buf)), n-got))
		m, err := io.ReadFull(body, buf[:k])
		origin.SyntheticFill(want[:m], size, name, off+got)
		if !bytes.Equal(buf[:m], want[:m]) {
			return got, fmt.Errorf("%w at offset %d", errMismatch, off+got)
		}
		got += int64(m)
		if err != nil {
			return got, fmt.Errorf("body ended after %d of %d bytes: %w", got, n, err)
		}
	}
	if m, _ := body.Read(buf[:1]); m > 0 {
		return got, fmt.Errorf("body longer than %d bytes", n)
	}
	return got, nil
}
