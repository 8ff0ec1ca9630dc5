package chunk

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// testKeys covers the bytes that could confuse a naive encoding: the
// encoding's own separators, digits, empty and non-UTF-8 objects, and a key
// long enough to take Hash's streaming path.
var testKeys = []Key{
	{Object: "/v/a.mp4?q", Version: `e:"abc"`, Index: 3},
	{Object: "", Version: "m:0:0", Index: 0},
	{Object: "1:a,2:bc,", Version: "e:,:,", Index: 1},
	{Object: "12:", Version: "3", Index: 10},
	{Object: "\x00\xff\xfe", Version: "e:\"\xc3\"", Index: 99},
	{Object: "/ünïcode/ファイル", Version: `e:"x"`, Index: math.MaxInt64},
	{Object: "/" + strings.Repeat("long/", 100), Version: `e:"` + strings.Repeat("f", 64) + `"`, Index: 123456},
}

func TestKeyRoundTrip(t *testing.T) {
	for _, k := range testKeys {
		s := k.String()
		got, err := ParseKey(s)
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", s, err)
		}
		if got != k {
			t.Errorf("ParseKey(%q) = %#v, want %#v", s, got, k)
		}
		if n := k.encodedLen(); n != len(s) {
			t.Errorf("encodedLen(%q) = %d, want %d", s, n, len(s))
		}
		if h, want := k.Hash(), xxhash.Sum64String(s); h != want {
			t.Errorf("Hash(%q) = %x, want xxhash64 of String %x", s, h, want)
		}
	}
}

func TestKeyStringFormat(t *testing.T) {
	k := Key{Object: "/v/a.mp4?q", Version: `e:"abc"`, Index: 3}
	if got, want := k.String(), `10:/v/a.mp4?q,7:e:"abc",3`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseKeyRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"0:,0:,0",                      // empty version
		"1:a,1:v,-1",                   // negative index
		"01:a,1:v,0",                   // leading zero in a length
		"1:a,1:v,00",                   // leading zero in the index
		"+1:a,1:v,0",                   // sign
		"1:a,1:v,+0",                   // sign
		" 1:a,1:v,0",                   // space
		"1:a,1:v,0 ",                   // trailing space
		"1:a,1:v,",                     // no index
		"1:a,1:v",                      // no index, no comma
		"2:a,1:v,0",                    // length runs past the field
		"9:a,1:v,0",                    // length runs past the string
		"1:a;1:v,0",                    // wrong terminator
		"1:a,1:v,0x",                   // trailing garbage
		"1:a,1:v,1,",                   // trailing comma
		"1:a,1:v,9223372036854775808",  // index overflows int64
		"1:a,1:v,10000000000000000000", // 20 digits
		"99999999999999999999:a,1:v,0", // length overflows int64
		"a,1:v,0",                      // no length
		":a,1:v,0",                     // empty length
	} {
		if k, err := ParseKey(s); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKey(%q) = %#v, %v; want ErrBadKey", s, k, err)
		}
	}
}

func TestVersion(t *testing.T) {
	lm := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	for _, tc := range []struct {
		name string
		etag string
		lm   time.Time
		size int64
		want string
	}{
		{"strong etag", `"abc"`, time.Time{}, 10, `e:"abc"`},
		{"strong etag wins over lm", `"abc"`, lm, 10, `e:"abc"`},
		{"unquoted etag", `abc`, time.Time{}, 10, `e:abc`},
		{"weak etag falls back to lm", `W/"abc"`, lm, 10, "m:1714979289:10"},
		{"lower-case weak etag", `w/"abc"`, lm, 10, "m:1714979289:10"},
		{"weak etag alone", `W/"abc"`, time.Time{}, 10, ""},
		{"lm only", "", lm, 0, "m:1714979289:0"},
		{"lm before 1970", "", time.Unix(-5, 0), 7, "m:-5:7"},
		{"lm with unknown size", "", lm, -1, ""},
		{"nothing", "", time.Time{}, 10, ""},
	} {
		if got := Version(tc.etag, tc.lm, tc.size); got != tc.want {
			t.Errorf("%s: Version(%q, %v, %d) = %q, want %q", tc.name, tc.etag, tc.lm, tc.size, got, tc.want)
		}
	}
}

func TestKeyHashDoesNotAllocate(t *testing.T) {
	for _, k := range testKeys {
		if n := testing.AllocsPerRun(100, func() { k.Hash() }); n != 0 {
			t.Errorf("Hash of a %d-byte key: %v allocs, want 0", k.encodedLen(), n)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	for _, k := range testKeys {
		f.Add(k.String(), k.Object, k.Version, k.Index)
	}
	f.Add("1:a,1:v,-1", "", "", int64(-1))
	f.Fuzz(func(t *testing.T, s, object, version string, index int64) {
		// Whatever ParseKey accepts, String reproduces exactly.
		if k, err := ParseKey(s); err == nil {
			if got := k.String(); got != s {
				t.Fatalf("ParseKey(%q).String() = %q", s, got)
			}
		} else if !errors.Is(err, ErrBadKey) {
			t.Fatalf("ParseKey(%q): %v, not ErrBadKey", s, err)
		}
		// Whatever valid key String encodes, ParseKey gives back.
		k := Key{Object: object, Version: version, Index: index}
		got, err := ParseKey(k.String())
		if k.validate() != nil {
			if err == nil {
				t.Fatalf("ParseKey accepted invalid key %#v", k)
			}
			return
		}
		if err != nil || got != k {
			t.Fatalf("ParseKey(%q) = %#v, %v; want %#v", k.String(), got, err, k)
		}
		if k.Hash() != xxhash.Sum64String(k.String()) {
			t.Fatalf("Hash(%q) differs from xxhash64 of String", k.String())
		}
	})
}

func BenchmarkKeyHash(b *testing.B) {
	k := Key{Object: "/videos/2024/launch/1080p/segment_00042.m4s", Version: `e:"5f3c2a9e-1b2d4"`, Index: 17}
	b.SetBytes(int64(k.encodedLen()))
	b.ReportAllocs()
	var sink uint64
	for b.Loop() {
		sink += k.Hash()
	}
	_ = sink
}
