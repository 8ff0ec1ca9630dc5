package httpcache

import (
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994",
		"sun, 06 nov 1994 08:49:37 gmt", // wrong case is forgiven
		"SUN, 06 NOV 1994 08:49:37 GMT",
	} {
		got, ok := ParseDate(s)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	if got, ok := ParseDate("Thursday, 01-Jan-37 00:00:00 GMT"); !ok || got.Year() != 2037 {
		t.Errorf("a two-digit year 37 is %v, want 2037", got)
	}
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 UTC",    // only GMT
		"Sun, 06 Nov 1994 08:49:37 +1000",  // no other zone
		"Sun, 06 Nov 94 08:49:37 GMT",      // IMF needs four digits
		"Sun 06 Nov 1994 08:49:37 GMT",     // missing comma
		"Sun, 06-Nov-1994 08:49:37 GMT",    // dashes
		"Sun, 06 Nov 1994 8:49:37 GMT",     // one-digit hour
		"Sun, 31 Feb 1994 08:49:37 GMT",    // no such day
		"Sun, 06 Nov 1994 24:49:37 GMT",    // no such hour
		"Sun, 06 Foo 1994 08:49:37 GMT",    // no such month
		"Sun, 06 Nov 1994 08:49:37 GMT, x", // trailing bytes
		"", "0", "-1", "Sun,",
	} {
		if got, ok := ParseDate(s); ok {
			t.Errorf("ParseDate(%q) = %v, want it refused", s, got)
		}
	}
}

func TestFormatDateRoundTrips(t *testing.T) {
	now := time.Date(2026, 12, 4, 17, 0, 1, 0, time.UTC)
	if got, ok := ParseDate(FormatDate(now)); !ok || !got.Equal(now) {
		t.Errorf("%q parses as %v, %v", FormatDate(now), got, ok)
	}
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := ParseDate(s); ok {
			if again, ok := ParseDate(FormatDate(d)); !ok || !again.Equal(d) {
				t.Fatalf("%q: %v does not round-trip", s, d)
			}
		}
	})
}
