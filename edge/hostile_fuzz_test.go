package edge

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// FuzzPeerAuthVerify: no header values make verification panic, and it
// accepts a request only if its parameters are this cluster's, its
// signature is the HMAC of what it carries, and its clock is within the
// skew.
func FuzzPeerAuthVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	a := newPeerAuth([]byte("secret-0123456789"), 1<<20, 4, 2, time.Minute, func() time.Time { return now })
	ok := signedCtx(a, "PUT", peerShardsPath, []byte("frame"))
	h := &ok.Request.Header
	f.Add("PUT", peerShardsPath, string(h.Peek(hdrPeerTime)), string(h.Peek(hdrPeerNonce)), string(h.Peek(hdrPeerSig)),
		string(h.Peek(hdrPeerCluster)), string(h.Peek(hdrPeerFrom)), []byte("frame"))
	f.Add("GET", peerPingPath, "1800000000", "00", "zz", a.params, "", []byte(nil))
	f.Fuzz(func(t *testing.T, method, uri, ts, nonce, sig, cluster, from string, body []byte) {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI("http://peer" + uri)
		for k, v := range map[string]string{hdrPeerTime: ts, hdrPeerNonce: nonce, hdrPeerSig: sig, hdrPeerCluster: cluster, hdrPeerFrom: from} {
			ctx.Request.Header.Set(k, v)
		}
		ctx.Request.SetBody(body)
		if err := a.verify(ctx); err != nil {
			return
		}
		rh := &ctx.Request.Header
		got, _ := hex.DecodeString(string(rh.Peek(hdrPeerSig)))
		want := a.mac(rh.Method(), ctx.Request.URI().RequestURI(), rh.Peek(hdrPeerTime), rh.Peek(hdrPeerNonce), rh.Peek(hdrPeerFrom), body)
		sec, err := strconv.ParseInt(string(rh.Peek(hdrPeerTime)), 10, 64)
		switch {
		case string(rh.Peek(hdrPeerCluster)) != a.params:
			t.Fatalf("accepted parameters %q", rh.Peek(hdrPeerCluster))
		case !hmac.Equal(got, want):
			t.Fatalf("accepted a signature that is not the request's HMAC")
		case err != nil || now.Sub(time.Unix(sec, 0)).Abs() > time.Minute:
			t.Fatalf("accepted timestamp %q", rh.Peek(hdrPeerTime))
		}
	})
}

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
