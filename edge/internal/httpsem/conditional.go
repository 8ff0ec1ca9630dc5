package httpsem

import (
	"net/http"
	"time"
)

// Conditional requests, RFC 9110 §13.2.2, evaluated in the order the RFC
// gives and net/http's ServeContent follows, so that an edge answers exactly
// as the origin would for the same validators.

type condResult int

const (
	condNone condResult = iota
	condTrue
	condFalse
)

// Conds holds the conditional headers of one request. Values may alias
// the request's header buffer and are valid only while it is being served.
type Conds struct {
	IfMatch, IfNoneMatch, IfModifiedSince, IfUnmodifiedSince, IfRange []byte
}

// Any reports whether the request is conditional at all.
func (c *Conds) Any() bool {
	return len(c.IfMatch)+len(c.IfNoneMatch)+len(c.IfModifiedSince)+len(c.IfUnmodifiedSince)+len(c.IfRange) > 0
}

// Evaluate returns the status that ends the request early (304 or 412), or
// 0 to go on; useRange is false when If-Range says the client's copy is
// stale, so the whole representation must be sent.
func (c *Conds) Evaluate(etag string, modTime time.Time) (status int, useRange bool) {
	ch := checkIfMatch(c.IfMatch, etag)
	if ch == condNone {
		ch = checkIfUnmodifiedSince(c.IfUnmodifiedSince, modTime)
	}
	if ch == condFalse {
		return http.StatusPreconditionFailed, false
	}
	switch checkIfNoneMatch(c.IfNoneMatch, etag) {
	case condFalse:
		return http.StatusNotModified, false
	case condNone:
		if checkIfModifiedSince(c.IfModifiedSince, modTime) == condFalse {
			return http.StatusNotModified, false
		}
	}
	return 0, checkIfRange(c.IfRange, etag, modTime) != condFalse
}

// scanETag splits the first entity-tag off a list (RFC 9110 §8.8.3).
func scanETag(s []byte) (etag, rest []byte) {
	s = trimOWS(s)
	start := 0
	if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
		start = 2
	}
	if len(s[start:]) < 2 || s[start] != '"' {
		return nil, nil
	}
	for i := start + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x21 || c >= 0x23 && c <= 0x7E || c >= 0x80:
		case c == '"':
			return s[:i+1], s[i+1:]
		default:
			return nil, nil
		}
	}
	return nil, nil
}

func etagStrongMatch(a []byte, b string) bool {
	return len(a) > 0 && a[0] == '"' && string(a) == b
}

func etagWeakMatch(a []byte, b string) bool {
	if len(a) >= 2 && a[0] == 'W' && a[1] == '/' {
		a = a[2:]
	}
	if len(b) >= 2 && b[0] == 'W' && b[1] == '/' {
		b = b[2:]
	}
	return string(a) == b
}

// matchList walks an If-Match / If-None-Match list. It returns whether any
// tag matched and whether "*" was seen; a malformed list matches nothing.
func matchList(h []byte, etag string, match func([]byte, string) bool) (matched, star bool) {
	for {
		h = trimOWS(h)
		if len(h) == 0 {
			return false, false
		}
		if h[0] == ',' {
			h = h[1:]
			continue
		}
		if h[0] == '*' {
			return false, true
		}
		tag, rest := scanETag(h)
		if tag == nil {
			return false, false
		}
		if match(tag, etag) {
			return true, false
		}
		h = rest
	}
}

func checkIfMatch(h []byte, etag string) condResult {
	if len(h) == 0 {
		return condNone
	}
	matched, star := matchList(h, etag, etagStrongMatch)
	if matched || star {
		return condTrue
	}
	return condFalse
}

func checkIfNoneMatch(h []byte, etag string) condResult {
	if len(h) == 0 {
		return condNone
	}
	matched, star := matchList(h, etag, func(a []byte, b string) bool { return b != "" && etagWeakMatch(a, b) })
	if matched || star {
		return condFalse
	}
	return condTrue
}

func parseHTTPDate(h []byte) (time.Time, bool) {
	t, err := http.ParseTime(string(h))
	return t, err == nil
}

// notModifiedSince evaluates an HTTP-date precondition against modTime:
// ok is false when it does not apply (no header, no Last-Modified, or a
// date that does not parse), else unmodified says whether modTime is at
// or before the date, to the second.
func notModifiedSince(h []byte, modTime time.Time) (unmodified, ok bool) {
	if len(h) == 0 || modTime.IsZero() {
		return false, false
	}
	t, ok := parseHTTPDate(h)
	if !ok {
		return false, false
	}
	return modTime.Truncate(time.Second).Compare(t) <= 0, true
}

func checkIfUnmodifiedSince(h []byte, modTime time.Time) condResult {
	unmodified, ok := notModifiedSince(h, modTime)
	switch {
	case !ok:
		return condNone
	case unmodified:
		return condTrue
	}
	return condFalse
}

func checkIfModifiedSince(h []byte, modTime time.Time) condResult {
	unmodified, ok := notModifiedSince(h, modTime)
	switch {
	case !ok:
		return condNone
	case unmodified:
		return condFalse
	}
	return condTrue
}

// checkIfRange: an entity-tag must match strongly; a date must equal the
// Last-Modified to the second (RFC 9110 §13.1.5).
func checkIfRange(h []byte, etag string, modTime time.Time) condResult {
	if len(h) == 0 {
		return condNone
	}
	if tag, _ := scanETag(h); tag != nil {
		if etagStrongMatch(tag, etag) {
			return condTrue
		}
		return condFalse
	}
	if modTime.IsZero() {
		return condFalse
	}
	t, ok := parseHTTPDate(h)
	if !ok || t.Unix() != modTime.Unix() {
		return condFalse
	}
	return condTrue
}
