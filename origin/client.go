package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Client reads objects from one origin. It is safe for concurrent use and
// keeps connections alive between requests; create one per origin and share
// it.
type Client struct {
	cfg   Config
	base  *url.URL
	hc    *http.Client
	stats clientCounters
}

// ClientStats are the client's counters since it was created.
type ClientStats struct {
	Requests int64 // HTTP requests sent, retries and fallbacks included
	Bytes    int64 // response body bytes read from the origin
	Errors   int64 // calls (Stat, Revalidate, ReadRange) that returned an error
	Retries  int64 // attempts made after a failed one
}

type clientCounters struct {
	requests, bytes, errors, retries atomic.Int64
}

// maxBackoff caps the doubling backoff (unless Config.Backoff is larger),
// so that a large Retries does not turn into minutes of waiting.
const maxBackoff = 2 * time.Second

// drainLimit is the most body the client reads and discards to keep a
// connection alive. A longer unread body costs less to drop with its
// connection than to download.
const drainLimit = 64 << 10

// NewClient returns a client for the origin cfg describes, or an error if
// cfg is invalid.
func NewClient(cfg Config) (*Client, error) {
	cfg.applyDefaults()
	base, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	rt := cfg.Transport
	if rt == nil {
		rt = cfg.transport()
	}
	// Redirects are answers to relay or store, never to follow: following
	// one would cache the target's answer under the original URL.
	hc := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Client{cfg: cfg, base: base, hc: hc}, nil
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Requests: c.stats.requests.Load(),
		Bytes:    c.stats.bytes.Load(),
		Errors:   c.stats.errors.Load(),
		Retries:  c.stats.retries.Load(),
	}
}

// CloseIdleConnections closes the keep-alive connections the client holds,
// for a clean shutdown. In-flight requests are not affected.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// fail counts a failed call and adds its context to err.
func (c *Client) fail(err error, format string, args ...any) error {
	c.stats.errors.Add(1)
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// target returns the URL of path at the origin. path is absolute and
// already cleaned by the caller, in its escaped form (as in a request line),
// optionally followed by "?query": percent-escapes in it are kept as they
// are, so that "/c%2Fd" stays one segment, and bytes that may not appear in
// a path (a space, say) are escaped. The base URL's path prefix comes first.
func (c *Client) target(path string) (string, error) {
	p, query, _ := strings.Cut(path, "?")
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("origin: path %q is not absolute", path)
	}
	decoded, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("origin: path %q: %w", path, err)
	}
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/") + decoded
	u.RawPath = strings.TrimSuffix(c.base.EscapedPath(), "/") + escapePath(p)
	u.RawQuery = query
	return u.String(), nil
}

// escapePath percent-encodes the bytes of an escaped path that RFC 3986
// does not allow in one, keeping existing escapes (already validated by
// url.PathUnescape) untouched.
func escapePath(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		ch := p[i]
		if pathByteOK(ch) {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
	return b.String()
}

// pathByteOK reports whether ch may appear unescaped in a path: pchar,
// "/", and "%" (which starts an escape the caller already checked).
func pathByteOK(ch byte) bool {
	switch {
	case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/%", ch) >= 0
}

// do runs one logical request with retries. setHeader adds the request's
// own headers; handle checks the response and reads what it needs of the
// body, within the attempt's timeout. The returned error is classified (see
// classify) but carries no call context yet.
func (c *Client) do(ctx context.Context, method, target string, setHeader func(http.Header), handle func(*http.Response) error) error {
	badRetried := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.wait(ctx, attempt); err != nil {
				return err
			}
			c.stats.retries.Add(1)
		}
		err := c.attempt(ctx, method, target, setHeader, handle)
		if err != nil && ctx.Err() != nil {
			// The caller gave up: that, not whatever the origin answered
			// meanwhile, is why this call failed.
			return classify(ctx, ctx.Err())
		}
		last := err == nil || attempt >= c.cfg.Retries || !retryable(err)
		if !last && errors.Is(err, ErrBadResponse) {
			// A truncated body can be a glitch in transit; the same bad
			// answer twice is the origin's, and more tries only add load.
			last, badRetried = badRetried, true
		}
		if !last {
			continue
		}
		if err != nil && attempt > 0 {
			return fmt.Errorf("%w (attempt %d)", err, attempt+1)
		}
		return err
	}
}

// wait sleeps before retry number attempt, or returns early with the
// caller's context error.
func (c *Client) wait(ctx context.Context, attempt int) error {
	d, limit := c.cfg.Backoff, max(c.cfg.Backoff, maxBackoff)
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return classify(ctx, ctx.Err())
	}
}

// attempt sends one request and hands the response to handle, then drains
// and closes the body so that the connection can be reused.
func (c *Client) attempt(ctx context.Context, method, target string, setHeader func(http.Header), handle func(*http.Response) error) error {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, method, target, nil)
	if err != nil {
		return fmt.Errorf("origin: %w", err) // not expected: c.target built a valid URL
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	// Identity only: ranges of a coded body are not ranges of the object.
	req.Header.Set("Accept-Encoding", "identity")
	if setHeader != nil {
		setHeader(req.Header)
	}
	c.stats.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return classify(ctx, err)
	}
	body := &countingBody{rc: resp.Body, n: &c.stats.bytes}
	resp.Body = body
	err = handle(resp)
	body.finish(resp.ContentLength)
	return classify(ctx, err)
}

// countingBody counts the body bytes read into the client's stats and
// remembers whether the body reached its end.
type countingBody struct {
	rc  io.ReadCloser
	n   *atomic.Int64
	eof bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// finish drains what is left of a body of known, small length, so that
// the connection returns to the idle pool, then closes it. A body of
// unknown or large length is closed unread, which drops the connection:
// cheaper than downloading it, and never a wait on a stalled origin.
func (b *countingBody) finish(contentLength int64) {
	if !b.eof && contentLength >= 0 && contentLength <= drainLimit {
		_, _ = io.Copy(io.Discard, io.LimitReader(b, drainLimit))
	}
	_ = b.Close()
}
