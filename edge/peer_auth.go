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

	mu   sync.Mutex
	seen map[string]time.Time // nonce -> when it stops being acceptable
}

func newPeerAuth(secret []byte, chunkSize int64, k, m int, skew time.Duration, now func() time.Time) *peerAuth {
	return &peerAuth{
		secret: secret,
		params: fmt.Sprintf("v1;chunk=%d;k=%d;m=%d", chunkSize, k, m),
		skew:   skew,
		now:    now,
		seen:   map[string]time.Time{},
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
	var nb [12]byte
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
	ts, nonce, from := h.Peek(hdrPeerTime), h.Peek(hdrPeerNonce), h.Peek(hdrPeerFrom)
	sig, err := hex.DecodeString(string(h.Peek(hdrPeerSig)))
	if err != nil || len(sig) != sha256.Size || len(nonce) == 0 {
		return fmt.Errorf("%w: missing or malformed signature", errPeerAuth)
	}
	if !hmac.Equal(sig, a.mac(h.Method(), ctx.Request.URI().RequestURI(), ts, nonce, from, ctx.Request.Body())) {
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
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) > 4096 {
		for k, until := range a.seen {
			if now.After(until) {
				delete(a.seen, k)
			}
		}
	}
	key := string(nonce)
	if _, dup := a.seen[key]; dup {
		return fmt.Errorf("%w: replayed request", errPeerAuth)
	}
	a.seen[key] = now.Add(2 * a.skew)
	return nil
}
