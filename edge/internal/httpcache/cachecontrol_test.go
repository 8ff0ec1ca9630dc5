package httpcache

import (
	"strings"
	"testing"
)

func TestParseCacheControl(t *testing.T) {
	for _, c := range []struct {
		lines         []string
		maxAge, sMax  int64
		noCache, priv bool
	}{
		{[]string{"max-age=60"}, 60, Absent, false, false},
		{[]string{"MaX-AgE=60"}, 60, Absent, false, false},
		{[]string{"max-age=003600"}, 3600, Absent, false, false},
		{[]string{`max-age="3600"`}, 3600, Absent, false, false},
		{[]string{"max-age='3600'"}, 0, Absent, false, false},             // invalid: stale
		{[]string{"max-age=abc"}, 0, Absent, false, false},                // invalid: stale
		{[]string{"max-age=3600.0"}, 0, Absent, false, false},             // not delta-seconds
		{[]string{"max-age =3600"}, 0, Absent, false, false},              // malformed member
		{[]string{"max-age= 3600"}, 0, Absent, false, false},              // malformed member
		{[]string{"max-age=-1"}, 0, Absent, false, false},                 // negative: invalid
		{[]string{"max-age=99999999999"}, MaxDelta, Absent, false, false}, // saturates
		{[]string{"max-age=1800, max-age=1"}, 1800, Absent, false, false}, // first wins
		{[]string{"max-age=1", "max-age=1800"}, 1, Absent, false, false},
		{[]string{`extension="max-age=3600", max-age=1`}, 1, Absent, false, false},
		{[]string{`max-age=1, extension="max-age=3600"`}, 1, Absent, false, false},
		{[]string{`foo="a, b\", max-age=9", s-maxage=5`}, Absent, 5, false, false},
		{[]string{"public, s-maxage=10, max-age=5"}, 5, 10, false, false},
		{[]string{"no-cache=\"Set-Cookie\", private=foo"}, Absent, Absent, true, true},
		{[]string{",, ,no-cache,"}, Absent, Absent, true, false},
		{[]string{""}, Absent, Absent, false, false},
	} {
		d := ParseCacheControl(c.lines)
		if d.MaxAge != c.maxAge || d.SMaxAge != c.sMax || d.NoCache != c.noCache || d.Private != c.priv {
			t.Errorf("%q: max-age %d s-maxage %d no-cache %v private %v, want %d %d %v %v",
				c.lines, d.MaxAge, d.SMaxAge, d.NoCache, d.Private, c.maxAge, c.sMax, c.noCache, c.priv)
		}
	}
}

func TestParseCacheControlRequestDirectives(t *testing.T) {
	d := ParseCacheControl([]string{"max-stale, min-fresh=5, only-if-cached, stale-if-error=30"})
	if !d.MaxStaleAny || d.MaxStale != Absent || d.MinFresh != 5 || !d.OnlyIfCached || d.StaleIfError != 30 {
		t.Errorf("request directives: %+v", d)
	}
	d = ParseCacheControl([]string{"max-stale=20, min-fresh=x"})
	if d.MaxStaleAny || d.MaxStale != 20 || d.MinFresh != Absent {
		t.Errorf("max-stale=20, bad min-fresh: %+v", d)
	}
	if d := ParseCacheControl(nil); d.Present() {
		t.Error("no field has directives")
	}
}

// Every member of a list is seen once, whatever it holds.
func TestForEachDirectiveMembers(t *testing.T) {
	var names []string
	forEachDirective(`a, b=1, c="x,y", d=, =e, f g, "h", i`, func(name, _ string, _, _ bool) {
		names = append(names, name)
	})
	if got := strings.Join(names, " "); got != "a b c d f i" {
		t.Errorf("members %q, want a b c d f i", got)
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", `a="b\"c", max-age=1`, "no-cache, private=\"x\"", "max-stale", `"`, `=`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseCacheControl([]string{s})
		for _, v := range []int64{d.MaxAge, d.SMaxAge, d.MaxStale, d.MinFresh, d.StaleIfError, d.StaleWhileRevalidate} {
			if v < Absent || v > MaxDelta {
				t.Fatalf("%q: a delta of %d", s, v)
			}
		}
	})
}
