package edge

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/internal/testorigin"
)

// The shared-cache semantics across a ring of three edges (64 KiB chunks):
// every edge answers alike whether its bytes are a HIT, a PEER rebuild or
// a MISS, and the origin is asked once for the cluster.

// Each variant is fetched once for the ring, and every edge serves the
// variant its client selects.
func TestRingVary(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/v.m3u8", testorigin.Route{Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Cache-Control", "max-age=60")
		if strings.HasPrefix(r.Header.Get("Accept-Language"), "fr") {
			w.Header().Set("Etag", `"fr"`)
			w.Write([]byte("#EXTM3U fr"))
			return
		}
		w.Header().Set("Etag", `"en"`)
		w.Write([]byte("#EXTM3U en"))
	}})
	c := startCluster(t, org.URL(), 3, nil)
	for round := range 2 {
		for i, n := range c.nodes {
			for _, lang := range []string{"en", "fr"} {
				res := getFrom(t, n, "/v.m3u8", http.Header{"Accept-Language": {lang}})
				if string(res.body) != "#EXTM3U "+lang {
					t.Errorf("round %d, edge %d, %s: %q", round, i, lang, res.body)
				}
			}
		}
		c.settle()
	}
	if got := org.Count("/v.m3u8"); got != 2 {
		t.Errorf("the origin was asked %d times, want once per variant (2)", got)
	}
}

// Status, end-to-end fields and bytes are the same on every edge, from
// the origin, a peer or memory.
func TestRingAnswersAlike(t *testing.T) {
	org := testorigin.New(t)
	body := pattern(3*64<<10 + 500)
	org.Set("/a.mp4", testorigin.Route{Body: body, Header: http.Header{
		"Etag": {`"a"`}, "Cache-Control": {"public, max-age=600"}, "Content-Type": {"video/mp4"},
		"Access-Control-Allow-Origin": {"*"}, "Link": {"</b>; rel=preload"}, "X-Media-Id": {"7"},
	}})
	c := startCluster(t, org.URL(), 3, nil)
	fields := []string{"Etag", "Cache-Control", "Content-Type", "Access-Control-Allow-Origin", "Link", "X-Media-Id", "Date", "Content-Length"}
	var first http.Header
	sources := map[string]bool{}
	for round := range 2 {
		for _, n := range c.nodes {
			res := getFrom(t, n, "/a.mp4", nil)
			if res.status != 200 || !bytes.Equal(res.body, body) {
				t.Fatalf("round %d via %s: %d, identical=%v", round, n.Advertise(), res.status, bytes.Equal(res.body, body))
			}
			sources[res.header.Get("X-Cache")] = true
			if first == nil {
				first = res.header
				continue
			}
			for _, f := range fields {
				if res.header.Get(f) != first.Get(f) {
					t.Errorf("via %s (%s): %s = %q, the first answer had %q", n.Advertise(), res.header.Get("X-Cache"), f, res.header.Get(f), first.Get(f))
				}
			}
		}
		c.settle()
	}
	if !sources["MISS"] || !sources["HIT"] {
		t.Errorf("answers came from %v; want MISS and HIT among them", sources)
	}
	if got := org.Count("/a.mp4"); got != 4 {
		t.Errorf("the origin was asked %d times for 4 chunks, want 4", got)
	}
}

// An origin that ignores Range sends the body once for the whole ring:
// it is cut into chunks as it flows and every reader joins that stream.
func TestRingOriginWithoutRanges(t *testing.T) {
	org := testorigin.New(t)
	body := pattern(10*64<<10 + 123)
	org.Set("/live.ts", testorigin.Route{Body: body, IgnoreRange: true, Header: http.Header{"Cache-Control": {"max-age=60"}}})
	c := startCluster(t, org.URL(), 3, nil)
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() {
			for _, rng := range []string{"", "bytes=100000-300000"} {
				res := getFrom(t, n, "/live.ts", http.Header{"Range": {rng}})
				want := body
				if rng != "" {
					want = body[100000:300001]
				}
				if !bytes.Equal(res.body, want) {
					t.Errorf("via %s, %q: %d, %d bytes", n.Advertise(), rng, res.status, len(res.body))
				}
			}
		})
	}
	wg.Wait()
	if got, sent := org.Count("/live.ts"), org.BodyBytes("/live.ts"); got != 1 || sent != int64(len(body)) {
		t.Errorf("the origin was asked %d times and sent %d bytes; want once, %d bytes", got, sent, len(body))
	}
}

// A response that may not be stored goes to the request that caused it,
// on whichever edge: every client gets its own, none gets another's.
func TestRingPrivateAnswers(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/me", testorigin.Route{Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
		w.Write([]byte("hello " + r.Header.Get("X-User")))
	}})
	c := startCluster(t, org.URL(), 3, nil)
	for round := range 2 {
		for i, n := range c.nodes {
			user := []string{"ann", "bob", "cid"}[i]
			if res := getFrom(t, n, "/me", http.Header{"X-User": {user}}); string(res.body) != "hello "+user {
				t.Errorf("round %d, %s via edge %d: %q", round, user, i, res.body)
			}
		}
	}
	if got := org.Count("/me"); got != 6 {
		t.Errorf("the origin was asked %d times, want once per request (6)", got)
	}
}

// A success of an unsafe method on one edge invalidates the target on
// every edge.
func TestRingInvalidation(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/doc", testorigin.Route{Handler: func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write([]byte("doc"))
	}})
	c := startCluster(t, org.URL(), 3, nil)
	for _, n := range c.nodes {
		getFrom(t, n, "/doc", nil)
	}
	if res := do(t, http.MethodDelete, "http://"+c.nodes[2].Addr()+"/doc", nil); res.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d", res.status)
	}
	waitFor(t, "every edge to drop /doc", func() bool {
		for _, n := range c.nodes {
			if n.eng.HasObject("/doc") {
				return false
			}
		}
		return true
	})
	before := org.Count("/doc")
	if res := getFrom(t, c.nodes[0], "/doc", nil); res.header.Get("X-Cache") != "MISS" || org.Count("/doc") != before+1 {
		t.Errorf("after the DELETE: X-Cache %q, %d more origin requests", res.header.Get("X-Cache"), org.Count("/doc")-before)
	}
}

// A stale response is revalidated once for the whole ring, at its
// leader: every edge then serves the refreshed response.
func TestRingRevalidatesOnce(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/s.m3u8", testorigin.Route{Body: []byte("#EXTM3U\n"), Header: http.Header{"Etag": {`"s"`}, "Cache-Control": {"max-age=10"}}})
	clock := newTestClock()
	c := startCluster(t, org.URL(), 3, func(cfg *Config) { cfg.Now = clock.Now })
	for round := range 2 {
		for _, n := range c.nodes {
			if res := getFrom(t, n, "/s.m3u8", nil); res.status != 200 || string(res.body) != "#EXTM3U\n" {
				t.Fatalf("round %d via %s: %d %q", round, n.Advertise(), res.status, res.body)
			}
		}
		c.settle()
		clock.Advance(15 * time.Second) // stale everywhere
	}
	reqs := org.Requests("/s.m3u8")
	if len(reqs) != 2 || reqs[1].Header.Get("If-None-Match") != `"s"` {
		t.Fatalf("the origin saw %d requests, want the fetch and one revalidation", len(reqs))
	}
}
