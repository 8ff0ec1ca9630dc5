package edge

import (
	"context"
	"errors"
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
	inner   engine.Origin
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

func newOriginMeter(inner engine.Origin, now func() time.Time) *originMeter {
	return &originMeter{inner: inner, now: now}
}

// Stat is the origin's Stat, counted as op "stat".
func (o *originMeter) Stat(ctx context.Context, path string) (origin.Meta, error) {
	start := o.now()
	m, err := o.inner.Stat(ctx, path)
	o.record(originStat, start, err)
	return m, err
}

// Revalidate is the origin's Revalidate, counted as op "revalidate".
func (o *originMeter) Revalidate(ctx context.Context, path string, old origin.Meta) (origin.Meta, bool, error) {
	start := o.now()
	m, changed, err := o.inner.Revalidate(ctx, path, old)
	o.record(originRevalidate, start, err)
	return m, changed, err
}

// ReadRange is the origin's ReadRange, counted as op "chunk", its bytes
// added to the origin's egress.
func (o *originMeter) ReadRange(ctx context.Context, path string, m origin.Meta, off int64, dst []byte) error {
	o.chunks.Add(1)
	start := o.now()
	err := o.inner.ReadRange(ctx, path, m, off, dst)
	o.record(originChunk, start, err)
	if err != nil {
		o.chunkErrors.Add(1)
		return err
	}
	o.chunkBytes.Add(int64(len(dst)))
	if o.metrics != nil {
		o.metrics.originBytes.Add(float64(len(dst)))
	}
	return nil
}

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
