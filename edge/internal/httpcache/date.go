package httpcache

import (
	"net/http"
	"strings"
	"time"
)

// ParseDate parses an HTTP-date (RFC 9110 §5.6.7) in any of its three
// forms: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the obsolete RFC
// 850 form ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6
// 08:49:37 1994"). Its structure is checked strictly — fixed widths, the
// GMT zone, no missing comma — because an Expires that does not parse
// means "already expired", and a lax parser would call it fresh; the case
// of names is forgiven, as a date in the wrong case is unambiguous.
func ParseDate(s string) (time.Time, bool) {
	comma := strings.IndexByte(s, ',')
	switch {
	case comma == 3:
		return parseIMF(s)
	case comma > 3:
		return parseRFC850(s, comma)
	case comma < 0 && len(s) == 24:
		return parseASCTime(s)
	}
	return time.Time{}, false
}

// parseIMF parses "Sun, 06 Nov 1994 08:49:37 GMT".
func parseIMF(s string) (time.Time, bool) {
	if len(s) != 29 || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25] != ' ' ||
		!strings.EqualFold(s[26:], "GMT") || dayIndex(s[:3], shortDays) < 0 {
		return time.Time{}, false
	}
	day, ok1 := digits(s[5:7])
	mon := monthOf(s[8:11])
	year, ok2 := digits(s[12:16])
	if !ok1 || !ok2 || mon == 0 {
		return time.Time{}, false
	}
	return clock(year, mon, day, s[17:25])
}

// parseRFC850 parses "Sunday, 06-Nov-94 08:49:37 GMT".
func parseRFC850(s string, comma int) (time.Time, bool) {
	if dayIndex(s[:comma], longDays) < 0 {
		return time.Time{}, false
	}
	r := s[comma+1:]
	if len(r) != 23 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' || r[19] != ' ' ||
		!strings.EqualFold(r[20:], "GMT") {
		return time.Time{}, false
	}
	day, ok1 := digits(r[1:3])
	mon := monthOf(r[4:7])
	yy, ok2 := digits(r[8:10])
	if !ok1 || !ok2 || mon == 0 {
		return time.Time{}, false
	}
	// A two-digit year is in the century that puts it no more than 50
	// years ahead (RFC 9110 §5.6.7). This package reads no clock: the
	// pivot of POSIX strptime (00-69 are 20xx) gives the same answer for
	// every date of this century.
	year := 1900 + yy
	if yy < 70 {
		year = 2000 + yy
	}
	return clock(year, mon, day, r[11:19])
}

// parseASCTime parses "Sun Nov  6 08:49:37 1994".
func parseASCTime(s string) (time.Time, bool) {
	if s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' || dayIndex(s[:3], shortDays) < 0 {
		return time.Time{}, false
	}
	mon := monthOf(s[4:7])
	dd := s[8:10]
	if dd[0] == ' ' {
		dd = "0" + dd[1:]
	}
	day, ok1 := digits(dd)
	year, ok2 := digits(s[20:24])
	if !ok1 || !ok2 || mon == 0 {
		return time.Time{}, false
	}
	return clock(year, mon, day, s[11:19])
}

// clock checks "HH:MM:SS" and the ranges of every field, and builds the
// time in UTC.
func clock(year int, mon time.Month, day int, hms string) (time.Time, bool) {
	if hms[2] != ':' || hms[5] != ':' {
		return time.Time{}, false
	}
	h, ok1 := digits(hms[0:2])
	m, ok2 := digits(hms[3:5])
	sec, ok3 := digits(hms[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	t := time.Date(year, mon, day, h, m, min(sec, 59), 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // 31 Feb and the like
	}
	return t, true
}

// digits parses a string of ASCII digits only.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, len(s) > 0
}

var (
	shortDays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	longDays  = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	months    = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

func dayIndex(s string, names []string) int {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return i
		}
	}
	return -1
}

func monthOf(s string) time.Month {
	return time.Month(dayIndex(s, months) + 1)
}

// FormatDate formats t as an IMF-fixdate, the form a sender must use.
func FormatDate(t time.Time) string {
	return t.UTC().Format(http.TimeFormat)
}
