package edge

import (
	"bufio"
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzRequestKey: whatever request line a client sends, an object key the
// edge accepts is an absolute path with no dot segment in any spelling and
// no control byte, so that no request reaches outside the origin's path
// space; what it refuses is refused without a panic.
func FuzzRequestKey(f *testing.F) {
	for _, s := range []string{"/a.ts", "/../secret", "/%2e%2e/%2e%2e/x", "/a/%2E%2e", "/..%2f..%2fx", "/a%00b", "/a%2fb?q=1",
		"/a b", "http://evil/x/../y", "/\xff/\\..\\x", "/a/.%2e/b", "//x//..//y", "/a?x=%00", "/%25%32%65"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		ctx := &fasthttp.RequestCtx{}
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: e\r\n\r\n"))); err != nil {
			return
		}
		key, ok := requestKey(ctx)
		if !ok {
			return
		}
		key = strings.Clone(key)
		p, _, _ := strings.Cut(key, "?")
		dec, err := url.PathUnescape(p)
		switch {
		case !strings.HasPrefix(key, "/"):
			t.Fatalf("%q: key %q is not absolute", target, key)
		case err != nil:
			t.Fatalf("%q: key %q does not unescape: %v", target, key, err)
		case strings.Contains(dec+"/", "/../") || strings.Contains(dec+"/", "/./"):
			t.Fatalf("%q: key %q has a dot segment", target, key)
		case bytes.ContainsFunc([]byte(dec), func(r rune) bool { return r < 0x20 || r == 0x7f }):
			t.Fatalf("%q: key %q holds a control byte", target, key)
		}
	})
}
