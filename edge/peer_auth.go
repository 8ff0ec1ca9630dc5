package edge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Peer requests carry an HMAC-SHA256 of what they ask, under the cluster
// secret. The timestamp bounds how long a captured request stays valid and
// the nonce, remembered for that long, makes each one usable once.
const (
	hdrPeerTime    = "X-Edgecache-Time"
	hdrPeerNonce   = "X-Edgecache-Nonce"
	hdrPeerSig     = "X-Edgecache-Signature"
	hdrPeerCluster = "X-Edgecache-Cluster"
	hdrPeerFrom    = "X-Edgecache-From"
)

var (
	errPeerAuth     = errors.New("peer request not authenticated")
	errPeerMismatch = errors.New("peer runs with other chunk parameters")
)

// peerAuth signs and checks peer requests.
type peerAuth struct {
	secret []byte
	params string // "v1;chunk=<size>;k=<k>;m=<m>": peers must agree on it
	skew   time.Duration
	now    func() time.Time

	nonces nonceCache
}

func newPeerAuth(secret []byte, chunkSize int64, k, m int, skew time.Duration, now func() time.Time) *peerAuth {
	return &peerAuth{
		secret: secret,
		params: fmt.Sprintf("v1;chunk=%d;k=%d;m=%d", chunkSize, k, m),
		skew:   skew,
		now:    now,
		nonces: nonceCache{skew: int64(skew / time.Second), buckets: map[int64]map[nonce]struct{}{}},
	}
}

func (a *peerAuth) mac(method, uri, ts, nonce, from []byte, body []byte) []byte {
	h := hmac.New(sha256.New, a.secret)
	for _, part := range [][]byte{method, uri, ts, nonce, from, []byte(a.params)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	h.Write(body)
	return h.Sum(nil)
}

// sign stamps a request that is ready to send, body included.
func (a *peerAuth) sign(req *fasthttp.Request, from string) {
	var nb nonce
	_, _ = rand.Read(nb[:])
	nonce := hex.EncodeToString(nb[:])
	ts := strconv.FormatInt(a.now().Unix(), 10)
	req.Header.Set(hdrPeerTime, ts)
	req.Header.Set(hdrPeerNonce, nonce)
	req.Header.Set(hdrPeerCluster, a.params)
	req.Header.Set(hdrPeerFrom, from)
	sig := a.mac(req.Header.Method(), req.URI().RequestURI(), []byte(ts), []byte(nonce), []byte(from), req.Body())
	req.Header.Set(hdrPeerSig, hex.EncodeToString(sig))
}

// verify checks a received request: parameters first, so that a
// misconfigured peer learns why it is refused; then the signature, the
// clock and the nonce.
func (a *peerAuth) verify(ctx *fasthttp.RequestCtx) error {
	h := &ctx.Request.Header
	if p := string(h.Peek(hdrPeerCluster)); p != a.params {
		return fmt.Errorf("%w: it has %q, this edge has %q", errPeerMismatch, p, a.params)
	}
	ts, nonceHex, from := h.Peek(hdrPeerTime), h.Peek(hdrPeerNonce), h.Peek(hdrPeerFrom)
	sig, err := hex.DecodeString(string(h.Peek(hdrPeerSig)))
	var n nonce
	if err != nil || len(sig) != sha256.Size || hex.DecodedLen(len(nonceHex)) != len(n) {
		return fmt.Errorf("%w: missing or malformed signature", errPeerAuth)
	}
	if _, err := hex.Decode(n[:], nonceHex); err != nil {
		return fmt.Errorf("%w: malformed nonce", errPeerAuth)
	}
	if !hmac.Equal(sig, a.mac(h.Method(), ctx.Request.URI().RequestURI(), ts, nonceHex, from, ctx.Request.Body())) {
		return fmt.Errorf("%w: bad signature (is the cluster secret the same?)", errPeerAuth)
	}
	sec, err := strconv.ParseInt(string(ts), 10, 64)
	now := a.now()
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", errPeerAuth)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > a.skew || d < -a.skew {
		return fmt.Errorf("%w: timestamp %s off by %s (expired, or clocks differ)", errPeerAuth, ts, d.Round(time.Second))
	}
	if !a.nonces.add(sec, n, now.Unix()) {
		return fmt.Errorf("%w: replayed request", errPeerAuth)
	}
	return nil
}

// nonce is the random part of a signed peer request.
type nonce [12]byte

// nonceCache remembers the nonces of accepted requests for as long as
// their timestamps are acceptable, which makes each signed request usable
// once. Nonces are filed by the second their request was signed, in buckets
// of nonceBucket seconds: a replay carries the same (signed) timestamp, so
// one bucket answers, and a bucket whose seconds have all left the clock
// window is dropped whole. The cost per request is constant and memory
// holds one entry per peer request of the last 2×skew.
type nonceCache struct {
	skew int64 // seconds

	mu      sync.Mutex
	buckets map[int64]map[nonce]struct{} // guarded by mu; by signing second / nonceBucket
	swept   int64                        // guarded by mu; the second of the last sweep
}

const nonceBucket = 10 // seconds

// add records n, signed at second ts, at second now; it reports false if n
// was already recorded for ts. The caller has checked ts against the clock.
func (c *nonceCache) add(ts int64, n nonce, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now != c.swept {
		c.swept = now
		for b := range c.buckets {
			// Every second of bucket b is before now-skew: its requests
			// would be refused as expired anyway.
			if (b+1)*nonceBucket <= now-c.skew {
				delete(c.buckets, b)
			}
		}
	}
	b := ts / nonceBucket
	set := c.buckets[b]
	if set == nil {
		set = map[nonce]struct{}{}
		c.buckets[b] = set
	}
	if _, dup := set[n]; dup {
		return false
	}
	set[n] = struct{}{}
	return true
}

// len returns how many nonces are remembered.
func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, set := range c.buckets {
		total += len(set)
	}
	return total
}
