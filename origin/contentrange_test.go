package origin

import (
	"strconv"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in   string
		want contentRange
		ok   bool
	}{
		{"bytes 0-0/1", contentRange{0, 0, 1}, true},
		{"bytes 100-199/1000", contentRange{100, 199, 1000}, true},
		{"BYTES 5-9/10", contentRange{5, 9, 10}, true},
		{"bytes 5-9/*", contentRange{5, 9, -1}, true},
		{"bytes */0", contentRange{-1, -1, 0}, true},
		{"bytes */1000", contentRange{-1, -1, 1000}, true},
		{"bytes 0-9223372036854775806/9223372036854775807", contentRange{0, 1<<63 - 2, 1<<63 - 1}, true},

		{"", contentRange{}, false},
		{"bytes", contentRange{}, false},
		{"bytes */*", contentRange{}, false},
		{"items 0-1/2", contentRange{}, false},
		{"bytes 0-9/10 ", contentRange{}, false},
		{"bytes  0-9/10", contentRange{}, false},
		{"bytes 0 -9/10", contentRange{}, false},
		{"bytes 0-9", contentRange{}, false},
		{"bytes 9-0/10", contentRange{}, false},
		{"bytes 0-10/10", contentRange{}, false},
		{"bytes 0-9/-10", contentRange{}, false},
		{"bytes +0-9/10", contentRange{}, false},
		{"bytes -1-9/10", contentRange{}, false},
		{"bytes 0x0-9/10", contentRange{}, false},
		{"bytes 0-9/10/11", contentRange{}, false},
		{"bytes 0-9223372036854775808/9223372036854775809", contentRange{}, false},
		{"bytes 0-99999999999999999999/1", contentRange{}, false},
	}
	for _, tt := range tests {
		got, err := parseContentRange(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseContentRange(%q) = %+v, %v; want %+v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzParseContentRange checks that no header makes the parser panic, and
// that whatever it accepts is consistent and prints back to itself (modulo
// the unit's case and leading zeros, which it tolerates).
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-0/1", "bytes */0", "bytes 1-2/*", "bytes 9-0/10", "bytes 0-18446744073709551616/1", "bytes -/", "bytes 00-01/02"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cr, err := parseContentRange(s)
		if err != nil {
			return
		}
		total := "*"
		if cr.Total >= 0 {
			total = strconv.FormatInt(cr.Total, 10)
		}
		if cr.First < 0 {
			if cr.First != -1 || cr.Last != -1 || cr.Total < 0 {
				t.Fatalf("%q: inconsistent unsatisfied range %+v", s, cr)
			}
		} else if cr.First > cr.Last || (cr.Total >= 0 && cr.Last >= cr.Total) {
			t.Fatalf("%q: inconsistent range %+v", s, cr)
		}
		again := "bytes */" + total
		if cr.First >= 0 {
			again = "bytes " + strconv.FormatInt(cr.First, 10) + "-" + strconv.FormatInt(cr.Last, 10) + "/" + total
		}
		if back, err := parseContentRange(again); err != nil || back != cr {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, cr, again, back, err)
		}
	})
}
