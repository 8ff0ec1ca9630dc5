package peerwire

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// signedCtx signs a request with a and returns it as the server sees it.
func signedCtx(a *Auth, method, uri string, body []byte) *fasthttp.RequestCtx {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI("http://peer" + uri)
	req.Header.SetMethod(method)
	req.SetBody(body)
	a.SignRequest(req, "10.0.0.1:8081")
	ctx := &fasthttp.RequestCtx{}
	req.CopyTo(&ctx.Request)
	return ctx
}

func TestPeerAuth(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a := NewAuth([]byte("secret-0123456789"), ClusterParams(1<<20, 4, 2), time.Minute, clock)

	ok := signedCtx(a, "PUT", ShardsPath, []byte("frame"))
	if err := verify(a, ok); err != nil {
		t.Fatalf("fresh request refused: %v", err)
	}
	if err := verify(a, ok); !errors.Is(err, ErrAuth) {
		t.Errorf("replay: %v, want ErrAuth", err)
	}

	tampered := signedCtx(a, "PUT", ShardsPath, []byte("frame"))
	tampered.Request.SetBody([]byte("other"))
	if err := verify(a, tampered); !errors.Is(err, ErrAuth) {
		t.Errorf("tampered body: %v, want ErrAuth", err)
	}

	other := NewAuth([]byte("another-secret-987"), ClusterParams(1<<20, 4, 2), time.Minute, clock)
	if err := verify(a, signedCtx(other, "GET", PingPath, nil)); !errors.Is(err, ErrAuth) {
		t.Errorf("other secret: %v, want ErrAuth", err)
	}
	mismatched := NewAuth([]byte("secret-0123456789"), ClusterParams(1<<20, 6, 3), time.Minute, clock)
	if err := verify(a, signedCtx(mismatched, "GET", PingPath, nil)); !errors.Is(err, ErrMismatch) {
		t.Errorf("other k/m: %v, want ErrMismatch", err)
	}

	old := signedCtx(a, "GET", PingPath, nil)
	now = now.Add(61 * time.Second)
	if err := verify(a, old); !errors.Is(err, ErrAuth) {
		t.Errorf("request signed 61 s ago: %v, want ErrAuth", err)
	}
	now = now.Add(-61 * time.Second)

	noNonce := signedCtx(a, "GET", PingPath, nil)
	noNonce.Request.Header.Del(HdrNonce)
	if err := verify(a, noNonce); !errors.Is(err, ErrAuth) {
		t.Errorf("no nonce: %v, want ErrAuth", err)
	}
}

// A request that carries no signature is unauthenticated (401 on the
// wire), whatever chunk parameters it states or omits; only a signed
// request of other parameters is a mismatch (409), which tells a
// misconfigured member why it is refused.
func TestPeerAuthUnsignedIsUnauthenticated(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := NewAuth([]byte("secret-0123456789"), ClusterParams(1<<20, 4, 2), time.Minute, func() time.Time { return now })
	bare := &fasthttp.RequestCtx{}
	bare.Request.SetRequestURI("http://peer" + PingPath)
	if err := verify(a, bare); !errors.Is(err, ErrAuth) || errors.Is(err, ErrMismatch) {
		t.Errorf("no credentials at all: %v, want ErrAuth", err)
	}
	for _, params := range []string{a.Params(), ClusterParams(1<<20, 6, 3)} {
		unsigned := signedCtx(a, "GET", PingPath, nil)
		unsigned.Request.Header.Del(HdrSig)
		unsigned.Request.Header.Set(HdrCluster, params)
		if err := verify(a, unsigned); !errors.Is(err, ErrAuth) || errors.Is(err, ErrMismatch) {
			t.Errorf("unsigned, parameters %q: %v, want ErrAuth", params, err)
		}
	}
	other := NewAuth([]byte("secret-0123456789"), ClusterParams(1<<20, 6, 3), time.Minute, func() time.Time { return now })
	if err := verify(a, signedCtx(other, "GET", PingPath, nil)); !errors.Is(err, ErrMismatch) {
		t.Errorf("signed, other parameters: %v, want ErrMismatch", err)
	}
}

// During a rotation an Auth signs with its first secret and accepts the
// others: members that sign with the old secret and members that sign
// with the new one are both accepted by a member holding both, and a
// member holding only one secret accepts only requests signed with it.
func TestPeerAuthAcceptsAnotherSecret(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	params := ClusterParams(1<<20, 4, 2)
	oldS, newS := []byte("old-secret-0123456789"), []byte("new-secret-0123456789")
	oldOnly := NewAuth(oldS, params, time.Minute, clock)
	newOnly := NewAuth(newS, params, time.Minute, clock)
	oldFirst := NewAuth(oldS, params, time.Minute, clock, newS)
	newFirst := NewAuth(newS, params, time.Minute, clock, oldS)
	for _, tc := range []struct {
		name             string
		signer, verifier *Auth
		ok               bool
	}{
		{"old only to old first", oldOnly, oldFirst, true},
		{"old first to old only", oldFirst, oldOnly, true},
		{"old first to new first", oldFirst, newFirst, true},
		{"new first to old first", newFirst, oldFirst, true},
		{"new first to new only", newFirst, newOnly, true},
		{"new only to new first", newOnly, newFirst, true},
		{"new first to old only", newFirst, oldOnly, false},
		{"old only to new only", oldOnly, newOnly, false},
	} {
		err := verify(tc.verifier, signedCtx(tc.signer, "PUT", ShardsPath, []byte("frame")))
		if tc.ok && err != nil {
			t.Errorf("%s: refused: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", tc.name, err)
		}
	}
}

// The replay cache forgets a nonce once its request would be refused as
// expired anyway, so that it holds only the last two minutes of requests.
func TestNonceCacheForgetsExpired(t *testing.T) {
	c := nonceCache{skew: 60, buckets: map[int64]map[nonce]struct{}{}}
	start := int64(1_800_000_000)
	for i := range 1000 {
		if !c.add(start, nonce{byte(i), byte(i >> 8)}, start) {
			t.Fatalf("nonce %d refused the first time", i)
		}
	}
	if c.add(start, nonce{0, 0}, start+59) {
		t.Errorf("replay within the window accepted")
	}
	if c.len() != 1000 {
		t.Errorf("remembers %d nonces, want 1000", c.len())
	}
	c.add(start+120, nonce{1}, start+120)
	if c.len() != 1 {
		t.Errorf("two minutes later it remembers %d nonces, want 1", c.len())
	}
}

// Verifying costs the same however many requests were accepted lately.
func BenchmarkPeerAuthVerify(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	a := NewAuth([]byte("secret-0123456789"), ClusterParams(1<<20, 4, 2), time.Minute, func() time.Time { return now })
	for i := range 200_000 {
		a.nonces.add(now.Unix(), nonce{byte(i), byte(i >> 8), byte(i >> 16), 1}, now.Unix())
	}
	ctxs := make([]*fasthttp.RequestCtx, b.N)
	for i := range ctxs {
		ctxs[i] = signedCtx(a, "GET", ShardsPath+"?key=x", nil)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := verify(a, ctxs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzPeerAuthVerify: no header values make verification panic, and it
// accepts a request only if its parameters are this cluster's, its
// signature is the HMAC of what it carries, and its clock is within the
// skew.
func FuzzPeerAuthVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	a := NewAuth([]byte("secret-0123456789"), ClusterParams(1<<20, 4, 2), time.Minute, func() time.Time { return now })
	ok := signedCtx(a, "PUT", ShardsPath, []byte("frame"))
	h := &ok.Request.Header
	f.Add("PUT", ShardsPath, string(h.Peek(HdrTime)), string(h.Peek(HdrNonce)), string(h.Peek(HdrSig)),
		string(h.Peek(HdrCluster)), string(h.Peek(HdrFrom)), []byte("frame"))
	f.Add("GET", PingPath, "1800000000", "00", "zz", a.Params(), "", []byte(nil))
	f.Fuzz(func(t *testing.T, method, uri, ts, nonce, sig, cluster, from string, body []byte) {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI("http://peer" + uri)
		for k, v := range map[string]string{HdrTime: ts, HdrNonce: nonce, HdrSig: sig, HdrCluster: cluster, HdrFrom: from} {
			ctx.Request.Header.Set(k, v)
		}
		ctx.Request.SetBody(body)
		if err := verify(a, ctx); err != nil {
			return
		}
		rh := &ctx.Request.Header
		got, _ := hex.DecodeString(string(rh.Peek(HdrSig)))
		want := a.mac(a.secrets[0], rh.Method(), ctx.Request.URI().RequestURI(), rh.Peek(HdrTime), rh.Peek(HdrNonce), rh.Peek(HdrFrom), body)
		sec, err := strconv.ParseInt(string(rh.Peek(HdrTime)), 10, 64)
		switch {
		case string(rh.Peek(HdrCluster)) != a.Params():
			t.Fatalf("accepted parameters %q", rh.Peek(HdrCluster))
		case !hmac.Equal(got, want):
			t.Fatalf("accepted a signature that is not the request's HMAC")
		case err != nil || now.Sub(time.Unix(sec, 0)).Abs() > time.Minute:
			t.Fatalf("accepted timestamp %q", rh.Peek(HdrTime))
		}
	})
}

// verify checks a request as the peer listener receives it.
func verify(a *Auth, ctx *fasthttp.RequestCtx) error { return a.VerifyRequest(&ctx.Request) }
