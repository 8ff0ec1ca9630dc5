package edge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// Bad peers: outsiders, misconfigured members and members that answer
// wrongly. Each is refused, detected or skipped, counted in a metric and
// logged, and never changes the bytes a client receives. docs/hostile.md
// lists them.

// sendPeer sends one request to a node's peer listener, signed by auth
// when auth is not nil, and returns the status and body.
func sendPeer(t *testing.T, n *Node, auth *peerwire.Auth, method, uri string, body []byte) (int, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + n.PeerAddr() + uri)
	req.Header.SetMethod(method)
	if body != nil {
		req.SetBodyRaw(body)
	}
	if auth != nil {
		auth.SignRequest(req, "127.0.0.1:1")
	}
	if err := fasthttp.DoTimeout(req, resp, waitBound); err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	return resp.StatusCode(), string(resp.Body())
}

// sendUnsigned sends a ping that states the chunk parameters params but
// carries no signature.
func sendUnsigned(t *testing.T, n *Node, params string) (int, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + n.PeerAddr() + peerwire.PingPath)
	req.Header.Set(peerwire.HdrCluster, params)
	if err := fasthttp.DoTimeout(req, resp, waitBound); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Body())
}

// Requests without credentials, with bad ones, or signed by a member with
// other chunk parameters, are refused with 401 or (only the last) 409 and
// a reason, counted in
// edgecache_peer_refused_total and logged; the node serves clients as
// before.
func TestHostilePeerRequestsRefused(t *testing.T) {
	org := newTestOrigin(t)
	data := putMovie(org, "/p.mp4", 2)
	logs := &logCapture{}
	c := startCluster(t, org.URL(), 2, func(cfg *Config) { cfg.Logger = slog.New(logs) })
	n := c.nodes[0]
	auth := func(secret []byte, chunkSize int64, k, m int, skew time.Duration) *peerwire.Auth {
		return peerwire.NewAuth(secret, peerwire.ClusterParams(chunkSize, k, m), time.Minute, func() time.Time { return time.Now().Add(skew) })
	}
	good := auth(testSecret, clusterChunk, 4, 2, 0)
	cases := []struct {
		name   string
		send   func() (int, string)
		status int
		reason string
	}{
		{"no credentials at all", func() (int, string) {
			return sendPeer(t, n, nil, "GET", peerwire.PingPath, nil)
		}, 401, "unsigned request"},
		{"unsigned with the cluster header", func() (int, string) {
			return sendUnsigned(t, n, good.Params())
		}, 401, "unsigned request"},
		{"unsigned with other chunk parameters", func() (int, string) {
			return sendUnsigned(t, n, peerwire.ClusterParams(2*clusterChunk, 4, 2))
		}, 401, "unsigned request"},
		{"signed, garbage signature", func() (int, string) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + n.PeerAddr() + peerwire.PingPath)
			good.SignRequest(req, "127.0.0.1:1")
			req.Header.Set(peerwire.HdrSig, "zz")
			if err := fasthttp.DoTimeout(req, resp, waitBound); err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode(), string(resp.Body())
		}, 401, "malformed signature"},
		{"another secret", func() (int, string) {
			return sendPeer(t, n, auth([]byte("not-the-cluster-secret-at-all"), clusterChunk, 4, 2, 0), "GET", peerwire.PingPath, nil)
		}, 401, "bad signature"},
		{"other chunk size", func() (int, string) {
			return sendPeer(t, n, auth(testSecret, 2*clusterChunk, 4, 2, 0), "GET", peerwire.PingPath, nil)
		}, 409, "other chunk parameters"},
		{"other k and m", func() (int, string) {
			return sendPeer(t, n, auth(testSecret, clusterChunk, 3, 3, 0), "GET", peerwire.PingPath, nil)
		}, 409, "other chunk parameters"},
		{"expired", func() (int, string) {
			return sendPeer(t, n, auth(testSecret, clusterChunk, 4, 2, -5*time.Minute), "GET", peerwire.PingPath, nil)
		}, 401, "expired"},
		{"from the future", func() (int, string) {
			return sendPeer(t, n, auth(testSecret, clusterChunk, 4, 2, 5*time.Minute), "GET", peerwire.PingPath, nil)
		}, 401, "clocks differ"},
		{"replayed", func() (int, string) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + n.PeerAddr() + peerwire.PingPath)
			good.SignRequest(req, "127.0.0.1:1")
			for range 2 {
				if err := fasthttp.DoTimeout(req, resp, waitBound); err != nil {
					t.Fatal(err)
				}
			}
			return resp.StatusCode(), string(resp.Body())
		}, 401, "replayed"},
		{"body swapped after signing", func() (int, string) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + n.PeerAddr() + peerwire.FillPath)
			req.Header.SetMethod("POST")
			req.SetBodyString(`{"key":"a"}`)
			good.SignRequest(req, "127.0.0.1:1")
			req.SetBodyString(`{"key":"b"}`)
			if err := fasthttp.DoTimeout(req, resp, waitBound); err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode(), string(resp.Body())
		}, 401, "bad signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := scrape(t, n).sum(t, "edgecache_peer_refused_total")
			status, body := tc.send()
			if status != tc.status || !strings.Contains(body, tc.reason) {
				t.Errorf("%d %q; want %d with %q", status, body, tc.status, tc.reason)
			}
			if after := scrape(t, n).sum(t, "edgecache_peer_refused_total"); after <= before {
				t.Errorf("edgecache_peer_refused_total went from %v to %v", before, after)
			}
		})
	}
	if !logs.has(slog.LevelWarn, "peer request refused") {
		t.Error("no refusal was logged")
	}
	// A signed request of the right cluster is answered.
	if status, body := sendPeer(t, n, good, "GET", peerwire.PingPath, nil); status != 204 {
		t.Errorf("a member's ping: %d %q", status, body)
	}
	for _, node := range c.nodes {
		readChunk(t, node, "/p.mp4", data, 1)
	}
}

// A member that pushes a shard of other chunk parameters, or a frame that
// fails its checksum, is refused (409, 400), counted as a corrupt shard and
// logged; nothing of it is stored.
func TestHostilePeerPushesBadShards(t *testing.T) {
	org := newTestOrigin(t)
	logs := &logCapture{}
	c := startCluster(t, org.URL(), 2, func(cfg *Config) { cfg.Logger = slog.New(logs) })
	n := c.nodes[0]
	good := peerwire.NewAuth(testSecret, peerwire.ClusterParams(clusterChunk, 4, 2), time.Minute, time.Now)
	key := chunk.Key{Object: "/x.mp4", Version: "e:\"x\"", Index: 0}
	frame := func(k, m int, chunkLen int) []byte {
		codec, err := chunk.NewCodec(k, m)
		if err != nil {
			t.Fatal(err)
		}
		shards, err := codec.Encode(key, make([]byte, chunkLen))
		if err != nil {
			t.Fatal(err)
		}
		return shards[0].AppendFrame(nil)
	}
	corrupt := frame(4, 2, 1000)
	corrupt[len(corrupt)-1] ^= 1
	for _, tc := range []struct {
		name   string
		frame  []byte
		status int
		reason string
		log    string
	}{
		{"other k and m", frame(3, 3, 1000), 409, "chunk parameters", "shard of other chunk parameters"},
		{"chunk larger than the cluster's", frame(4, 2, 2*clusterChunk), 409, "chunk parameters", "shard of other chunk parameters"},
		{"corrupt", corrupt, 400, "bad shard frame", "bad shard frame"},
		{"garbage", []byte("not a frame at all"), 400, "bad shard frame", "bad shard frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := scrape(t, n).sum(t, "edgecache_shards_corrupt_total")
			status, body := sendPeer(t, n, good, "PUT", peerwire.ShardsPath, tc.frame)
			if status != tc.status || !strings.Contains(body, tc.reason) {
				t.Errorf("%d %q; want %d with %q", status, body, tc.status, tc.reason)
			}
			if after := scrape(t, n).sum(t, "edgecache_shards_corrupt_total"); after != before+1 {
				t.Errorf("edgecache_shards_corrupt_total went from %v to %v", before, after)
			}
			if !logs.has(slog.LevelWarn, tc.log) {
				t.Errorf("no warning %q", tc.log)
			}
			if n.Stats().CacheShards != 0 {
				t.Error("a refused shard was stored")
			}
		})
	}
}

// A flood of requests from outside, and bodies larger than any peer
// message, are refused and counted without costing the node its service:
// a body over the limit is refused from its announced length, and a
// chunked one as soon as it passes the limit, never buffered whole.
func TestHostilePeerFlood(t *testing.T) {
	org := newTestOrigin(t)
	data := putMovie(org, "/fl.mp4", 2)
	logs := &logCapture{}
	c := startCluster(t, org.URL(), 2, func(cfg *Config) { cfg.Logger = slog.New(logs) })
	n := c.nodes[0]
	const flood = 2000
	var wg sync.WaitGroup
	var refused atomic.Int64
	for w := range 32 {
		wg.Go(func() {
			hc := &fasthttp.Client{}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := w; i < flood; i += 32 {
				req.SetRequestURI("http://" + n.PeerAddr() + peerwire.ShardsPath + "?key=" + strconv.Itoa(i))
				if err := hc.DoTimeout(req, resp, waitBound); err != nil {
					t.Errorf("flood request: %v", err)
					return
				}
				if resp.StatusCode() == fasthttp.StatusUnauthorized {
					refused.Add(1)
				}
			}
			hc.CloseIdleConnections()
		})
	}
	wg.Wait()
	if refused.Load() != flood {
		t.Errorf("%d of %d flood requests refused", refused.Load(), flood)
	}
	if got := n.Stats().PeerRefused; got < flood {
		t.Errorf("PeerRefused %d after %d refusals", got, flood)
	}

	limit := n.peer.MaxRequestBodySize
	for _, tc := range []struct {
		name string
		head string
		body io.Reader
	}{
		{"announced", fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: p\r\nContent-Length: %d\r\n\r\n", peerwire.ShardsPath, 1<<30), nil},
		{"chunked", fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n", peerwire.ShardsPath), endlessChunks{}},
	} {
		t.Run("huge body "+tc.name, func(t *testing.T) {
			before := n.Stats().PeerRefused
			rc := dialRaw(t, n.PeerAddr())
			rc.send(t, tc.head)
			if tc.body != nil {
				// Written until the node hangs up; a write error ends it.
				go func() { _, _ = io.Copy(rc.c, tc.body) }()
			}
			out := rc.rest(t)
			want := fmt.Sprintf("request body larger than %d bytes", limit)
			if !bytes.HasPrefix(out, []byte("HTTP/1.1 413")) || !bytes.Contains(out, []byte(want)) {
				t.Errorf("answer %q; want 413 with %q", trunc(out), want)
			}
			if n.Stats().PeerRefused != before+1 {
				t.Errorf("PeerRefused went from %d to %d", before, n.Stats().PeerRefused)
			}
		})
	}
	if !logs.has(slog.LevelWarn, "peer request refused") {
		t.Error("no refusal was logged")
	}
	for _, node := range c.nodes {
		readChunk(t, node, "/fl.mp4", data, 0)
	}
}

// endlessChunks is a chunked body that never ends.
type endlessChunks struct{}

func (endlessChunks) Read(p []byte) (int, error) {
	const chunkHead = "8000\r\n"
	if len(p) < len(chunkHead)+0x8000+2 {
		return 0, io.ErrShortBuffer
	}
	n := copy(p, chunkHead)
	n += copy(p[n:], make([]byte, 0x8000))
	n += copy(p[n:], "\r\n")
	return n, nil
}

// WriteTo writes chunks until w fails, whatever buffer io.Copy would use.
func (e endlessChunks) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 6+0x8000+2)
	var total int64
	for {
		n, _ := e.Read(buf)
		m, err := w.Write(buf[:n])
		total += int64(m)
		if err != nil {
			return total, err
		}
	}
}

// A client's long path becomes a long chunk key in members' shard and
// metadata requests: the peer listener takes it, so members do not refuse
// each other or mark each other suspect for a player's URL.
func TestHostilePeerLongPath(t *testing.T) {
	org := newTestOrigin(t)
	path := "/" + strings.Repeat("\xff/", 1300) + "long.mp4" // each 0xff is 5 bytes in a query
	data := putMovie(org, path, 3)
	c := startCluster(t, org.URL(), 3, nil)
	escaped := "/" + strings.Repeat("%FF/", 1300) + "long.mp4"
	for _, n := range c.nodes {
		for idx := range 3 {
			a, b := idx*clusterChunk, min((idx+1)*clusterChunk, len(data))-1
			res := do(t, http.MethodGet, "http://"+n.Addr()+escaped, http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", a, b)}})
			if res.status != http.StatusPartialContent || !bytes.Equal(res.body, data[a:b+1]) {
				t.Fatalf("chunk %d via %s: %d %q", idx, n.Advertise(), res.status, trunc(res.body))
			}
		}
	}
	c.settle()
	for _, n := range c.nodes {
		if st := n.Stats(); st.PeerRefused != 0 || st.Suspects != 0 {
			t.Errorf("%s: %d peer requests refused, %d suspects", n.Advertise(), st.PeerRefused, st.Suspects)
		}
	}
	if got, per := originChunkGets(org, path); got != 3 {
		t.Errorf("origin chunk reads %d, want 3: %v", got, per)
	}
}

// Members that answer shard reads and fills wrongly never change the bytes
// a client receives: a corrupt shard fails the chunk's checksum and is
// dropped, frames of another chunk are skipped, a malformed or oversized
// answer is a failed read and its sender suspect, a fill whose checksum
// fails goes to the next owner. Each is counted and logged.
func TestHostilePeerAnswers(t *testing.T) {
	const chunks = 16
	for _, tc := range []struct {
		mode   string
		metric string // a counter that must rise on some node
		log    string // a warning that must be logged
		fills  bool   // shards are dropped too, so reads fill through leaders
	}{
		{"corrupt shard", "edgecache_shards_corrupt_total", "corrupt shard dropped", false},
		{"foreign key", "edgecache_shards_corrupt_total", "peer sent shards of another chunk", false},
		{"relabelled index", "edgecache_shards_corrupt_total", "shards of a chunk disagree", false},
		{"garbage list", "edgecache_peer_errors_total", "peer failed; reads ask it last", false},
		{"oversized", "edgecache_peer_errors_total", "peer failed; reads ask it last", false},
		{"wrong fill", "edgecache_peer_errors_total", "chunk leader failed", true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			org := newTestOrigin(t)
			fake := newFakePeer(t, tc.mode, 6)
			logs := &logCapture{}
			c := &testCluster{extra: []string{fake.addr()}}
			for range 3 {
				c.addNode(t, org.URL(), func(cfg *Config) { cfg.Logger = slog.New(logs) })
			}
			c.sync(t)
			path, data := ledBy(t, c, org, fake.addr(), chunks)
			c.warm(t, c.nodes[0], path, data, chunks)
			// Reads must now rebuild from shards (or, with fills, ask a
			// leader): no node keeps a decoded chunk.
			for _, n := range c.nodes {
				n.eng.Store().RemoveFunc(func(k engine.StoreKey) bool { return k.Shard == engine.WholeChunk || tc.fills })
			}
			for _, n := range c.nodes[1:] {
				for idx := range chunks {
					readChunk(t, n, path, data, idx)
				}
			}
			if !tc.fills && fake.reads.Load() == 0 {
				t.Fatal("no read asked the fake peer for shards")
			}
			var total float64
			for _, n := range c.nodes {
				total += scrape(t, n).sum(t, tc.metric)
			}
			if total == 0 {
				t.Errorf("%s did not rise", tc.metric)
			}
			if !logs.has(slog.LevelWarn, tc.log) {
				t.Errorf("no warning %q", tc.log)
			}
			c.settle()
		})
	}
}

// A member that starts answering a shard read and then hangs costs the
// read a hedge delay or two, not the peer timeout: the read asks the other
// owners once it has heard nothing from it for a hedge delay, and the
// chunk takes a buffer of its own if the hung read holds a place in it.
func TestHostilePeerStallsMidAnswer(t *testing.T) {
	const chunks = 8
	org := newTestOrigin(t)
	fake := newFakePeer(t, "stall mid-list", 6)
	c := &testCluster{extra: []string{fake.addr()}}
	for range 4 {
		// Waiting for the peer timeout would outlast the test client's
		// 20 s: every read that completes did not wait for it.
		c.addNode(t, org.URL(), func(cfg *Config) { cfg.PeerTimeout = time.Minute })
	}
	c.sync(t)
	path, data := ledBy(t, c, org, fake.addr(), chunks)
	c.warm(t, c.nodes[0], path, data, chunks)
	for _, n := range c.nodes {
		n.eng.Store().RemoveFunc(func(k engine.StoreKey) bool { return k.Shard == engine.WholeChunk })
	}
	before, _ := originChunkGets(org, path)
	for _, n := range c.nodes[1:] {
		for idx := range chunks {
			readChunk(t, n, path, data, idx)
		}
	}
	if fake.stalls.Load() == 0 {
		t.Fatal("no read met the stalling peer")
	}
	if c.total(func(s Stats) int64 { return s.Hedges }) == 0 {
		t.Error("no read was hedged")
	}
	if after, _ := originChunkGets(org, path); after != before {
		t.Errorf("origin chunk reads went from %d to %d", before, after)
	}
	c.settle()
}

// ledBy puts at the origin an object whose first chunk addr leads: addr
// owns its shards 0 and k, and every read of it asks addr first.
func ledBy(t *testing.T, c *testCluster, org *testOrigin, addr string, chunks int) (string, []byte) {
	t.Helper()
	for i := range 200 {
		path := fmt.Sprintf("/bad-%d.mp4", i)
		data := putMovie(org, path, chunks)
		o, err := lookupObject(c.nodes[0], context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		if c.nodes[0].cluster.ShardOwners(o.ChunkKey(0).Hash(), 6)[0] == addr {
			return path, data
		}
	}
	t.Fatalf("no object led by %s in 200 tries", addr)
	return "", nil
}

// An origin's header values may hold bytes that are not UTF-8 (obs-text):
// they reach clients through any member exactly as the origin sent them,
// and the ETag still names one version for the whole ring. (Sent as JSON
// strings, they came back as U+FFFD: every read through a peer failed as
// "changed".)
func TestClusterHeadersNotUTF8(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 4
	data := randomBytes(rand.New(rand.NewPCG(5, 5)), chunks*clusterChunk-7)
	etag, ctype := "\"caf\xe9\"", "video/mp4; title=\"r\xe9sum\xe9\""
	org.put("/latin1.mp4", &testObject{data: data, etag: etag, modTime: confModTime, contentType: ctype})
	logs := &logCapture{}
	c := startCluster(t, org.URL(), 3, func(cfg *Config) { cfg.Logger = slog.New(logs) })
	for _, n := range c.nodes {
		for idx := range chunks {
			res := readChunk(t, n, "/latin1.mp4", data, idx)
			if res.header.Get("ETag") != etag || res.header.Get("Content-Type") != ctype {
				t.Fatalf("via %s: ETag %q, Content-Type %q", n.Advertise(), res.header.Get("ETag"), res.header.Get("Content-Type"))
			}
		}
	}
	c.settle()
	for _, n := range c.nodes {
		if st := n.Stats(); st.PeerRefused != 0 || st.Suspects != 0 {
			t.Errorf("%s: %d peer requests refused, %d suspects", n.Advertise(), st.PeerRefused, st.Suspects)
		}
		if errs := scrape(t, n).sum(t, "edgecache_peer_errors_total"); errs != 0 {
			t.Errorf("%s: %v failed peer requests", n.Advertise(), errs)
		}
	}
	if logs.has(slog.LevelWarn, "") {
		t.Errorf("warnings logged: %q", logs.msgs)
	}
	if got, per := originChunkGets(org, "/latin1.mp4"); got != chunks {
		t.Errorf("origin chunk reads %d, want %d: %v", got, chunks, per)
	}
}
