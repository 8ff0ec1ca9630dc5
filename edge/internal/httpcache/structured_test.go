package httpcache

import "testing"

func TestParseTargeted(t *testing.T) {
	for _, c := range []struct {
		field  string
		ok     bool
		maxAge int64
	}{
		{"max-age=60", true, 60},
		{"max-age=60, no-store", true, 60},
		{"max-age=99999999999", true, MaxDelta},
		{"max-age=10;foo=bar, x=?1", true, 10},
		{`max-age=10, a=(1 2 "x");p`, true, 10},
		{"no-store", true, Absent},
		{"max-age=10000, &&&&&", false, 0},
		{`max-age="10000"`, false, 0},
		{"max-age=1.5", false, 0},
		{"max-age=-1", false, 0},
		{"no-store=3", false, 0},
		{"max-age=10,", false, 0},
		{"Max-Age=10", false, 0},
		{"max-age=1234567890123456", false, 0},
		{"", false, 0},
	} {
		d, ok := parseTargeted([]string{c.field})
		if ok != c.ok || (ok && d.MaxAge != c.maxAge) {
			t.Errorf("%q: ok %v max-age %d, want %v %d", c.field, ok, d.MaxAge, c.ok, c.maxAge)
		}
	}
	if d, ok := parseTargeted([]string{"max-age=5", "private"}); !ok || d.MaxAge != 5 || !d.Private {
		t.Errorf("two lines: %v %+v", ok, d)
	}
}

func FuzzParseDictionary(f *testing.F) {
	for _, s := range []string{"a=1, b=?0, c=\"x\", d=:AQ==:, e=(1 2);p=1", "max-age=60", "a=1.5", "*=tok/en"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		members, err := parseDictionary([]string{s})
		if err == nil && len(members) > 0 && members[0].key == "" {
			t.Fatalf("%q: a member without a key", s)
		}
		_, _ = parseTargeted([]string{s})
	})
}
