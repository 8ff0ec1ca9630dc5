package httpcache

import (
	"net/http"
	"slices"
	"testing"
)

func TestParseVary(t *testing.T) {
	for _, c := range []struct {
		lines []string
		want  []string
		star  bool
	}{
		{[]string{"Accept-Language"}, []string{"accept-language"}, false},
		{[]string{"b, A", "a"}, []string{"a", "b"}, false},
		{[]string{"*, *"}, nil, true},
		{[]string{", *"}, nil, true},
		{[]string{"", "*"}, nil, true},
		{[]string{"Foo, *"}, []string{"foo"}, true},
		{[]string{" , "}, nil, false},
	} {
		got, star := ParseVary(c.lines)
		if !slices.Equal(got, c.want) || star != c.star {
			t.Errorf("ParseVary(%q) = %q, %v; want %q, %v", c.lines, got, star, c.want, c.star)
		}
	}
}

func TestVariantKey(t *testing.T) {
	key := func(fields []string, h http.Header) uint64 {
		return VariantKey(fields, func(name string) []string { return h.Values(name) })
	}
	lang := []string{"accept-language"}
	foo := []string{"foo"}
	same := func(a, b http.Header, f []string) bool { return key(f, a) == key(f, b) }
	for _, c := range []struct {
		name string
		a, b http.Header
		f    []string
		want bool
	}{
		{"equal", http.Header{"Accept-Language": {"en"}}, http.Header{"Accept-Language": {"en"}}, lang, true},
		{"different", http.Header{"Accept-Language": {"en"}}, http.Header{"Accept-Language": {"fr"}}, lang, false},
		{"language order", http.Header{"Accept-Language": {"en, fr"}}, http.Header{"Accept-Language": {"fr, en"}}, lang, true},
		{"language case", http.Header{"Accept-Language": {"EN-us"}}, http.Header{"Accept-Language": {"en-US"}}, lang, true},
		{"whitespace", http.Header{"Foo": {"a,  b"}}, http.Header{"Foo": {"a,b"}}, foo, true},
		{"lines combine", http.Header{"Foo": {"a", "b"}}, http.Header{"Foo": {"a, b"}}, foo, true},
		{"unknown field keeps case", http.Header{"Foo": {"A"}}, http.Header{"Foo": {"a"}}, foo, false},
		{"absent is not empty", http.Header{}, http.Header{"Foo": {""}}, foo, false},
		{"both absent", http.Header{"Bar": {"1"}}, http.Header{"Bar": {"2"}}, foo, true},
		{"field not listed", http.Header{"Foo": {"a"}, "Bar": {"1"}}, http.Header{"Foo": {"a"}, "Bar": {"2"}}, foo, true},
	} {
		if got := same(c.a, c.b, c.f); got != c.want {
			t.Errorf("%s: same variant = %v, want %v", c.name, got, c.want)
		}
	}
}
