package forward

import (
	"net/http"
	"slices"
	"testing"

	"github.com/edgecache/edgecache/edge/internal/httpcache"
)

func TestHeader(t *testing.T) {
	client := httpcache.Fields{
		{Name: "Host", Value: "edge.example"},
		{Name: "Connection", Value: "keep-alive, X-Secret"},
		{Name: "X-Secret", Value: "hop"},
		{Name: "Keep-Alive", Value: "timeout=5"},
		{Name: "Authorization", Value: "Bearer t"},
		{Name: "Cookie", Value: "a=1"},
		{Name: "Accept-Language", Value: "fr"},
		{Name: "Range", Value: "bytes=5-9"},
		{Name: "If-None-Match", Value: `"x"`},
		{Name: "Accept-Encoding", Value: "gzip"},
		{Name: "Expect", Value: "100-continue"},
		{Name: "Via", Value: "1.1 player-proxy"},
		{Name: "X-Forwarded-For", Value: "10.0.0.1"},
		{Name: "Cache-Control", Value: "no-cache"},
	}
	c := Client{IP: "192.0.2.7", Host: "edge.example", Proto: "https"}

	fill := Header(client, Fill, c, "edge-a")
	for name, want := range map[string][]string{
		"Authorization": {"Bearer t"}, "Cookie": {"a=1"}, "Accept-Language": {"fr"}, "Cache-Control": {"no-cache"},
		"Accept-Encoding": {"identity"}, "Via": {"1.1 player-proxy", "1.1 edge-a"},
		"X-Forwarded-For": {"10.0.0.1, 192.0.2.7"}, "X-Forwarded-Host": {"edge.example"}, "X-Forwarded-Proto": {"https"},
	} {
		if got := fill.Values(name); !slices.Equal(got, want) {
			t.Errorf("fill %s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"Host", "Connection", "X-Secret", "Keep-Alive", "Range", "If-None-Match", "Expect"} {
		if _, ok := fill[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("fill forwards %s", name)
		}
	}

	pass := Header(client, Pass, c, "edge-a")
	for name, want := range map[string]string{"Range": "bytes=5-9", "If-None-Match": `"x"`, "Accept-Encoding": "gzip"} {
		if got := pass.Get(name); got != want {
			t.Errorf("pass %s = %q, want the client's %q", name, got, want)
		}
	}
	for _, name := range []string{"Host", "Connection", "X-Secret", "Expect"} {
		if _, ok := pass[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("pass forwards %s", name)
		}
	}
}
