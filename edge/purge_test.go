package edge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
)

// adminPurge asks n's admin listener to purge path, signed with secret at
// now (nil secret: unsigned), and returns the answer.
func adminPurge(t *testing.T, n *Node, path string, secret []byte, now time.Time) (response, PurgeResult) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+n.AdminAddr()+"/purge?path="+url.QueryEscape(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if secret != nil {
		SignAdminRequest(req, nil, secret, now)
	}
	return sendPurge(t, req)
}

func sendPurge(t *testing.T, req *http.Request) (response, PurgeResult) {
	t.Helper()
	hdr := req.Header.Clone()
	res := do(t, req.Method, req.URL.String(), hdr)
	var pr PurgeResult
	if strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(res.body, &pr); err != nil {
			t.Fatalf("purge answer: %v\n%s", err, res.body)
		}
	}
	return res, pr
}

// The key a purge computes for a path is the key a client request for the
// same path is served under, byte for byte: both parsed by fasthttp from
// the request line, as the client listener receives it.
func TestPurgeKeyMatchesClientKey(t *testing.T) {
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		key, ok := requestKey(ctx)
		if !ok {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			return
		}
		ctx.SetBodyString(key)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	for _, p := range []string{
		"/a.mp4", "/v/a%20b.mp4", "/v/../x.mp4", "/a/./b/", "/x.mp4?q=1&r=%2F", "/x.mp4?", "/%7Euser/f",
		"/caf\xc3\xa9.mp4", "/a%2Fb", "//double//slash", "/a%3Fb", "/a;b=c,d", "/%2e%2e/%2e%2e/etc", "/p?x=a+b&y=%20",
	} {
		conn, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: edge\r\n\r\n", p)
		var resp fasthttp.Response
		if err := resp.Read(bufio.NewReader(conn)); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		conn.Close()
		key, ok := purgeKey(p)
		clientOK := resp.StatusCode() == fasthttp.StatusOK
		if ok != clientOK || (ok && key != string(resp.Body())) {
			t.Errorf("%q: purge key %q (ok %v), client key %q (status %d)", p, key, ok, resp.Body(), resp.StatusCode())
		}
	}
	for _, p := range []string{"", "a.mp4", "http://x/a.mp4"} {
		if _, ok := purgeKey(p); ok {
			t.Errorf("purgeKey(%q) accepted a path without a leading /", p)
		}
	}
}

// The admin purge endpoint refuses what it must, each with its reason.
func TestPurgeAuth(t *testing.T) {
	org := newTestOrigin(t)
	org.put("/a.mp4", &testObject{data: []byte("hello"), etag: `"a"`, modTime: confModTime})
	clock := time.Now()
	n := startNode(t, org.URL(), func(c *Config) {
		c.ClusterSecret = testSecret
		c.Now = func() time.Time { return clock }
	})
	base := "http://" + n.AdminAddr() + "/purge?path=%2Fa.mp4"
	refused := func(name string, req *http.Request, status int, reason string) {
		t.Helper()
		res, _ := sendPurge(t, req)
		if res.status != status || !strings.Contains(string(res.body), reason) {
			t.Errorf("%s: %d %q; want %d with %q", name, res.status, res.body, status, reason)
		}
	}
	post := func(target string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, target, nil)
		return req
	}

	refused("unsigned", post(base), http.StatusUnauthorized, "not signed")
	bad := post(base)
	SignAdminRequest(bad, nil, []byte("another-secret-altogether"), clock)
	refused("other secret", bad, http.StatusUnauthorized, "bad signature")
	moved := post(base)
	SignAdminRequest(moved, nil, testSecret, clock)
	moved.URL.RawQuery = "path=%2Fb.mp4" // a signature for /a.mp4 does not purge /b.mp4
	refused("other path", moved, http.StatusUnauthorized, "bad signature")
	old := post(base)
	SignAdminRequest(old, nil, testSecret, clock.Add(-2*time.Minute))
	refused("expired", old, http.StatusUnauthorized, "timestamp")
	// A peer request's signature, under the cluster's chunk parameters,
	// is not an admin signature.
	peerSigned := post(base)
	n.auth.Sign([]byte(http.MethodPost), []byte("/purge?path=%2Fa.mp4"), "127.0.0.1:1", nil, peerSigned.Header.Set)
	refused("peer signature", peerSigned, http.StatusUnauthorized, "not an admin signature")
	noPath := post("http://" + n.AdminAddr() + "/purge")
	SignAdminRequest(noPath, nil, testSecret, clock)
	refused("no path", noPath, http.StatusBadRequest, "missing path")
	relative := post("http://" + n.AdminAddr() + "/purge?path=a.mp4")
	SignAdminRequest(relative, nil, testSecret, clock)
	refused("relative path", relative, http.StatusBadRequest, "must start with /")
	if res := do(t, http.MethodGet, base, nil); res.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /purge: %d, want 405", res.status)
	}

	once := post(base)
	SignAdminRequest(once, nil, testSecret, clock)
	replay := once.Clone(once.Context())
	res, pr := sendPurge(t, once)
	if res.status != http.StatusOK || !pr.AllConfirmed() || pr.Key != "/a.mp4" || pr.Path != "/a.mp4" || len(pr.Members) != 1 || !pr.Members[0].Self {
		t.Fatalf("signed purge: %d %s", res.status, res.body)
	}
	refused("replayed", replay, http.StatusUnauthorized, "replayed")

	// Without a secret there is nothing to check a signature against.
	open := startNode(t, org.URL(), nil)
	if res, _ := adminPurge(t, open, "/a.mp4", testSecret, time.Now()); res.status != http.StatusForbidden {
		t.Errorf("purge on an edge without a secret: %d %s, want 403", res.status, res.body)
	}
}

// storeHolds reports whether n holds any whole chunk or shard of the
// given chunks of one version.
func storeHolds(n *Node, keys []chunk.Key) bool {
	for _, k := range keys {
		if n.eng.Store().Contains(engine.ChunkEntry(k)) {
			return true
		}
		for i := range n.eng.Codec().Total() {
			if n.eng.Store().Contains(engine.ShardEntry(k, i)) {
				return true
			}
		}
	}
	return false
}

// A purge on a cluster drops the object everywhere: afterwards no member
// serves the old bytes, whether the origin changed the object or not, and
// the origin sees one request per chunk (and one metadata request) for the
// whole cluster.
func TestPurgeCluster(t *testing.T) {
	for _, changed := range []bool{false, true} {
		t.Run(fmt.Sprintf("origin changed=%v", changed), func(t *testing.T) {
			org := newTestOrigin(t)
			const chunks = 4
			path := "/p.mp4"
			data := putMovie(org, path, chunks)
			c := startCluster(t, org.URL(), 4, nil)
			for _, n := range c.nodes {
				for idx := range chunks {
					readChunk(t, n, path, data, idx)
				}
			}
			c.settle()
			o, err := lookupObject(c.nodes[0], t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			var oldKeys []chunk.Key
			for idx := range int64(chunks) {
				oldKeys = append(oldKeys, o.ChunkKey(idx))
			}
			held := 0
			for _, n := range c.nodes {
				if storeHolds(n, oldKeys) {
					held++
				}
			}
			if held < 2 {
				t.Fatalf("only %d members hold the object before the purge", held)
			}
			getsBefore, perBefore := originChunkGets(org, path)
			_, headsBefore := org.counts()

			res, pr := adminPurge(t, c.nodes[1], path, testSecret, time.Now())
			if res.status != http.StatusOK || !pr.AllConfirmed() || pr.Confirmed != 4 {
				t.Fatalf("purge: %d %s", res.status, res.body)
			}
			leaders := c.nodes[0].cluster.Ring().Owners(xxhash.Sum64String(path), 2)
			if pr.Members[0].Addr != leaders[0] || pr.Members[1].Addr != leaders[1] {
				t.Errorf("purge order %v: the object's owners %v must come first", pr.Members, leaders)
			}
			entries := 0
			for _, m := range pr.Members {
				entries += m.Entries
			}
			if entries == 0 {
				t.Error("the purge reports no entry dropped")
			}
			for i, n := range c.nodes {
				if storeHolds(n, oldKeys) {
					t.Errorf("node %d still holds chunks or shards of the purged object", i)
				}
				if n.eng.HasObject(path) {
					t.Errorf("node %d still holds the purged object's metadata", i)
				}
			}

			if changed {
				data = randomBytes(rand.New(rand.NewPCG(99, 1)), len(data))
				org.put(path, &testObject{data: data, etag: `"v2"`, modTime: confModTime.Add(time.Hour)})
			}
			// Every member at once: the origin must still see one request
			// per chunk for the whole cluster.
			var wg sync.WaitGroup
			for i, n := range c.nodes {
				wg.Go(func() {
					for idx := range chunks {
						a, b := idx*clusterChunk, min((idx+1)*clusterChunk, len(data))-1
						req, _ := http.NewRequest(http.MethodGet, "http://"+n.Addr()+path, nil)
						req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", a, b))
						res, err := testClient.Do(req)
						if err != nil {
							t.Errorf("node %d chunk %d: %v", i, idx, err)
							return
						}
						body, err := io.ReadAll(res.Body)
						res.Body.Close()
						if err != nil || res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[a:b+1]) {
							t.Errorf("node %d chunk %d after the purge: %d, %v, current bytes=%v", i, idx, res.StatusCode, err, bytes.Equal(body, data[a:b+1]))
						}
					}
				})
			}
			wg.Wait()
			getsAfter, perAfter := originChunkGets(org, path)
			if getsAfter-getsBefore != chunks {
				t.Errorf("origin served %d chunk reads after the purge, want %d", getsAfter-getsBefore, chunks)
			}
			for rng, v := range perAfter {
				if v-perBefore[rng] != 1 {
					t.Errorf("origin served %s %d times after the purge, want once", rng, v-perBefore[rng])
				}
			}
			if _, heads := org.counts(); heads != headsBefore {
				t.Errorf("origin answered %d HEADs after the purge, want none", heads-headsBefore)
			}
		})
	}
}

// A member that does not answer is reported, and the purge answers 502.
func TestPurgeReportsFailedMember(t *testing.T) {
	org := newTestOrigin(t)
	data := putMovie(org, "/f.mp4", 2)
	dead := "127.0.0.1:1" // nothing listens on port 1
	c := &testCluster{extra: []string{dead}}
	for range 3 {
		c.addNode(t, org.URL(), nil)
	}
	c.sync(t)
	readChunk(t, c.nodes[0], "/f.mp4", data, 0)
	res, pr := adminPurge(t, c.nodes[0], "/f.mp4", testSecret, time.Now())
	if res.status != http.StatusBadGateway || pr.AllConfirmed() || pr.Confirmed != 3 || pr.Failed != 1 || len(pr.Members) != 4 {
		t.Fatalf("purge with a dead member: %d %s", res.status, res.body)
	}
	for _, m := range pr.Members {
		if (m.Addr == dead) == m.Confirmed || (m.Addr == dead && m.Error == "") {
			t.Errorf("member %+v", m)
		}
	}
}

// gatedOrigin holds the first request for one path whose Range starts
// with rangePrefix until released.
type gatedOrigin struct {
	*testOrigin
	path, rangePrefix string
	arrived           chan struct{}
	release           chan struct{}
	once              sync.Once
}

func (g *gatedOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == g.path && strings.HasPrefix(r.Header.Get("Range"), g.rangePrefix) {
		g.once.Do(func() {
			close(g.arrived)
			<-g.release
		})
	}
	g.testOrigin.ServeHTTP(w, r)
}

// A lookup (the first chunk's GET, which says what the object is) or a
// later chunk's fill that a purge overtakes still answers the request that
// waited for it, but leaves nothing behind: the next request goes to the
// origin again, once per chunk, and then it is cached again.
func TestPurgeFencesWorkInFlight(t *testing.T) {
	const cs = 64 << 10
	for _, c := range []struct {
		name, rangePrefix string
	}{{"lookup", "bytes=0-"}, {"fill", "bytes=65536-"}} {
		t.Run(c.name, func(t *testing.T) {
			org := newTestOrigin(t)
			data := []byte(strings.Repeat("purge me ", 2*cs/9+1))[:cs+cs/2]
			org.put("/slow.mp4", &testObject{data: data, etag: `"s"`, modTime: confModTime})
			g := &gatedOrigin{testOrigin: org, path: "/slow.mp4", rangePrefix: c.rangePrefix, arrived: make(chan struct{}), release: make(chan struct{})}
			front := httptest.NewServer(g)
			t.Cleanup(front.Close)
			n := startNode(t, front.URL, func(c *Config) { c.ClusterSecret = testSecret; c.ChunkSize = cs; c.ReadaheadNext = 0 })

			got := make(chan response, 1)
			go func() { got <- do(t, http.MethodGet, "http://"+n.Addr()+"/slow.mp4", nil) }()
			<-g.arrived
			if res, _ := adminPurge(t, n, "/slow.mp4", testSecret, time.Now()); res.status != http.StatusOK {
				t.Fatalf("purge: %d %s", res.status, res.body)
			}
			close(g.release)
			if res := <-got; res.status != http.StatusOK || !bytes.Equal(res.body, data) {
				t.Fatalf("the request the purge overtook: %d, identical=%v", res.status, bytes.Equal(res.body, data))
			}
			n.eng.Settle()
			if c.name == "lookup" && n.eng.HasObject("/slow.mp4") {
				t.Error("the overtaken lookup was kept")
			}
			if n.eng.Store().Len() != 0 {
				t.Errorf("what the purge overtook was kept: %d entries", n.eng.Store().Len())
			}
			gets, _ := org.counts()
			if res := do(t, http.MethodGet, "http://"+n.Addr()+"/slow.mp4", nil); res.status != http.StatusOK || !bytes.Equal(res.body, data) {
				t.Fatalf("after the purge: %d", res.status)
			}
			gets2, _ := org.counts()
			// The lookup's purge leaves nothing: two chunks, two GETs. The
			// fill's leaves the object known, so its chunks are read again.
			if gets2-gets != 2 {
				t.Errorf("origin GETs after the purge: %d, want 2", gets2-gets)
			}
			// And then it is cached again.
			do(t, http.MethodGet, "http://"+n.Addr()+"/slow.mp4", nil)
			if gets3, _ := org.counts(); gets3 != gets2 {
				t.Errorf("the object is not cached again after the purge: %d origin requests more", gets3-gets2)
			}
		})
	}
}

// BenchmarkPurge_100kEntries drops one object (100 chunks) from a store of
// 100,000 entries: by the store's index by object, as a purge does, and,
// for comparison, by a scan of every key (Store.RemoveFunc), which holds the
// store's lock, and so every hit, while it copies the keys. ns/purge is the
// drop alone; refilling the object between purges is not counted.
func BenchmarkPurge_100kEntries(b *testing.B) {
	org := newTestOrigin(b)
	n := startNode(b, org.URL(), func(c *Config) { c.CacheSize = 1 << 30 })
	const objects, perObject = 1000, 100
	val := make([]byte, 64)
	keyOf := func(o, i int) chunk.Key {
		return chunk.Key{Object: fmt.Sprintf("/video/%04d.mp4", o), Version: `e:"v1"`, Index: int64(i)}
	}
	for o := range objects {
		for i := range perObject {
			n.eng.Store().Add(engine.ChunkEntry(keyOf(o, i)), val)
		}
	}
	if n.eng.Store().Len() != objects*perObject {
		b.Fatalf("store holds %d entries", n.eng.Store().Len())
	}
	for _, bc := range []struct {
		name string
		drop func(object string) int
	}{
		{"index", func(object string) int { _, entries := n.eng.Purge(object); return entries }},
		{"scan", func(object string) int {
			return n.eng.Store().RemoveFunc(func(k engine.StoreKey) bool { return k.Object == object })
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var spent time.Duration
			i := 0
			for b.Loop() {
				o := i % objects
				i++
				t0 := time.Now()
				dropped := bc.drop(keyOf(o, 0).Object)
				spent += time.Since(t0)
				if dropped != perObject {
					b.Fatalf("dropped %d entries, want %d", dropped, perObject)
				}
				for j := range perObject {
					n.eng.Store().Add(engine.ChunkEntry(keyOf(o, j)), val)
				}
			}
			b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N), "ns/purge")
		})
	}
}
