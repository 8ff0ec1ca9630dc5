package edge

import (
	"errors"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// signedCtx signs a request with a and returns it as the server sees it.
func signedCtx(a *peerAuth, method, uri string, body []byte) *fasthttp.RequestCtx {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI("http://peer" + uri)
	req.Header.SetMethod(method)
	req.SetBody(body)
	a.sign(req, "10.0.0.1:8081")
	ctx := &fasthttp.RequestCtx{}
	req.CopyTo(&ctx.Request)
	return ctx
}

func TestPeerAuth(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a := newPeerAuth([]byte("secret-0123456789"), 1<<20, 4, 2, time.Minute, clock)

	ok := signedCtx(a, "PUT", peerShardsPath, []byte("frame"))
	if err := a.verify(ok); err != nil {
		t.Fatalf("fresh request refused: %v", err)
	}
	if err := a.verify(ok); !errors.Is(err, errPeerAuth) {
		t.Errorf("replay: %v, want errPeerAuth", err)
	}

	tampered := signedCtx(a, "PUT", peerShardsPath, []byte("frame"))
	tampered.Request.SetBody([]byte("other"))
	if err := a.verify(tampered); !errors.Is(err, errPeerAuth) {
		t.Errorf("tampered body: %v, want errPeerAuth", err)
	}

	other := newPeerAuth([]byte("another-secret-987"), 1<<20, 4, 2, time.Minute, clock)
	if err := a.verify(signedCtx(other, "GET", peerPingPath, nil)); !errors.Is(err, errPeerAuth) {
		t.Errorf("other secret: %v, want errPeerAuth", err)
	}
	mismatched := newPeerAuth([]byte("secret-0123456789"), 1<<20, 6, 3, time.Minute, clock)
	if err := a.verify(signedCtx(mismatched, "GET", peerPingPath, nil)); !errors.Is(err, errPeerMismatch) {
		t.Errorf("other k/m: %v, want errPeerMismatch", err)
	}

	old := signedCtx(a, "GET", peerPingPath, nil)
	now = now.Add(61 * time.Second)
	if err := a.verify(old); !errors.Is(err, errPeerAuth) {
		t.Errorf("request signed 61 s ago: %v, want errPeerAuth", err)
	}
	now = now.Add(-61 * time.Second)

	noNonce := signedCtx(a, "GET", peerPingPath, nil)
	noNonce.Request.Header.Del(hdrPeerNonce)
	if err := a.verify(noNonce); !errors.Is(err, errPeerAuth) {
		t.Errorf("no nonce: %v, want errPeerAuth", err)
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
	a := newPeerAuth([]byte("secret-0123456789"), 1<<20, 4, 2, time.Minute, func() time.Time { return now })
	for i := range 200_000 {
		a.nonces.add(now.Unix(), nonce{byte(i), byte(i >> 8), byte(i >> 16), 1}, now.Unix())
	}
	ctxs := make([]*fasthttp.RequestCtx, b.N)
	for i := range ctxs {
		ctxs[i] = signedCtx(a, "GET", peerShardsPath+"?key=x", nil)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := a.verify(ctxs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
