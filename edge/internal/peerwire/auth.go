package peerwire

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
	HdrTime    = "X-Edgecache-Time"
	HdrNonce   = "X-Edgecache-Nonce"
	HdrSig     = "X-Edgecache-Signature"
	HdrCluster = "X-Edgecache-Cluster"
	HdrFrom    = "X-Edgecache-From"
)

// SignedHeaders are the headers that carry a request's signature.
var SignedHeaders = [...]string{HdrTime, HdrNonce, HdrCluster, HdrFrom, HdrSig}

// AdminParams labels the signatures of admin requests (a purge) where peer
// requests carry their chunk parameters, so that neither kind can be
// replayed as the other.
const AdminParams = "edgecache-admin;v1"

// AdminFrom is the X-Edgecache-From of admin requests: they come from an
// operator, not from a member.
const AdminFrom = "admin"

var (
	// ErrAuth is a request whose signature, clock or nonce is refused.
	ErrAuth = errors.New("peer request not authenticated")
	// ErrMismatch is a request from a member with other chunk parameters.
	ErrMismatch = errors.New("peer runs with other chunk parameters")
)

// ClusterParams names the parameters peers must agree on, which every
// request states and signs.
func ClusterParams(chunkSize int64, k, m int) string {
	return fmt.Sprintf("v1;chunk=%d;k=%d;m=%d", chunkSize, k, m)
}

// Auth signs and checks requests under one set of parameters: it signs
// with one secret and accepts requests signed with it or with the other
// secrets it was given, so that a cluster can change its secret without
// its members refusing each other (docs/design.md, "Rotating the cluster
// secret").
type Auth struct {
	secrets [][]byte // secrets[0] signs; each one verifies
	params  string   // ClusterParams, or AdminParams
	skew    time.Duration
	now     func() time.Time

	nonces nonceCache
}

// NewAuth returns the signer and checker of requests under secret and
// params; a request is accepted within skew of now, once. Requests signed
// with one of the accepted secrets pass too; Auth never signs with them.
func NewAuth(secret []byte, params string, skew time.Duration, now func() time.Time, accepted ...[]byte) *Auth {
	return &Auth{
		secrets: append([][]byte{secret}, accepted...),
		params:  params,
		skew:    skew,
		now:     now,
		nonces:  nonceCache{skew: int64(skew / time.Second), buckets: map[int64]map[nonce]struct{}{}},
	}
}

// Params are the parameters this Auth signs and requires.
func (a *Auth) Params() string { return a.params }

func (a *Auth) mac(secret, method, uri, ts, nonce, from []byte, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	for _, part := range [][]byte{method, uri, ts, nonce, from, []byte(a.params)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	h.Write(body)
	return h.Sum(nil)
}

// Sign stamps a request that is ready to send: method, request URI (path
// and query, as the receiver will see them) and body, from the sender
// named from. set receives each header of the signature.
func (a *Auth) Sign(method, requestURI []byte, from string, body []byte, set func(name, value string)) {
	var nb nonce
	_, _ = rand.Read(nb[:])
	nonce := hex.EncodeToString(nb[:])
	ts := strconv.FormatInt(a.now().Unix(), 10)
	set(HdrTime, ts)
	set(HdrNonce, nonce)
	set(HdrCluster, a.params)
	set(HdrFrom, from)
	set(HdrSig, hex.EncodeToString(a.mac(a.secrets[0], method, requestURI, []byte(ts), []byte(nonce), []byte(from), body)))
}

// SignRequest signs a fasthttp request, body included.
func (a *Auth) SignRequest(req *fasthttp.Request, from string) {
	a.Sign(req.Header.Method(), req.URI().RequestURI(), from, req.Body(), req.Header.Set)
}

// Verify checks a received request, given its method, request URI, a
// lookup of its headers and its body. A request without a signature is
// refused as unauthenticated (ErrAuth), whatever else it carries. A signed
// one has its parameters checked first, so that a misconfigured member
// learns why it is refused (ErrMismatch); then the signature, under any
// accepted secret, the clock and the nonce (ErrAuth).
func (a *Auth) Verify(method, requestURI []byte, header func(name string) []byte, body []byte) error {
	if len(header(HdrSig)) == 0 {
		return fmt.Errorf("%w: unsigned request (only members of this cluster, signing with its secret, are answered)", ErrAuth)
	}
	if p := string(header(HdrCluster)); p != a.params {
		return fmt.Errorf("%w: it has %q, this edge has %q", ErrMismatch, p, a.params)
	}
	ts, nonceHex, from := header(HdrTime), header(HdrNonce), header(HdrFrom)
	sig, err := hex.DecodeString(string(header(HdrSig)))
	var n nonce
	if err != nil || len(sig) != sha256.Size || hex.DecodedLen(len(nonceHex)) != len(n) {
		return fmt.Errorf("%w: missing or malformed signature", ErrAuth)
	}
	if _, err := hex.Decode(n[:], nonceHex); err != nil {
		return fmt.Errorf("%w: malformed nonce", ErrAuth)
	}
	if !a.signedByAny(sig, method, requestURI, ts, nonceHex, from, body) {
		return fmt.Errorf("%w: bad signature (is the cluster secret the same?)", ErrAuth)
	}
	sec, err := strconv.ParseInt(string(ts), 10, 64)
	now := a.now()
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrAuth)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > a.skew || d < -a.skew {
		return fmt.Errorf("%w: timestamp %s off by %s (expired, or clocks differ)", ErrAuth, ts, d.Round(time.Second))
	}
	if !a.nonces.add(sec, n, now.Unix()) {
		return fmt.Errorf("%w: replayed request", ErrAuth)
	}
	return nil
}

// signedByAny reports whether sig is the request's HMAC under one of the
// accepted secrets. Every secret is tried, so that the time taken does not
// say which one matched.
func (a *Auth) signedByAny(sig, method, uri, ts, nonce, from, body []byte) bool {
	ok := false
	for _, secret := range a.secrets {
		if hmac.Equal(sig, a.mac(secret, method, uri, ts, nonce, from, body)) {
			ok = true
		}
	}
	return ok
}

// VerifyRequest checks a fasthttp request as it was received.
func (a *Auth) VerifyRequest(req *fasthttp.Request) error {
	return a.Verify(req.Header.Method(), req.URI().RequestURI(), req.Header.Peek, req.Body())
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
