package origin

import (
	"errors"
	"strings"
)

// contentRange is a parsed Content-Range header (RFC 9110 14.4).
// A satisfied range has 0 <= First <= Last and, when Total is known,
// Last < Total. An unsatisfied range ("bytes */N") has First = Last = -1.
// Total is -1 when the origin sent "*".
type contentRange struct {
	First, Last, Total int64
}

var errContentRange = errors.New("malformed Content-Range")

// parseContentRange parses a Content-Range header strictly: the unit must be
// bytes, numbers are plain decimal digits (no sign, no space, no overflow),
// and the range must be consistent with the total. Anything looser would let
// a confused origin slide misplaced bytes into a chunk.
func parseContentRange(s string) (contentRange, error) {
	unit, rest, ok := strings.Cut(s, " ")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return contentRange{}, errContentRange
	}
	rng, total, ok := strings.Cut(rest, "/")
	if !ok {
		return contentRange{}, errContentRange
	}
	cr := contentRange{First: -1, Last: -1, Total: -1}
	if total != "*" {
		n, ok := parseDigits(total)
		if !ok {
			return contentRange{}, errContentRange
		}
		cr.Total = n
	}
	if rng == "*" {
		// Unsatisfied-range form, only meaningful with a known total.
		if cr.Total < 0 {
			return contentRange{}, errContentRange
		}
		return cr, nil
	}
	first, last, ok := strings.Cut(rng, "-")
	if !ok {
		return contentRange{}, errContentRange
	}
	var ok1, ok2 bool
	cr.First, ok1 = parseDigits(first)
	cr.Last, ok2 = parseDigits(last)
	if !ok1 || !ok2 || cr.First > cr.Last || (cr.Total >= 0 && cr.Last >= cr.Total) {
		return contentRange{}, errContentRange
	}
	return cr, nil
}

// parseDigits parses a non-empty run of ASCII digits that fits in an int64.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
