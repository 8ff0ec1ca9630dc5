package origin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Config configures a Client. The zero value of every field but BaseURL
// means its default; NewClient applies the defaults and validates the result
// in one place (applyDefaults, then validate).
type Config struct {
	// BaseURL is the origin, http or https, optionally with a path prefix
	// that every requested path is appended to: http://127.0.0.1:9000 or
	// https://media.example.com/vod. Required; no query or fragment.
	BaseURL string

	// ConnectTimeout bounds a dial and a TLS handshake. Default 2s.
	ConnectTimeout time.Duration

	// Timeout bounds one attempt, from sending the request to the last
	// byte of the body. The default, 10s, is sized for a 1 MiB chunk (it
	// tolerates an origin as slow as ~100 KiB/s); a caller reading much
	// larger ranges must raise it. The caller's context bounds the whole
	// call, retries included.
	Timeout time.Duration

	// Retries is how many extra attempts a read may make after a transport
	// error, an attempt timeout or a 502/503/504 (and, once, after a bad
	// response, which a truncation in transit can cause). Default 2;
	// negative means no retries.
	Retries int

	// Backoff is the wait before the first retry, doubled before each
	// next one, with jitter (each wait is drawn from [d/2, d]) so that
	// edges retrying together do not hit the origin in step. Default 50ms;
	// negative means retry at once.
	Backoff time.Duration

	// MaxIdleConnsPerHost is how many keep-alive connections to the
	// origin stay open between requests. An edge fills many chunks at once;
	// too few here means a new TCP (and TLS) handshake per chunk.
	// Default 64.
	MaxIdleConnsPerHost int

	// UserAgent is sent with every request. Default "edgecache".
	UserAgent string

	// Transport, when set, carries every request instead of the
	// *http.Transport built from the fields above (ConnectTimeout and
	// MaxIdleConnsPerHost are then ignored). For tests, and for callers
	// who need their own TLS or proxy settings.
	Transport http.RoundTripper
}

// Defaults, named so that the documentation above can be checked against them.
const (
	defaultConnectTimeout      = 2 * time.Second
	defaultTimeout             = 10 * time.Second
	defaultRetries             = 2
	defaultBackoff             = 50 * time.Millisecond
	defaultMaxIdleConnsPerHost = 64
	defaultUserAgent           = "edgecache"
)

// applyDefaults replaces zero values by their defaults and normalizes the
// "negative means none" fields to zero.
func (c *Config) applyDefaults() {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	switch {
	case c.Retries == 0:
		c.Retries = defaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	switch {
	case c.Backoff == 0:
		c.Backoff = defaultBackoff
	case c.Backoff < 0:
		c.Backoff = 0
	}
	if c.MaxIdleConnsPerHost == 0 {
		c.MaxIdleConnsPerHost = defaultMaxIdleConnsPerHost
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
}

// validate checks a defaulted Config and returns the parsed BaseURL.
func (c *Config) validate() (*url.URL, error) {
	if c.BaseURL == "" {
		return nil, errors.New("origin: BaseURL is required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("origin: BaseURL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("origin: BaseURL %q: scheme must be http or https", c.BaseURL)
	case u.Host == "":
		return nil, fmt.Errorf("origin: BaseURL %q: no host", c.BaseURL)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("origin: BaseURL %q: no query or fragment allowed", c.BaseURL)
	case c.ConnectTimeout < 0 || c.Timeout < 0:
		return nil, errors.New("origin: ConnectTimeout and Timeout must not be negative")
	case c.MaxIdleConnsPerHost < 0:
		return nil, errors.New("origin: MaxIdleConnsPerHost must not be negative")
	}
	return u, nil
}

// transport builds the keep-alive transport used when Config.Transport is
// nil. Compression stays off: the edge needs the origin's bytes exactly,
// and ranges of a compressed body are not ranges of the object.
func (c *Config) transport() *http.Transport {
	d := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    c.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    c.ConnectTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: MaxResponseHeader,
	}
}

// MaxResponseHeader bounds an origin answer's header: more is a bad
// answer. net/http's own bound is 10 MiB, which an origin (or whatever
// answers in its place) could make every miss buffer; a CDN's is tens of
// kilobytes (Varnish's http_resp_size is 32 KiB).
const MaxResponseHeader = 64 << 10
