package origin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one request for the origin, made from a client's by the
// edge: the method, the target and the end-to-end fields as the edge
// decided to send them.
type Request struct {
	// Method is any request method; "" means GET.
	Method string
	// Path is the target, in the form every call takes (see
	// Client.target): absolute, escaped, optionally "?query".
	Path string
	// Header holds the fields to send, as they are: the client adds only
	// Host, the framing of Body, and User-Agent when Header has none.
	Header http.Header
	// Body is the request's content, streamed to the origin; nil: none.
	// A request with a body is never retried.
	Body io.Reader
	// ContentLength is Body's length; -1: unknown, sent chunked.
	ContentLength int64
}

// Response is the origin's answer to a Request, with its body still to
// read.
type Response struct {
	Status int
	Header http.Header
	// ContentLength is what the origin announced, -1 when it did not (a
	// chunked or close-delimited body). net/http enforces it: a body that
	// ends early reads as an error.
	ContentLength int64
	// Body must be closed. Reads are counted in the client's Stats, and
	// each must make progress within the client's Timeout: a stalled
	// origin fails the read instead of holding the caller forever.
	Body io.ReadCloser
}

// Fetch sends req and returns the origin's answer whatever its status:
// redirects are not followed and error statuses are answers, for the
// caller to relay or store. An error means there is no answer: the origin
// could not be reached, timed out before its response header (the
// client's Timeout), or the caller gave up. A request without a body is
// retried on such errors, as every read is.
func (c *Client) Fetch(ctx context.Context, req Request) (*Response, error) {
	target, err := c.target(req.Path)
	if err != nil {
		return nil, c.fail(err, "fetch %s", req.Path)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	var resp *Response
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.wait(ctx, attempt); err != nil {
				return nil, c.fail(err, "%s %s", method, req.Path)
			}
			c.stats.retries.Add(1)
		}
		resp, err = c.fetchOnce(ctx, method, target, req)
		if err == nil || req.Body != nil || attempt >= c.cfg.Retries || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, c.fail(err, "%s %s", method, req.Path)
	}
	return resp, nil
}

// fetchOnce sends one attempt. The response header must arrive within the
// client's Timeout; the body then lives as long as the caller reads it.
func (c *Client) fetchOnce(ctx context.Context, method, target string, req Request) (*Response, error) {
	actx, cancel := context.WithCancel(ctx)
	hr, err := http.NewRequestWithContext(actx, method, target, req.Body)
	if err != nil {
		cancel()
		return nil, badResponse("request: %v", err) // c.target built a valid URL: a bad method
	}
	hr.Header = req.Header.Clone()
	if hr.Header == nil {
		hr.Header = http.Header{}
	}
	if _, ok := hr.Header["User-Agent"]; !ok {
		hr.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	if req.Body != nil {
		hr.ContentLength = req.ContentLength
		if hr.ContentLength == 0 {
			hr.Body = http.NoBody
		}
	}
	wd := newWatchdog(c.cfg.Timeout, cancel)
	c.stats.requests.Add(1)
	hresp, err := c.hc.Do(hr)
	if err != nil {
		wd.stop()
		cancel()
		return nil, classify(ctx, wd.explain(err))
	}
	wd.stop()
	body := &watchedBody{rc: &countingBody{rc: hresp.Body, n: &c.stats.bytes}, wd: wd, cancel: cancel}
	return &Response{Status: hresp.StatusCode, Header: hresp.Header, ContentLength: hresp.ContentLength, Body: body}, nil
}

// watchdog cancels a request that makes no progress for a period: first
// the wait for the response header, then each read of the body. Time the
// caller spends between reads does not count: a player reading slowly
// through the edge must not make the origin request fail.
type watchdog struct {
	mu     sync.Mutex
	t      *time.Timer
	period time.Duration
	fired  atomic.Bool
}

func newWatchdog(period time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{period: period}
	w.t = time.AfterFunc(period, func() {
		w.fired.Store(true)
		cancel()
	})
	return w
}

// explain turns the error of a request the watchdog cancelled into a
// timeout.
func (w *watchdog) explain(err error) error {
	if err != nil && w.fired.Load() {
		return fmt.Errorf("%w: no progress in %v: %w", ErrTimeout, w.period, err)
	}
	return err
}

func (w *watchdog) reset() {
	w.mu.Lock()
	w.t.Reset(w.period)
	w.mu.Unlock()
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.t.Stop()
	w.mu.Unlock()
}

// watchedBody is a response body whose reads the watchdog times, and
// whose Close ends the request.
type watchedBody struct {
	rc     io.ReadCloser
	wd     *watchdog
	cancel context.CancelFunc
	once   sync.Once
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.wd.reset()
	n, err := b.rc.Read(p)
	b.wd.stop()
	return n, b.wd.explain(err)
}

func (b *watchedBody) Close() error {
	err := b.rc.Close()
	b.once.Do(func() {
		b.wd.stop()
		b.cancel()
	})
	return err
}
