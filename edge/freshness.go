package edge

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cachePolicy is what an origin's Cache-Control and Expires headers allow a
// shared cache to do with a response (RFC 9111).
type cachePolicy struct {
	// noStore: stream the bytes, never keep them (no-store, private).
	noStore bool
	// ttl is how long the response stays fresh from the time it was
	// fetched; 0 means it must be revalidated before every use (no-cache).
	ttl time.Duration
	// staleIfError is how long past ttl a stale copy may be served when
	// the origin fails (RFC 5861).
	staleIfError time.Duration
}

// maxHeuristicTTL caps the freshness guessed from Last-Modified when the
// origin gives none, as RFC 9111 §4.2.2 suggests (10% of the age, bounded).
const maxHeuristicTTL = 24 * time.Hour

// policyFor derives the cache policy of a response. defaultTTL applies
// when the origin says nothing about freshness and gives no Last-Modified.
func policyFor(cacheControl, expires string, date, lastModified, now time.Time, defaultTTL time.Duration) cachePolicy {
	var p cachePolicy
	maxAge, sMaxAge := -1, -1
	noCache := false
	for d := range strings.SplitSeq(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "no-store", "private":
			p.noStore = true
		case "no-cache":
			noCache = true
		case "max-age":
			maxAge = parseSeconds(value)
		case "s-maxage":
			sMaxAge = parseSeconds(value)
		case "stale-if-error":
			if s := parseSeconds(value); s > 0 {
				p.staleIfError = time.Duration(s) * time.Second
			}
		}
	}
	switch {
	case noCache:
		p.ttl = 0
	case sMaxAge >= 0:
		p.ttl = time.Duration(sMaxAge) * time.Second
	case maxAge >= 0:
		p.ttl = time.Duration(maxAge) * time.Second
	case expires != "":
		exp, err := http.ParseTime(expires)
		if err != nil {
			p.ttl = 0 // an invalid Expires means already expired (RFC 9111 §5.3)
			break
		}
		base := date
		if base.IsZero() {
			base = now
		}
		if d := exp.Sub(base); d > 0 {
			p.ttl = d
		}
	case !lastModified.IsZero():
		base := date
		if base.IsZero() {
			base = now
		}
		p.ttl = min(base.Sub(lastModified)/10, maxHeuristicTTL)
		if p.ttl < 0 {
			p.ttl = 0
		}
	default:
		p.ttl = defaultTTL
	}
	return p
}

// parseSeconds parses a delta-seconds value, saturating large values at
// about 68 years as RFC 9111 §1.2.2 allows; -1 if invalid.
func parseSeconds(v string) int {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && !strings.HasPrefix(v, "-") {
			return 1<<31 - 1
		}
		return -1
	}
	if n < 0 {
		return -1
	}
	return int(min(n, 1<<31-1))
}
