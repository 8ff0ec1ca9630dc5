package httpcache

import (
	"strings"
	"time"
)

// Policy is the operator's part of the caching rules: what the edge does
// where RFC 9111 leaves the choice to the cache.
type Policy struct {
	// DefaultTTL is the heuristic freshness of a heuristically cacheable
	// 2xx or 3xx response with no explicit freshness and no Last-Modified
	// (RFC 9111 §4.2.2 allows any). 0: none; such a response is stored
	// only if it can be revalidated, and is revalidated on every use.
	DefaultTTL time.Duration
	// NegativeTTL is the same for 4xx and 5xx responses (404, 410...).
	NegativeTTL time.Duration
	// MaxHeuristic caps the freshness guessed from Last-Modified (10% of
	// its age, as RFC 9111 §4.2.2 suggests).
	MaxHeuristic time.Duration
	// ShareSetCookie lets responses that set cookies be stored and served
	// to everyone. Off, they pass: a cookie is usually meant for one user.
	ShareSetCookie bool
}

// Request is what the storing rules need to know of the request a response
// answers.
type Request struct {
	Directives    Directives // the request's Cache-Control
	Authorization bool       // it carried credentials (RFC 9111 §3.5)
}

// Decision is what a shared cache may do with one response.
type Decision struct {
	// Store is false when the response must not be kept; Reason says why.
	Store  bool
	Reason string
	// Freshness is how long the response is fresh and how old it is.
	Freshness Freshness
	// Vary lists the request fields, lower case and sorted, that select
	// this response among the variants of its URL.
	Vary []string
	// Shareable: the response may answer requests with credentials too
	// (public, s-maxage or must-revalidate, RFC 9111 §3.5).
	Shareable bool
	// ByRequest: Store is false because of the request (its credentials or
	// its no-store), not the response, so another request may store the
	// same response.
	ByRequest bool
}

// Freshness is a stored response's lifetime and age (RFC 9111 §4.2) and
// what may be done once it is stale, all known when it is stored, so
// that a hit only subtracts times.
type Freshness struct {
	Lifetime     time.Duration // freshness_lifetime
	InitialAge   time.Duration // corrected_initial_age
	ResponseTime time.Time     // when the response arrived
	// NoCache: the response may be stored but must be validated before
	// every use.
	NoCache bool
	// MustRevalidate: once stale it is never served without validation,
	// whatever the request allows (must-revalidate, proxy-revalidate,
	// s-maxage).
	MustRevalidate bool
	// StaleWhileRevalidate and StaleIfError are the windows past the
	// lifetime in which a stale response may be served while it is
	// revalidated, or when the origin fails (RFC 5861).
	StaleWhileRevalidate, StaleIfError time.Duration
}

// heuristicStatus are the status codes whose responses may be given
// heuristic freshness (RFC 9110 §15.1).
var heuristicStatus = map[int]bool{200: true, 203: true, 204: true, 206: true, 300: true, 301: true,
	308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// understood are the status codes this cache knows the semantics of, for
// must-understand (RFC 9111 §5.2.2.3): those RFC 9110 defines.
func understood(status int) bool {
	switch {
	case status >= 200 && status <= 206, status >= 300 && status <= 308 && status != 306,
		status >= 400 && status <= 417, status == 421, status == 422, status == 426,
		status >= 500 && status <= 505:
		return true
	}
	return false
}

// Evaluate decides whether a response to a GET may be stored and computes
// its freshness. h are the response's fields as received; requestTime and
// responseTime bracket the exchange that produced it (RFC 9111 §4.2.3).
func (p Policy) Evaluate(req Request, status int, h Fields, requestTime, responseTime time.Time) Decision {
	d := Decision{Freshness: Freshness{ResponseTime: responseTime,
		InitialAge: initialAge(h, requestTime, responseTime)}}
	vary, star := ParseVary(h.Values("Vary"))
	d.Vary = vary
	cc, targeted := effectiveDirectives(h)
	d.Shareable = cc.Public || cc.SMaxAge != Absent || cc.MustRevalidate
	why := p.refusal(req, status, h, cc, targeted, star)
	if why != "" {
		d.Reason = why
		d.ByRequest = why == reasonRequestNoStore || why == reasonCredentials
		return d
	}
	d.Store = true
	f := &d.Freshness
	f.Lifetime = p.lifetime(status, h, cc, targeted, responseTime)
	f.NoCache = cc.NoCache
	f.MustRevalidate = cc.MustRevalidate || cc.ProxyRevalidate || cc.SMaxAge != Absent
	if cc.StaleWhileRevalidate > 0 {
		f.StaleWhileRevalidate = seconds(cc.StaleWhileRevalidate)
	}
	if cc.StaleIfError > 0 {
		f.StaleIfError = seconds(cc.StaleIfError)
	}
	return d
}

// Reasons a response is not stored because of its request.
const (
	reasonRequestNoStore = "the request said no-store"
	reasonCredentials    = "a response to a request with credentials, not marked shareable"
)

// refusal says why a response must not be stored, or "".
func (p Policy) refusal(req Request, status int, h Fields, cc Directives, targeted, varyStar bool) string {
	switch {
	case status < 200 || status == 206 || status == 304:
		return "not a complete final response"
	case varyStar:
		return "Vary: *"
	case cc.NoStore && !(cc.MustUnderstand && understood(status)):
		return "no-store"
	case cc.Private:
		return "private"
	case req.Directives.NoStore:
		return reasonRequestNoStore
	case req.Authorization && !cc.Public && cc.SMaxAge == Absent && !cc.MustRevalidate:
		return reasonCredentials
	case !p.ShareSetCookie && h.Has("Set-Cookie"):
		return "it sets a cookie"
	}
	explicit := cc.MaxAge != Absent || cc.SMaxAge != Absent || cc.Public || (!targeted && h.Has("Expires"))
	if !explicit && !heuristicStatus[status] {
		return "no explicit freshness, and the status is not heuristically cacheable"
	}
	return ""
}

// effectiveDirectives returns the directives this cache obeys: those of
// the first targeted field that is a valid, non-empty Dictionary (RFC
// 9213; then Expires is ignored too), else Cache-Control's.
func effectiveDirectives(h Fields) (d Directives, targeted bool) {
	for _, name := range TargetedFields {
		if v := h.Values(name); len(v) > 0 {
			if d, ok := parseTargeted(v); ok {
				return d, true
			}
		}
	}
	return ParseCacheControl(h.Values("Cache-Control")), false
}

// lifetime is the freshness lifetime (RFC 9111 §4.2.1), for a shared
// cache: s-maxage, else max-age, else Expires minus Date, else heuristic.
func (p Policy) lifetime(status int, h Fields, cc Directives, targeted bool, responseTime time.Time) time.Duration {
	switch {
	case cc.SMaxAge != Absent:
		return seconds(cc.SMaxAge)
	case cc.MaxAge != Absent:
		return seconds(cc.MaxAge)
	case !targeted && h.Has("Expires"):
		exp := h.Values("Expires")
		t, ok := ParseDate(strings.TrimSpace(exp[0]))
		if len(exp) > 1 || !ok {
			return 0 // an invalid Expires means already expired (§5.3)
		}
		return max(t.Sub(dateOr(h, responseTime)), 0)
	}
	if !heuristicStatus[status] && !cc.Public {
		return 0
	}
	if lm, ok := ParseDate(strings.TrimSpace(h.Get("Last-Modified"))); ok {
		return min(max(dateOr(h, responseTime).Sub(lm)/10, 0), p.MaxHeuristic)
	}
	if status >= 400 {
		return p.NegativeTTL
	}
	return p.DefaultTTL
}

// dateOr returns the response's Date, or fallback when it has none that
// parses.
func dateOr(h Fields, fallback time.Time) time.Time {
	if t, ok := ParseDate(strings.TrimSpace(h.Get("Date"))); ok {
		return t
	}
	return fallback
}

// initialAge is corrected_initial_age (RFC 9111 §4.2.3): the larger of the
// age the Date shows and the Age the response carries plus the time it
// took to arrive.
func initialAge(h Fields, requestTime, responseTime time.Time) time.Duration {
	apparent := max(responseTime.Sub(dateOr(h, responseTime)), 0)
	corrected := seconds(ParseAge(h.Values("Age"))) + max(responseTime.Sub(requestTime), 0)
	return max(apparent, corrected)
}

// ParseAge returns the Age a response carries: the first member of its
// first line if that is delta-seconds, else 0 (an Age that does not parse
// is ignored).
func ParseAge(lines []string) int64 {
	if len(lines) == 0 {
		return 0
	}
	first, _, _ := strings.Cut(lines[0], ",")
	n, ok := parseDelta(strings.TrimSpace(first))
	if !ok {
		return 0
	}
	return n
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// Age is the response's current_age at now.
func (f *Freshness) Age(now time.Time) time.Duration {
	return f.InitialAge + max(now.Sub(f.ResponseTime), 0)
}

// Remaining is how long the response stays fresh from now; negative once
// it is stale.
func (f *Freshness) Remaining(now time.Time) time.Duration { return f.Lifetime - f.Age(now) }

// Use is what a cache may do with a stored response for one request.
type Use uint8

const (
	// Serve: the response is fresh enough for the request.
	Serve Use = iota
	// ServeStale: it is stale but within stale-while-revalidate: serve it
	// and revalidate in the background.
	ServeStale
	// Revalidate: ask the origin first (a conditional request).
	Revalidate
)

// Use decides how a request with directives req may use the response at
// now (RFC 9111 §4, §5.2.1; RFC 5861). pragmaNoCache is a request's
// "Pragma: no-cache" without a Cache-Control field.
func (f *Freshness) Use(now time.Time, req *Directives, pragmaNoCache bool) Use {
	if f.NoCache || req.NoCache || pragmaNoCache {
		return Revalidate
	}
	age := f.Age(now)
	left := f.Lifetime - age
	switch {
	case req.MaxAge != Absent && age > seconds(req.MaxAge):
		return Revalidate
	case req.MinFresh != Absent && left < seconds(req.MinFresh):
		return Revalidate
	case left > 0:
		return Serve
	case f.MustRevalidate:
		return Revalidate
	case req.MaxStaleAny, req.MaxStale != Absent && -left <= seconds(req.MaxStale):
		return Serve
	case f.StaleWhileRevalidate > 0 && -left <= f.StaleWhileRevalidate:
		return ServeStale
	}
	return Revalidate
}

// ServeOnError reports whether the stale response may be served at now
// because the origin failed to revalidate it (stale-if-error, from the
// response or the request; never with must-revalidate).
func (f *Freshness) ServeOnError(now time.Time, req *Directives) bool {
	if f.MustRevalidate || f.NoCache {
		return false
	}
	stale := -f.Remaining(now)
	window := f.StaleIfError
	if req.StaleIfError != Absent {
		window = max(window, seconds(req.StaleIfError))
	}
	return stale <= window
}
