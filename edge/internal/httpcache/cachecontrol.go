package httpcache

import "strings"

// Absent is the value of a directive's seconds when the directive is not
// there.
const Absent = -1

// MaxDelta is the largest delta-seconds value kept: RFC 9111 §1.2.2 says a
// larger one is to be taken as 2^31.
const MaxDelta = 1 << 31

// Directives are the cache directives of one message, from Cache-Control
// or from a targeted field such as CDN-Cache-Control (RFC 9213), which
// shares its syntax. Durations are seconds, Absent when the directive is
// missing; an invalid value of max-age or s-maxage counts as 0, which
// makes the response stale, as RFC 9111 §4.2.1 asks of a cache that cannot
// trust a lifetime. When a directive appears twice the first one counts.
type Directives struct {
	MaxAge, SMaxAge      int64
	MaxStale             int64 // request: how stale a response may be; MaxStaleAny without a value
	MinFresh             int64 // request: freshness still required
	StaleWhileRevalidate int64 // response (RFC 5861)
	StaleIfError         int64 // response or request (RFC 5861)
	NoCache              bool  // qualified or not: the edge revalidates the whole response
	NoStore              bool
	Private              bool // qualified or not: a shared cache stores none of it
	Public               bool
	MustRevalidate       bool
	ProxyRevalidate      bool
	MustUnderstand       bool
	OnlyIfCached         bool
	MaxStaleAny          bool
	NoTransform          bool
	Immutable            bool
	seen                 uint32 // which directives were set, so that the first wins
	present              bool   // any directive at all
}

// Present reports whether the field held at least one directive.
func (d *Directives) Present() bool { return d.present }

// directive bits, for first-wins.
const (
	bMaxAge = 1 << iota
	bSMaxAge
	bMaxStale
	bMinFresh
	bSWR
	bSIE
)

// ParseCacheControl parses every line of a Cache-Control (or targeted)
// field as one list (RFC 9110 §5.3: lines combine with commas). Unknown
// directives are ignored; quoted strings are honoured, so a "max-age=1"
// inside an extension's quoted value is not a directive.
func ParseCacheControl(lines []string) Directives {
	d := Directives{MaxAge: Absent, SMaxAge: Absent, MaxStale: Absent, MinFresh: Absent,
		StaleWhileRevalidate: Absent, StaleIfError: Absent}
	for _, line := range lines {
		forEachDirective(line, d.set)
	}
	return d
}

// set applies one directive; value is unquoted, hasValue tells
// "max-stale" from "max-stale=".
func (d *Directives) set(name, value string, hasValue, valid bool) {
	d.present = true
	switch strings.ToLower(name) {
	case "max-age":
		d.seconds(bMaxAge, &d.MaxAge, value, valid, 0)
	case "s-maxage":
		d.seconds(bSMaxAge, &d.SMaxAge, value, valid, 0)
	case "max-stale":
		if !hasValue {
			d.MaxStaleAny = true
			return
		}
		d.seconds(bMaxStale, &d.MaxStale, value, valid, Absent)
	case "min-fresh":
		d.seconds(bMinFresh, &d.MinFresh, value, valid, Absent)
	case "stale-while-revalidate":
		d.seconds(bSWR, &d.StaleWhileRevalidate, value, valid, Absent)
	case "stale-if-error":
		d.seconds(bSIE, &d.StaleIfError, value, valid, Absent)
	case "no-cache":
		d.NoCache = true
	case "no-store":
		d.NoStore = true
	case "private":
		d.Private = true
	case "public":
		d.Public = true
	case "must-revalidate":
		d.MustRevalidate = true
	case "proxy-revalidate":
		d.ProxyRevalidate = true
	case "must-understand":
		d.MustUnderstand = true
	case "only-if-cached":
		d.OnlyIfCached = true
	case "no-transform":
		d.NoTransform = true
	case "immutable":
		d.Immutable = true
	}
}

// seconds sets *dst from a delta-seconds value unless an earlier
// occurrence did; an invalid value sets onInvalid.
func (d *Directives) seconds(bit uint32, dst *int64, value string, valid bool, onInvalid int64) {
	if d.seen&bit != 0 {
		return
	}
	d.seen |= bit
	n, ok := parseDelta(value)
	if !ok || !valid {
		*dst = onInvalid
		return
	}
	*dst = n
}

// parseDelta parses delta-seconds (RFC 9111 §1.2.2): one or more digits,
// saturating at MaxDelta.
func parseDelta(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < MaxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, MaxDelta), true
}

// forEachDirective splits one line of a directive list and calls f for
// each member: its name, its value (unquoted), whether it had "=", and
// whether it was well formed (a name token, "=" with no space around it,
// and a token or a double-quoted string). Empty members are skipped, as
// RFC 9110 §5.6.1 asks of a recipient.
func forEachDirective(line string, f func(name, value string, hasValue, valid bool)) {
	for i := 0; i < len(line); {
		i = skipOWS(line, i)
		if i < len(line) && line[i] == ',' {
			i++
			continue
		}
		if i >= len(line) {
			return
		}
		start := i
		for i < len(line) && isTokenChar(line[i]) {
			i++
		}
		name := line[start:i]
		valid := name != ""
		if j := skipOWS(line, i); j != i && j < len(line) && line[j] == '=' {
			valid, i = false, j // "max-age =60": not a well-formed directive
		}
		value, hasValue := "", false
		if i < len(line) && line[i] == '=' {
			hasValue = true
			i++
			var ok bool
			value, i, ok = parseValue(line, i)
			valid = valid && ok
		}
		// Anything else before the next comma makes the member malformed.
		if j := skipOWS(line, i); j < len(line) && line[j] != ',' {
			valid, i = false, skipMember(line, j)
		}
		if name != "" {
			f(name, value, hasValue, valid)
		}
	}
}

// skipMember returns the index of the comma that ends the member at
// line[i:], or len(line), stepping over quoted strings.
func skipMember(line string, i int) int {
	for i < len(line) && line[i] != ',' {
		if line[i] == '"' {
			_, i, _ = parseQuoted(line, i)
			continue
		}
		i++
	}
	return i
}

// parseValue reads a token or a quoted string at line[i:].
func parseValue(line string, i int) (value string, next int, ok bool) {
	if i < len(line) && line[i] == '"' {
		return parseQuoted(line, i)
	}
	start := i
	for i < len(line) && isTokenChar(line[i]) {
		i++
	}
	return line[start:i], i, i > start
}

// parseQuoted reads a quoted-string starting at line[i] == '"' and returns
// its unescaped content; ok is false if it does not end.
func parseQuoted(line string, i int) (value string, next int, ok bool) {
	var b strings.Builder
	for i++; i < len(line); i++ {
		switch c := line[i]; c {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			if i+1 < len(line) {
				i++
				b.WriteByte(line[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), i, false
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// IsToken reports whether s is a token (RFC 9110 §5.6.2), the form of a
// method, a directive's name and a field's name.
func IsToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// isTokenChar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// TargetedFields are the response fields that carry cache directives for
// this cache only, most specific first (RFC 9213 §2.1): when one of them
// holds a valid value, Cache-Control and Expires are ignored.
var TargetedFields = []string{"Edgecache-Cache-Control", "CDN-Cache-Control"}
