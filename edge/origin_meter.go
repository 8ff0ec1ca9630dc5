package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/origin"
)

// originMeter is the origin as the node sees it: every origin request of
// the node goes through it once and is counted here, and only here, for
// Stats (chunk reads, their bytes and failures), the status page (answers,
// failures, the last error and the last answer) and, when metrics are on,
// the metrics (requests, errors by kind, latency by op). It adds a few
// atomic adds per origin request, never anything per hit.
type originMeter struct {
	inner   originClient
	now     func() time.Time
	metrics *metrics // nil with DisableMetrics

	// What the origin answered (a 404 or a changed object is an answer; a
	// request the edge abandoned is neither), for the status page.
	ok, failed atomic.Int64
	lastOK     atomic.Int64 // unix nanoseconds of the last answer; 0: none yet
	lastFailed atomic.Bool  // the last request that ended failed
	mu         sync.Mutex
	lastErr    string    // guarded by mu
	lastErrAt  time.Time // guarded by mu

	// Chunk reads, for Stats: counted as they start, their bytes and
	// failures (abandoned ones included) as they end.
	chunks, chunkBytes, chunkErrors atomic.Int64
}

func newOriginMeter(inner originClient, now func() time.Time) *originMeter {
	return &originMeter{inner: inner, now: now}
}

// originClient is what the node needs of its origin: the engine's reads,
// and Fetch to relay what the cache does not answer. *origin.Client is
// one.
type originClient interface {
	engine.Origin
	Fetch(ctx context.Context, req origin.Request) (*origin.Response, error)
}

// First is the origin's First, counted as op "first", its head bytes
// added to the origin's egress.
func (o *originMeter) First(ctx context.Context, path string, header http.Header, window int64, old *origin.Meta) (*origin.First, error) {
	start := o.now()
	f, err := o.inner.First(ctx, path, header, window, old)
	if err == nil {
		o.record(originFirst, start, serverFailure(f.Status))
	} else {
		o.record(originFirst, start, err)
	}
	if err == nil {
		o.addBytes(int64(len(f.Head)))
		if f.Rest != nil {
			f.Rest = &countingBody{rc: f.Rest, m: o}
		}
	}
	return f, err
}

// ReadRange is the origin's ReadRange, counted as op "chunk", its bytes
// added to the origin's egress.
func (o *originMeter) ReadRange(ctx context.Context, path string, m origin.Meta, header http.Header, off int64, dst []byte) error {
	o.chunks.Add(1)
	start := o.now()
	err := o.inner.ReadRange(ctx, path, m, header, off, dst)
	o.record(originChunk, start, err)
	if err != nil {
		o.chunkErrors.Add(1)
		return err
	}
	o.addBytes(int64(len(dst)))
	return nil
}

// Stream is the origin's Stream, counted as op "stream"; its bytes are
// added to the origin's egress as they are read.
func (o *originMeter) Stream(ctx context.Context, path string, m origin.Meta, header http.Header, off int64) (io.ReadCloser, error) {
	start := o.now()
	rc, err := o.inner.Stream(ctx, path, m, header, off)
	o.record(originStream, start, err)
	if err != nil {
		return nil, err
	}
	return &countingBody{rc: rc, m: o}, nil
}

// Fetch is the origin's Fetch, for relays, counted as op "relay"; its
// body's bytes are origin egress too (and, as sent, Stats.RelayedBytes).
func (o *originMeter) Fetch(ctx context.Context, req origin.Request) (*origin.Response, error) {
	start := o.now()
	resp, err := o.inner.Fetch(ctx, req)
	if err == nil {
		o.record(originRelay, start, serverFailure(resp.Status))
	} else {
		o.record(originRelay, start, err)
	}
	if err == nil {
		resp.Body = &countingBody{rc: resp.Body, m: o}
	}
	return resp, err
}

func (o *originMeter) addBytes(n int64) {
	o.chunkBytes.Add(n)
	if o.metrics != nil {
		o.metrics.originBytes.Add(float64(n))
	}
}

// countingBody adds what is read of an origin body to its egress.
type countingBody struct {
	rc io.ReadCloser
	m  *originMeter
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.m.addBytes(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return c.rc.Close() }

// CloseIdleConnections passes Node.Close's request on to the origin
// client, so that a stopped node holds none of the origin's sockets.
func (o *originMeter) CloseIdleConnections() {
	if c, ok := o.inner.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// retries is how many attempts the origin client made after a failed one.
func (o *originMeter) retries() int64 {
	if c, ok := o.inner.(interface{ Stats() origin.ClientStats }); ok {
		return c.Stats().Retries
	}
	return 0
}

// serverFailure is how an answer of status counts for the origin's health:
// a 5xx is the origin failing, though the edge relays it as an answer.
func serverFailure(status int) error {
	if status >= 500 {
		return &origin.StatusError{Code: status}
	}
	return nil
}

func (o *originMeter) record(op originOp, start time.Time, err error) {
	if o.metrics != nil {
		o.metrics.originRequest(op, o.now().Sub(start), err)
	}
	switch {
	case err == nil, errors.Is(err, origin.ErrNotFound), errors.Is(err, origin.ErrChanged):
		o.ok.Add(1)
		o.lastOK.Store(o.now().UnixNano())
		o.lastFailed.Store(false)
	case errors.Is(err, context.Canceled):
		// The edge gave up (a client left, the node stops): nothing
		// learned about the origin.
	default:
		o.failed.Add(1)
		o.mu.Lock()
		o.lastErr, o.lastErrAt = err.Error(), o.now()
		o.mu.Unlock()
		o.lastFailed.Store(true)
	}
}

// status returns the origin's URL (without credentials) and the last
// failure and answer; the caller fills in the counts.
func (o *originMeter) status(base string) OriginStatus {
	s := OriginStatus{URL: base, Failing: o.lastFailed.Load()}
	if u, err := url.Parse(base); err == nil {
		u.User = nil
		s.URL = u.String()
	}
	if ns := o.lastOK.Load(); ns != 0 {
		t := time.Unix(0, ns)
		s.LastSuccessAt = &t
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lastErr != "" {
		t := o.lastErrAt
		s.LastError, s.LastErrorAt = o.lastErr, &t
	}
	return s
}
