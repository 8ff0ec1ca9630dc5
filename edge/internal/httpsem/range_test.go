package httpsem

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestParseRange(t *testing.T) {
	const size = 100
	for _, c := range []struct {
		h    string
		want []Range
		err  error
	}{
		{"bytes=0-0", []Range{{0, 1}}, nil},
		{"bytes=0-", []Range{{0, 100}}, nil},
		{"bytes=-10", []Range{{90, 100}}, nil},
		{"bytes=-1000", []Range{{0, 100}}, nil},
		{"bytes=90-1000", []Range{{90, 100}}, nil},
		{"bytes=0-1,5-6", []Range{{0, 2}, {5, 7}}, nil},
		{"bytes=0-99999999999999999999999", []Range{{0, 100}}, nil},
		{"Bytes = 1-2", []Range{{1, 3}}, nil},
		{"bytes=0-60,10-70", nil, nil}, // adds up past the size: whole object
		{"bytes=100-", nil, ErrRangeUnsatisfiable},
		{"bytes=-0", nil, ErrRangeUnsatisfiable},
		{"bytes=99999999999999999999-", nil, ErrRangeUnsatisfiable},
		{"bytes=5-4", nil, ErrRangeSyntax},
		{"bytes=", nil, ErrRangeSyntax},
		{"bytes=a-b", nil, ErrRangeSyntax},
		{"bytes=1", nil, ErrRangeSyntax},
		{"bytes=-", nil, ErrRangeSyntax},
		{"bytes 1-2", nil, ErrRangeSyntax},
		{"items=1-2", nil, ErrRangeUnit},
		{"it ems=1-2", nil, ErrRangeSyntax},
		{"bytes=0-0,1-1,2-2,3-3,4-4", nil, ErrRangeTooMany},
	} {
		got, err := ParseRange([]byte(c.h), size, 4, nil)
		if !errors.Is(err, c.err) || !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, %v; want %v, %v", c.h, got, err, c.want, c.err)
		}
	}
	if got, err := ParseRange([]byte("bytes=0-0"), 0, 4, nil); !errors.Is(err, ErrRangeUnsatisfiable) {
		t.Errorf("empty representation: %v, %v", got, err)
	}
}

// FuzzParseRange: no input panics, and every range returned lies inside the
// representation, is non-empty, and all of them add up to no more than it.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=3-", "bytes=0-1,2-3", "bytes=99999999999999999999-",
		"bytes=-0", "items=1-2", "bytes= , ,0-1", "bytes=1-0", "BYTES=5-9"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		rs, err := ParseRange([]byte(h), size, 64, nil)
		if err != nil && rs != nil {
			t.Fatalf("ranges %v with error %v", rs, err)
		}
		var total int64
		for _, r := range rs {
			if r.Start < 0 || r.End > size || r.Start >= r.End {
				t.Fatalf("%q size %d: bad range %v", h, size, r)
			}
			if total > math.MaxInt64-r.Len() {
				t.Fatalf("overflow")
			}
			total += r.Len()
		}
		if total > size {
			t.Fatalf("%q: ranges add up to %d > %d", h, total, size)
		}
		if len(rs) > 64 {
			t.Fatalf("%d ranges past the cap", len(rs))
		}
	})
}
