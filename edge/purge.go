package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
	"github.com/valyala/fasthttp"
)

// A purge drops every version of one object (its metadata, whole chunks and
// shard frames) on every member of the ring. An operator asks any edge's
// admin listener (POST /purge?path=P, signed with the cluster secret); that
// edge drops its own copy and tells every other member over the peer
// protocol (POST /peer/v1/purge).
//
// Ordering. An edge learns an object's metadata from the object's first two
// ring owners (the engine asks them). Were a member purged before them, it could
// fetch the old metadata back from an owner not yet purged and keep serving
// the old version. So the fan-out purges owner 0, then owner 1, then every
// other member at once; after the owners, any metadata handed out is fresh
// from the origin.
//
// Work in flight. A lookup or a fill that began before a purge may finish
// after it: the engine's purge fence (engine.Fence) keeps it from storing
// anything, so a fill overtaken by a purge still answers the requests that
// waited for it but leaves nothing behind.
//
// What is not fenced: a shard push a leader started just before it was
// purged may land on an owner purged a moment earlier. Those shards name
// their version: if the origin changed, no metadata refers to that version
// any more and the LRU ages them out; if it did not, they hold the current
// bytes. Either way no member serves bytes the origin no longer has.

// PurgeMember is what one member did with a purge.
type PurgeMember struct {
	Addr      string `json:"addr"`            // the member's peer address on the ring
	Self      bool   `json:"self,omitempty"`  // the edge that received the purge
	Confirmed bool   `json:"confirmed"`       // it dropped the object and said so
	Metadata  bool   `json:"metadata"`        // it held the object's metadata
	Entries   int    `json:"entries"`         // whole chunks and shard frames it dropped
	Error     string `json:"error,omitempty"` // why it did not confirm
}

// PurgeResult is the JSON answer of POST /purge on the admin listener. Its
// status is 200 when every member of the ring confirmed, else 502; either
// way the body lists every member. A purge is idempotent: repeat it when a
// member failed.
type PurgeResult struct {
	Path      string        `json:"path"`      // the path as given
	Key       string        `json:"key"`       // the object key it names, as client requests compute it
	Members   []PurgeMember `json:"members"`   // every member of the receiving edge's ring, in purge order
	Confirmed int           `json:"confirmed"` // members that confirmed
	Failed    int           `json:"failed"`    // members that did not
}

// AllConfirmed reports whether every member confirmed the purge.
func (r PurgeResult) AllConfirmed() bool { return r.Failed == 0 && r.Confirmed == len(r.Members) }

// purge drops key on every member of the ring: the object's two metadata
// owners first, one after the other, then every other member at once (see
// the ordering note above). Each peer gets PeerTimeout.
func (n *Node) purge(key string) PurgeResult {
	r := n.cluster.Ring()
	first := r.Owners(xxhash.Sum64String(key), 2)
	var rest []string
	for _, m := range r.Members() {
		if !slices.Contains(first, m.Addr) {
			rest = append(rest, m.Addr)
		}
	}
	res := PurgeResult{Key: key}
	one := func(addr string) PurgeMember {
		pm := PurgeMember{Addr: addr, Self: addr == n.cluster.Self()}
		var a peerwire.PurgeAnswer
		var err error
		if pm.Self {
			a.Metadata, a.Entries = n.eng.Purge(key)
		} else {
			a, err = n.peers.Purge(addr, key)
			n.cluster.Blame(err)
		}
		if err != nil {
			pm.Error = err.Error()
		} else {
			pm.Confirmed, pm.Metadata, pm.Entries = true, a.Metadata, a.Entries
		}
		return pm
	}
	for _, addr := range first {
		res.Members = append(res.Members, one(addr))
	}
	others := make([]PurgeMember, len(rest))
	var wg sync.WaitGroup
	for i, addr := range rest {
		wg.Go(func() { others[i] = one(addr) })
	}
	wg.Wait()
	res.Members = append(res.Members, others...)
	for _, m := range res.Members {
		if m.Confirmed {
			res.Confirmed++
		} else {
			res.Failed++
		}
	}
	return res
}

// purgeKey returns the object key a client request for path (with its
// query, if any) is served under: the same parse and the same requestKey
// as the client listener, so that a purge names exactly what players get.
func purgeKey(path string) (string, bool) {
	if path == "" || path[0] != '/' {
		return "", false
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetHost("edge")
	ctx.Request.SetRequestURI(path)
	key, ok := requestKey(&ctx)
	return strings.Clone(key), ok // requestKey may alias ctx's buffers
}

// serveAdminPurge is POST /purge?path=P on the admin listener. The request
// must be signed with the cluster secret (SignAdminRequest; `edgecache
// purge` does it): 401 otherwise, with the reason. 400 for a missing or
// unusable path. Then 200 if every member confirmed, else 502; the body is
// a PurgeResult either way.
func (n *Node) serveAdminPurge(w http.ResponseWriter, r *http.Request) {
	if len(n.cfg.ClusterSecret) == 0 {
		http.Error(w, "purge is disabled: this edge has no cluster secret to authenticate it (--cluster-secret-file or EDGECACHE_CLUSTER_SECRET)", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := n.verifyAdmin(r, body); err != nil {
		n.log.Warn("admin request refused", "remote", r.RemoteAddr, "uri", r.RequestURI, "err", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	path := r.URL.Query().Get("path")
	if path == "" {
		http.Error(w, "missing path: POST /purge?path=/the/object (URL-encoded, query included)", http.StatusBadRequest)
		return
	}
	key, ok := purgeKey(path)
	if !ok {
		http.Error(w, "the path must start with / and name an object as a client request would", http.StatusBadRequest)
		return
	}
	res := n.purge(key)
	res.Path = path
	status := http.StatusOK
	if !res.AllConfirmed() {
		status = http.StatusBadGateway
		n.log.Warn("purge not confirmed by every member", "key", key, "confirmed", res.Confirmed, "failed", res.Failed)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

var errAdminAuth = errors.New("admin request not authenticated")

// newAdminAuth returns the signer and checker of admin requests: the peer
// protocol's HMAC, timestamp and nonce checks, under their own label. It
// signs with secret and accepts the accepted secrets too.
func newAdminAuth(secret []byte, now func() time.Time, accepted ...[]byte) *peerwire.Auth {
	return peerwire.NewAuth(secret, peerwire.AdminParams, time.Minute, now, accepted...)
}

// verifyAdmin checks an admin request's signature, clock and nonce with the
// peer protocol's checks.
func (n *Node) verifyAdmin(r *http.Request, body []byte) error {
	switch {
	case r.Header.Get(peerwire.HdrSig) == "":
		return fmt.Errorf("%w: not signed (sign it with the cluster secret, as `edgecache purge` does)", errAdminAuth)
	case r.Header.Get(peerwire.HdrCluster) != peerwire.AdminParams:
		return fmt.Errorf("%w: not an admin signature (%s %q)", errAdminAuth, peerwire.HdrCluster, r.Header.Get(peerwire.HdrCluster))
	}
	header := func(name string) []byte { return []byte(r.Header.Get(name)) }
	if err := n.adminAuth.Verify([]byte(r.Method), []byte(r.RequestURI), header, body); err != nil {
		return fmt.Errorf("%w: %w", errAdminAuth, err)
	}
	return nil
}

// SignAdminRequest signs req, a request to an edge's admin listener such as
// POST /purge, with the cluster secret: an HMAC-SHA256 of its method,
// request URI, a timestamp (now), a random nonce and body, as peer requests
// are signed but under a label of its own, so that a captured admin request
// cannot be replayed as a peer request or the other way round. body must be
// exactly what req sends (nil for none). An edge accepts the signature once,
// within a minute of now by its own clock.
func SignAdminRequest(req *http.Request, body, secret []byte, now time.Time) {
	a := newAdminAuth(secret, func() time.Time { return now })
	a.Sign([]byte(req.Method), []byte(req.URL.RequestURI()), peerwire.AdminFrom, body, req.Header.Set)
}
