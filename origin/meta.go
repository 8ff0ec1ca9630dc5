package origin

import (
	"net/http"
	"strings"
	"time"
)

// Meta describes one version of an object at the origin: what the edge needs
// to name the version, slice it into chunks and answer HEAD and conditional
// requests without asking the origin again.
type Meta struct {
	Size               int64     // bytes in the object
	ETag               string    // as sent, quotes and W/ included; "" if none
	LastModified       time.Time // zero if none or unparsable
	ContentType        string    // as sent; "" if none
	CacheControl       string    // raw header: the edge computes freshness itself
	Expires            string    // raw header, for the same reason
	Date               time.Time // the origin's Date; zero if none or unparsable
	ContentDisposition string    // as sent; "" if none
	AcceptRanges       bool      // the origin said Accept-Ranges: bytes or answered a range with 206 (informational)
}

// SameVersion reports whether m and o describe the same version of an
// object: equal sizes and, when either has an ETag, equal ETags, otherwise
// equal Last-Modified times. Two Metas without any validator are the same
// version only if their sizes match, which is the best the origin allows.
func (m Meta) SameVersion(o Meta) bool {
	if m.Size != o.Size {
		return false
	}
	if m.ETag != "" || o.ETag != "" {
		return m.ETag == o.ETag
	}
	return m.LastModified.Equal(o.LastModified)
}

// metaFromHeader reads a Meta from response headers; the caller sets Size,
// which depends on the status.
func metaFromHeader(h http.Header) Meta {
	return Meta{
		ETag:               h.Get("ETag"),
		LastModified:       parseHTTPTime(h.Get("Last-Modified")),
		ContentType:        h.Get("Content-Type"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		Date:               parseHTTPTime(h.Get("Date")),
		ContentDisposition: h.Get("Content-Disposition"),
		AcceptRanges:       hasToken(h.Values("Accept-Ranges"), "bytes"),
	}
}

// refresh applies the headers of a 304 to a stored Meta, as RFC 9111 4.3.4
// asks: fields the 304 carries replace the stored ones. Date is always
// replaced (zero when the 304 has none) so that the edge computes the age
// from this response and not from the one it revalidated.
func (m Meta) refresh(h http.Header) Meta {
	if v := h.Values("Cache-Control"); len(v) > 0 {
		m.CacheControl = strings.Join(v, ", ")
	}
	if v := h.Get("Expires"); v != "" {
		m.Expires = v
	}
	m.Date = parseHTTPTime(h.Get("Date"))
	return m
}

// parseHTTPTime parses an HTTP date in any of the three formats RFC 9110
// allows, or returns the zero time.
func parseHTTPTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// hasToken reports whether a comma-separated header list holds token,
// ignoring case and surrounding space.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// isStrongETag reports whether an ETag is a well-formed strong validator,
// the only kind RFC 9110 allows in If-Range.
func isStrongETag(etag string) bool {
	return len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' &&
		!strings.ContainsAny(etag[1:len(etag)-1], "\"")
}

// validatorsMatch checks the validators of a response against the version
// the caller described. A validator is compared only when both sides have
// it: an origin may omit one on HEAD and send it on GET, and the
// Content-Range total still guards the size.
func validatorsMatch(m Meta, h http.Header) error {
	if etag := h.Get("ETag"); etag != "" && m.ETag != "" && etag != m.ETag {
		return changed("ETag %s, want %s", etag, m.ETag)
	}
	if lm := parseHTTPTime(h.Get("Last-Modified")); !lm.IsZero() && !m.LastModified.IsZero() &&
		!lm.Equal(m.LastModified) {
		return changed("Last-Modified %s, want %s",
			lm.UTC().Format(http.TimeFormat), m.LastModified.UTC().Format(http.TimeFormat))
	}
	return nil
}

// checkEncoding refuses a response whose body is content-coded: the client
// asks for identity, and a coded body's bytes and ranges are not the
// object's.
func checkEncoding(h http.Header) error {
	for _, v := range h.Values("Content-Encoding") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" && !strings.EqualFold(f, "identity") {
				return badResponse("Content-Encoding %q", f)
			}
		}
	}
	return nil
}
