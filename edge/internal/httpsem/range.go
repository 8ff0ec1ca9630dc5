package httpsem

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
)

// Range is one satisfiable range of a representation, resolved against
// its length: bytes [Start, End).
type Range struct {
	Start, End int64
}

// Len is the number of bytes in the range.
func (r Range) Len() int64 { return r.End - r.Start }

// Errors of ParseRange. Each maps to one answer of the edge's client
// listener: the policy lives in one place.
var (
	// ErrRangeUnit: a unit other than "bytes"; RFC 9110 §14.2 says to
	// ignore the Range header and send the whole representation.
	ErrRangeUnit = errors.New("range unit is not bytes")
	// ErrRangeSyntax: the header is not a valid bytes ranges-specifier.
	// We refuse it with 416 and Content-Range: bytes */LEN, as net/http
	// does, rather than silently sending the whole object: a player that
	// sends garbage learns it at once instead of downloading gigabytes.
	ErrRangeSyntax = errors.New("malformed Range header")
	// ErrRangeUnsatisfiable: syntactically valid, but no range overlaps the
	// representation (RFC 9110 §15.5.17).
	ErrRangeUnsatisfiable = errors.New("range not satisfiable")
	// ErrRangeTooMany: more ranges than MaxRanges; refused with 416 so
	// that thousands of tiny ranges cannot amplify one request.
	ErrRangeTooMany = errors.New("too many ranges")
)

// ParseRange parses a Range header value (RFC 9110 §14.1.2) against a
// representation of the given size. A nil slice with a nil error means the
// header selects the whole representation: it was empty, or its ranges add up
// to more than the representation (the net/http rule, which keeps a client
// from turning overlapping ranges into amplification). buf is reused for the
// result so that the hit path does not allocate.
//
// Departures from net/http's parser, each deliberate (see rangeDepartures in
// the conformance test): a suffix of zero length and any range on an empty
// representation are unsatisfiable (RFC 9110 §14.1.1), not an empty 206; a
// last-pos or suffix-length too large for int64 is clamped to the end of the
// representation rather than refused, since the grammar allows any number of
// digits; the unit is matched case-insensitively; an unknown unit is ignored
// rather than refused.
func ParseRange(h []byte, size int64, maxRanges int, buf []Range) ([]Range, error) {
	h = trimOWS(h)
	if len(h) == 0 {
		return nil, nil
	}
	eq := bytes.IndexByte(h, '=')
	if eq < 0 {
		return nil, ErrRangeSyntax
	}
	if !EqualFoldASCII(trimOWS(h[:eq]), "bytes") {
		if !isToken(trimOWS(h[:eq])) {
			return nil, ErrRangeSyntax
		}
		return nil, ErrRangeUnit
	}
	set := h[eq+1:]
	ranges := buf[:0]
	var total int64
	specs := 0
	for len(set) > 0 {
		var spec []byte
		if i := bytes.IndexByte(set, ','); i >= 0 {
			spec, set = set[:i], set[i+1:]
		} else {
			spec, set = set, nil
		}
		spec = trimOWS(spec)
		if len(spec) == 0 {
			continue // RFC 9110 §5.6.1: empty list elements are ignored
		}
		specs++
		if specs > maxRanges {
			return nil, ErrRangeTooMany
		}
		r, ok, err := parseSpec(spec, size)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		ranges = append(ranges, r)
		total += r.Len()
	}
	if specs == 0 {
		return nil, ErrRangeSyntax
	}
	if len(ranges) == 0 {
		return nil, ErrRangeUnsatisfiable
	}
	if total > size {
		return nil, nil
	}
	return ranges, nil
}

// parseSpec parses one range-spec. ok is false for a valid spec that does
// not overlap the representation.
func parseSpec(spec []byte, size int64) (r Range, ok bool, err error) {
	dash := bytes.IndexByte(spec, '-')
	if dash < 0 {
		return r, false, ErrRangeSyntax
	}
	first, last := trimOWS(spec[:dash]), trimOWS(spec[dash+1:])
	if len(first) == 0 {
		// suffix-range: the last N bytes.
		n, valid := parseDigits(last)
		if !valid {
			return r, false, ErrRangeSyntax
		}
		if n == 0 || size == 0 {
			return r, false, nil
		}
		if n > size {
			n = size
		}
		return Range{Start: size - n, End: size}, true, nil
	}
	start, valid := parseDigits(first)
	if !valid {
		return r, false, ErrRangeSyntax
	}
	end := int64(math.MaxInt64)
	if len(last) > 0 {
		l, valid := parseDigits(last)
		if !valid || l < start {
			return r, false, ErrRangeSyntax
		}
		if l < math.MaxInt64 {
			end = l + 1
		}
	}
	if start >= size {
		return r, false, nil
	}
	if end > size {
		end = size
	}
	return Range{Start: start, End: end}, true, nil
}

// parseDigits parses 1*DIGIT. A value too large for int64 saturates at
// math.MaxInt64: it is still a valid position, past the end of anything.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	return n, true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// EqualFoldASCII reports whether b is s, ASCII letters compared without
// case; s must be lower case.
func EqualFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// isToken reports whether b is an RFC 9110 token (the grammar of a range
// unit).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Unsatisfiable is the Content-Range of a 416 for a representation of
// size bytes.
func Unsatisfiable(size int64) []byte {
	return strconv.AppendInt([]byte("bytes */"), size, 10)
}

// AppendContentRange appends the Content-Range of r in a representation of
// size bytes to dst.
func AppendContentRange(dst []byte, r Range, size int64) []byte {
	dst = append(dst, "bytes "...)
	dst = strconv.AppendInt(dst, r.Start, 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, r.End-1, 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, size, 10)
}
