package edge

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/internal/testorigin"
)

// The edge as a shared HTTP cache (RFC 9111) in front of origins as they
// are found in the wild, one behaviour per test, on one edge with 4 KiB
// chunks (startNode). semantics_ring_test.go has the same across a ring.

// testClock is a clock a test moves by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// noRedirects is a client that shows a redirect instead of following it.
var noRedirects = &http.Client{
	Transport:     testClient.Transport,
	Timeout:       testClient.Timeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func getFrom(t *testing.T, n *Node, path string, hdr http.Header) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+n.Addr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i/251)
	}
	return b
}

// A cold object of one chunk costs exactly one origin request, a GET: no
// HEAD, no probe; one of N chunks with a strong ETag costs N.
func TestOneOriginRequestPerChunk(t *testing.T) {
	org := testorigin.New(t)
	small, big := pattern(1000), pattern(5*4096+7)
	org.Set("/small", testorigin.Route{Body: small, Header: http.Header{"Etag": {`"s"`}, "Cache-Control": {"max-age=60"}}})
	org.Set("/big", testorigin.Route{Body: big, Header: http.Header{"Etag": {`"b"`}, "Cache-Control": {"max-age=60"}}})
	n := startNode(t, org.URL(), nil)
	for range 3 {
		if res := getFrom(t, n, "/small", nil); !bytes.Equal(res.body, small) {
			t.Fatalf("/small: %d", res.status)
		}
		if res := getFrom(t, n, "/big", nil); !bytes.Equal(res.body, big) {
			t.Fatalf("/big: %d", res.status)
		}
	}
	if got := org.Methods("/small"); got != "GET" {
		t.Errorf("/small cost %q at the origin, want one GET", got)
	}
	if got := org.Methods("/big"); got != "GET GET GET GET GET GET" {
		t.Errorf("/big cost %q at the origin, want a GET per chunk (6)", got)
	}
}

// An object store that refuses HEAD (presigned GET URLs) works: the edge
// never sends one.
func TestOriginThatRefusesHEAD(t *testing.T) {
	org := testorigin.New(t)
	body := pattern(3 * 4096)
	org.Set("/signed?sig=x", testorigin.Route{Body: body, RefuseHEAD: true, Header: http.Header{"Etag": {`"v"`}, "Cache-Control": {"max-age=60"}}})
	n := startNode(t, org.URL(), nil)
	if res := do(t, http.MethodHead, "http://"+n.Addr()+"/signed?sig=x", nil); res.status != 200 || res.header.Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Fatalf("HEAD: %d %v", res.status, res.header)
	}
	if res := getFrom(t, n, "/signed?sig=x", nil); !bytes.Equal(res.body, body) {
		t.Fatalf("GET: %d", res.status)
	}
	if strings.Contains(org.Methods("/signed?sig=x"), "HEAD") {
		t.Errorf("the origin was sent %q", org.Methods("/signed?sig=x"))
	}
}

// An object without validators is stored: its chunks come from one
// stream (no ranges that could mix versions), and later reads cost
// nothing.
func TestObjectWithoutValidators(t *testing.T) {
	org := testorigin.New(t)
	body := pattern(5*4096 + 100)
	org.Set("/plain", testorigin.Route{Body: body, Header: http.Header{"Cache-Control": {"max-age=60"}}})
	n := startNode(t, org.URL(), func(c *Config) { c.ReadaheadNext = 0 })
	for i := range 3 {
		if res := getFrom(t, n, "/plain", nil); !bytes.Equal(res.body, body) {
			t.Fatalf("read %d: %d, %d bytes", i, res.status, len(res.body))
		}
	}
	if got := org.Ranges("/plain"); len(got) != 2 || got[0] != "bytes=0-4095" || got[1] != "bytes=4096-" {
		t.Errorf("origin requests %q, want the first chunk's window and one stream of the rest", got)
	}
}

// Every status passes through with its fields and body, 3xx are not
// followed, and a 410 stays a 410.
func TestEveryStatusPassesThrough(t *testing.T) {
	org := testorigin.New(t)
	for _, c := range []struct {
		status int
		header http.Header
	}{
		{201, http.Header{"Location": {"/made"}}},
		{204, nil},
		{301, http.Header{"Location": {"/elsewhere"}, "Cache-Control": {"max-age=60"}}},
		{302, nil},
		{307, http.Header{"Location": {"http://other.example/x"}}},
		{400, nil},
		{403, nil},
		{410, http.Header{"Cache-Control": {"max-age=60"}}},
		{451, nil},
		{500, nil},
		{503, http.Header{"Retry-After": {"5"}}},
	} {
		path := fmt.Sprintf("/s%d", c.status)
		body := []byte(fmt.Sprintf("status %d\n", c.status))
		if c.status == 204 {
			body = nil
		}
		org.Set(path, testorigin.Route{Status: c.status, Header: c.header, Body: body})
	}
	n := startNode(t, org.URL(), nil)
	for _, status := range []int{201, 204, 301, 302, 307, 400, 403, 410, 451, 500, 503} {
		path := fmt.Sprintf("/s%d", status)
		for range 2 {
			res := getFrom(t, n, path, nil)
			want := fmt.Sprintf("status %d\n", status)
			if status == 204 {
				want = ""
			}
			if res.status != status || string(res.body) != want {
				t.Errorf("%s: %d %q, want %d %q", path, res.status, res.body, status, want)
			}
		}
	}
	if got := getFrom(t, n, "/s301", nil).header.Get("Location"); got != "/elsewhere" {
		t.Errorf("the 301's Location is %q", got)
	}
	if org.Count("/elsewhere") != 0 {
		t.Error("a redirect was followed")
	}
	// Storable with explicit freshness: asked once; the others each time.
	for path, want := range map[string]int{"/s301": 1, "/s410": 1, "/s201": 2, "/s500": 2, "/s503": 2} {
		if got := org.Count(path); got != want {
			t.Errorf("%s reached the origin %d times, want %d", path, got, want)
		}
	}
}

// Every end-to-end field the origin sends is stored and replayed, CORS
// and Link among them; the edge owns the framing and the fields it adds.
func TestEveryEndToEndFieldIsReplayed(t *testing.T) {
	org := testorigin.New(t)
	fields := http.Header{
		"Access-Control-Allow-Origin":   {"*"},
		"Access-Control-Expose-Headers": {"X-Media-Id, Content-Range"},
		"Link":                          {"</init.mp4>; rel=preload"},
		"Timing-Allow-Origin":           {"*"},
		"X-Media-Id":                    {"42"},
		"Content-Disposition":           {`attachment; filename="a.mp4"`},
		"Cache-Control":                 {"public, max-age=999999999"},
		"Date":                          {"Mon, 02 Feb 2026 10:00:00 GMT"},
		"Etag":                          {`"f"`},
		"Connection":                    {"X-Hop"},
		"X-Hop":                         {"not end-to-end"},
	}
	org.Set("/f.mp4", testorigin.Route{Body: pattern(100), Header: fields})
	n := startNode(t, org.URL(), nil)
	for i, want := range []string{"MISS", "HIT"} {
		res := getFrom(t, n, "/f.mp4", nil)
		if res.header.Get("X-Cache") != want {
			t.Fatalf("read %d: X-Cache %q, want %s", i, res.header.Get("X-Cache"), want)
		}
		for name, v := range fields {
			if name == "Connection" || name == "X-Hop" {
				if res.header.Get(name) != "" {
					t.Errorf("read %d: the hop-by-hop %s was passed on", i, name)
				}
				continue
			}
			if got := res.header.Values(name); strings.Join(got, ",") != strings.Join(v, ",") {
				t.Errorf("read %d: %s = %q, want %q", i, name, got, v)
			}
		}
		if res.header.Get("Age") == "" || !strings.Contains(res.header.Get("Via"), "edgecache") {
			t.Errorf("read %d: Age %q Via %q", i, res.header.Get("Age"), res.header.Get("Via"))
		}
	}
}

// Vary selects a variant per request; each is stored once; Vary: * is
// never stored.
func TestVary(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/hello", testorigin.Route{Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Cache-Control", "max-age=60")
		switch lang := r.Header.Get("Accept-Language"); {
		case strings.HasPrefix(strings.ToLower(lang), "fr"):
			w.Header().Set("Etag", `"fr"`)
			w.Write([]byte("bonjour"))
		default:
			w.Header().Set("Etag", `"en"`)
			w.Write([]byte("hello"))
		}
	}})
	org.Set("/star", testorigin.Route{Body: []byte("x"), Header: http.Header{"Vary": {"*"}, "Cache-Control": {"max-age=60"}}})
	n := startNode(t, org.URL(), nil)
	for i, c := range []struct{ lang, want string }{{"en", "hello"}, {"fr", "bonjour"}, {"en", "hello"}, {"fr", "bonjour"}, {"FR", "bonjour"}} {
		res := getFrom(t, n, "/hello", http.Header{"Accept-Language": {c.lang}})
		if string(res.body) != c.want || res.header.Get("Vary") != "Accept-Language" {
			t.Errorf("request %d (%s): %q Vary %q, want %q", i, c.lang, res.body, res.header.Get("Vary"), c.want)
		}
	}
	if got := org.Count("/hello"); got != 2 {
		t.Errorf("the origin served /hello %d times, want once per variant (2)", got)
	}
	getFrom(t, n, "/star", nil)
	getFrom(t, n, "/star", nil)
	if got := org.Count("/star"); got != 2 {
		t.Errorf("Vary: * reached the origin %d times, want every time (2)", got)
	}
}

// A field named in Vary with many values stores a bounded number of
// variants, and every answer is still the right one.
func TestVariantsAreBounded(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/v", testorigin.Route{Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "X-Client")
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("for " + r.Header.Get("X-Client")))
	}})
	n := startNode(t, org.URL(), nil)
	for i := range 100 {
		who := fmt.Sprint(i)
		if res := getFrom(t, n, "/v", http.Header{"X-Client": {who}}); string(res.body) != "for "+who {
			t.Fatalf("client %s got %q", who, res.body)
		}
	}
	if got := n.eng.Variants("/v"); got > 32 {
		t.Errorf("%d variants stored for one URL, want at most 32", got)
	}
}

// An answer whose Age already exceeds its lifetime is stale on arrival;
// an invalid max-age is stale.
func TestAgeAndInvalidLifetimes(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/old", testorigin.Route{Body: []byte("old"), Header: http.Header{"Cache-Control": {"max-age=60"}, "Age": {"120"}}})
	org.Set("/bad", testorigin.Route{Body: []byte("bad"), Header: http.Header{"Cache-Control": {"max-age=abc"}}})
	n := startNode(t, org.URL(), nil)
	for range 2 {
		if res := getFrom(t, n, "/old", nil); res.header.Get("Age") < "120" || res.header.Get("X-Cache") != "MISS" {
			t.Errorf("/old: Age %q X-Cache %q", res.header.Get("Age"), res.header.Get("X-Cache"))
		}
		getFrom(t, n, "/bad", nil)
	}
	if org.Count("/old") != 2 || org.Count("/bad") != 2 {
		t.Errorf("stale answers were served fresh: /old asked %d times, /bad %d", org.Count("/old"), org.Count("/bad"))
	}
}

// Authorization is forwarded; the answer to a request with credentials is
// shared only when the origin says so (public, s-maxage,
// must-revalidate), and never served to a request without them otherwise.
func TestAuthorization(t *testing.T) {
	org := testorigin.New(t)
	auth := func(cc string) testorigin.Route {
		return testorigin.Route{Handler: func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer t" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("Cache-Control", cc)
			w.Write([]byte("secret"))
		}}
	}
	org.Set("/private", auth("max-age=60"))
	org.Set("/public", auth("public, max-age=60"))
	n := startNode(t, org.URL(), nil)
	cred := http.Header{"Authorization": {"Bearer t"}}
	for range 2 {
		if res := getFrom(t, n, "/private", cred); res.status != 200 || string(res.body) != "secret" {
			t.Fatalf("/private with credentials: %d", res.status)
		}
	}
	if res := getFrom(t, n, "/private", nil); res.status != http.StatusUnauthorized {
		t.Errorf("/private without credentials: %d, want the origin's 401", res.status)
	}
	if org.Count("/private") != 3 {
		t.Errorf("/private reached the origin %d times, want every time (3)", org.Count("/private"))
	}
	getFrom(t, n, "/public", cred)
	if res := getFrom(t, n, "/public", nil); res.status != 200 || res.header.Get("X-Cache") != "HIT" {
		t.Errorf("/public, stored from a request with credentials: %d %s", res.status, res.header.Get("X-Cache"))
	}
}

// A response that sets a cookie is not shared, unless the operator says.
func TestSetCookie(t *testing.T) {
	for _, share := range []bool{false, true} {
		org := testorigin.New(t)
		org.Set("/c", testorigin.Route{Body: []byte("c"), Header: http.Header{"Set-Cookie": {"id=1"}, "Cache-Control": {"max-age=60"}}})
		n := startNode(t, org.URL(), func(c *Config) { c.ShareSetCookie = share })
		for range 2 {
			if res := getFrom(t, n, "/c", nil); res.header.Get("Set-Cookie") != "id=1" {
				t.Errorf("share %v: Set-Cookie %q", share, res.header.Get("Set-Cookie"))
			}
		}
		if want := map[bool]int{false: 2, true: 1}[share]; org.Count("/c") != want {
			t.Errorf("share %v: the origin was asked %d times, want %d", share, org.Count("/c"), want)
		}
	}
}

// A stale response is revalidated with its validators; a 304 refreshes
// its fields; within stale-while-revalidate it is served at once and
// revalidated behind; within stale-if-error it stands in for a failing
// origin.
func TestStaleAndRevalidation(t *testing.T) {
	org := testorigin.New(t)
	var mode atomic.Value
	mode.Store("ok")
	org.Set("/r", testorigin.Route{Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"r"`)
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=20, stale-if-error=100")
		switch {
		case mode.Load() == "down":
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.Header.Get("If-None-Match") == `"r"`:
			w.Header().Set("X-Refreshed", "yes")
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Write([]byte("body"))
		}
	}})
	clock := newTestClock()
	n := startNode(t, org.URL(), func(c *Config) { c.Now = clock.Now })
	getFrom(t, n, "/r", nil)
	clock.Advance(15 * time.Second) // stale, within stale-while-revalidate
	if res := getFrom(t, n, "/r", nil); string(res.body) != "body" || res.header.Get("X-Cache") == "MISS" {
		t.Errorf("within stale-while-revalidate: %q %s", res.body, res.header.Get("X-Cache"))
	}
	n.eng.Settle()
	if reqs := org.Requests("/r"); len(reqs) != 2 || reqs[1].Header.Get("If-None-Match") != `"r"` {
		t.Fatalf("the background revalidation: %d requests", len(reqs))
	}
	if res := getFrom(t, n, "/r", nil); res.header.Get("X-Refreshed") != "yes" {
		t.Errorf("the 304's fields were not stored: %v", res.header)
	}
	// Stale beyond stale-while-revalidate: revalidated before the answer,
	// which says the origin was asked, though its bytes are the stored ones.
	clock.Advance(40 * time.Second)
	before := n.Stats()
	res := getFrom(t, n, "/r", nil)
	after := n.Stats()
	if res.header.Get("X-Cache") != "MISS" || !strings.Contains(res.header.Get("Cache-Status"), "fwd=stale; fwd-status=304") ||
		after.SentOrigin != before.SentOrigin || after.SentHit != before.SentHit+4 {
		t.Errorf("revalidated: X-Cache %q, Cache-Status %q, bytes from the origin +%d, from memory +%d; want MISS, fwd-status=304, +0, +4",
			res.header.Get("X-Cache"), res.header.Get("Cache-Status"), after.SentOrigin-before.SentOrigin, after.SentHit-before.SentHit)
	}
	clock.Advance(40 * time.Second) // stale beyond stale-while-revalidate
	mode.Store("down")
	if res := getFrom(t, n, "/r", nil); res.status != 200 || string(res.body) != "body" {
		t.Errorf("within stale-if-error, origin down: %d %q", res.status, res.body)
	}
	clock.Advance(200 * time.Second) // beyond stale-if-error
	if res := getFrom(t, n, "/r", nil); res.status != http.StatusServiceUnavailable {
		t.Errorf("beyond stale-if-error, origin down: %d, want the origin's 503", res.status)
	}
}

// The request's directives: no-cache revalidates, only-if-cached never
// asks the origin.
func TestRequestDirectives(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/d", testorigin.Route{Body: []byte("d"), Header: http.Header{"Etag": {`"d"`}, "Cache-Control": {"max-age=60"}}})
	n := startNode(t, org.URL(), nil)
	if res := getFrom(t, n, "/d", http.Header{"Cache-Control": {"only-if-cached"}}); res.status != http.StatusGatewayTimeout {
		t.Errorf("only-if-cached, cold: %d, want 504", res.status)
	}
	getFrom(t, n, "/d", nil)
	if res := getFrom(t, n, "/d", http.Header{"Cache-Control": {"only-if-cached"}}); res.status != 200 {
		t.Errorf("only-if-cached, stored: %d", res.status)
	}
	for _, h := range []http.Header{{"Cache-Control": {"no-cache"}}, {"Pragma": {"no-cache"}}} {
		getFrom(t, n, "/d", h)
	}
	reqs := org.Requests("/d")
	if len(reqs) != 3 || reqs[1].Header.Get("If-None-Match") != `"d"` || reqs[2].Header.Get("If-None-Match") != `"d"` {
		t.Errorf("no-cache: %d origin requests, want the fetch and two revalidations", len(reqs))
	}
}

// A client's conditional on a key the edge holds nothing for goes to the
// origin: a match is the client's 304, nothing stored and nothing marked;
// a mismatch is the body, stored as usual.
func TestClientConditionalsOnAColdKey(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/c", testorigin.Route{Body: []byte("cond"), Header: http.Header{"Etag": {`"c"`}, "Cache-Control": {"max-age=60"}}})
	n := startNode(t, org.URL(), nil)
	res := getFrom(t, n, "/c", http.Header{"If-None-Match": {`"c"`}})
	reqs := org.Requests("/c")
	if res.status != http.StatusNotModified || len(reqs) != 1 || reqs[0].Header.Get("If-None-Match") != `"c"` {
		t.Fatalf("matching If-None-Match, cold: %d, the origin saw %d requests", res.status, len(reqs))
	}
	if n.eng.HasObject("/c") {
		t.Error("a 304 to a client's conditional was stored, or marked the key")
	}
	if res := getFrom(t, n, "/c", nil); res.status != 200 || string(res.body) != "cond" || res.header.Get("X-Cache") != "MISS" {
		t.Errorf("GET after it: %d %q %s", res.status, res.body, res.header.Get("X-Cache"))
	}
	// Held now: the edge answers the conditional itself.
	if res := getFrom(t, n, "/c", http.Header{"If-None-Match": {`"c"`}}); res.status != http.StatusNotModified || org.Count("/c") != 2 {
		t.Errorf("matching If-None-Match, held: %d, origin asked %d times", res.status, org.Count("/c"))
	}
	// A conditional that does not match brings the body, which is kept;
	// later reads of the body are never conditional.
	org.Set("/d", testorigin.Route{Body: pattern(3 << 20), Header: http.Header{"Etag": {`"d"`}, "Cache-Control": {"max-age=60"}}})
	if res := getFrom(t, n, "/d", http.Header{"If-None-Match": {`"old"`}}); res.status != 200 || len(res.body) != 3<<20 {
		t.Fatalf("other If-None-Match, cold: %d, %d bytes", res.status, len(res.body))
	}
	for i, r := range org.Requests("/d") {
		if got := r.Header.Get("If-None-Match"); (i == 0) != (got != "") {
			t.Errorf("origin request %d (Range %s) carried If-None-Match %q", i, r.Header.Get("Range"), got)
		}
	}
	if res := getFrom(t, n, "/d", nil); res.header.Get("X-Cache") != "HIT" {
		t.Errorf("after a mismatched conditional: X-Cache %q, want HIT", res.header.Get("X-Cache"))
	}
}

// If-Modified-Since on a stored response without Last-Modified is judged
// by the response's Date.
func TestIfModifiedSinceByDate(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/n", testorigin.Route{Body: []byte("no lm"), Header: http.Header{"Cache-Control": {"max-age=60"}}})
	n := startNode(t, org.URL(), nil)
	if res := getFrom(t, n, "/n", nil); res.status != 200 || res.header.Get("Last-Modified") != "" {
		t.Fatalf("GET: %d, Last-Modified %q", res.status, res.header.Get("Last-Modified"))
	}
	now := time.Now().UTC()
	for _, c := range []struct {
		since time.Time
		want  int
	}{{now.Add(time.Hour), http.StatusNotModified}, {now.Add(-24 * time.Hour), http.StatusOK}} {
		res := getFrom(t, n, "/n", http.Header{"If-Modified-Since": {c.since.Format(http.TimeFormat)}})
		if res.status != c.want {
			t.Errorf("If-Modified-Since %v: %d, want %d", c.since, res.status, c.want)
		}
	}
}

// Methods other than GET and HEAD are relayed with their bodies; a
// success invalidates the target and the Location it names.
func TestRelayAndInvalidation(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/doc", testorigin.Route{Handler: func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.Header().Set("Location", "/doc2")
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write([]byte("doc"))
	}})
	org.Set("/doc2", testorigin.Route{Body: []byte("doc2"), Header: http.Header{"Cache-Control": {"max-age=600"}}})
	n := startNode(t, org.URL(), nil)
	getFrom(t, n, "/doc", nil)
	getFrom(t, n, "/doc2", nil)
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.Addr()+"/doc", strings.NewReader("payload"))
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	posts := org.Requests("/doc")
	if resp.StatusCode != http.StatusCreated || len(posts) != 2 || string(posts[1].Body) != "payload" {
		t.Fatalf("POST: %d, the origin saw %d requests", resp.StatusCode, len(posts))
	}
	for _, p := range []string{"/doc", "/doc2"} {
		if res := getFrom(t, n, p, nil); res.header.Get("X-Cache") != "MISS" {
			t.Errorf("%s after the POST: X-Cache %q, want MISS (invalidated)", p, res.header.Get("X-Cache"))
		}
	}
}

// A malformed origin answer is a 502, and nothing of it is stored; a
// header too large to store but within bounds passes, unstored.
func TestBadOriginAnswerIs502(t *testing.T) {
	org := testorigin.New(t)
	raw := func(answer string) testorigin.Route {
		return testorigin.Route{Handler: func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijacking the origin's connection: %v", err)
				return
			}
			buf.WriteString(answer)
			buf.Flush()
			conn.(*net.TCPConn).CloseWrite()
			conn.Close()
		}}
	}
	const cc = "Cache-Control: max-age=60\r\n"
	bad := map[string]string{
		"/short":       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n" + cc + "\r\nonly this",
		"/two-lengths": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n" + cc + "\r\nhello!",
		"/status-line": "HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n" + cc + "\r\nhello",
		"/bad-chunks":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + cc + "\r\nzz\r\nhello\r\n0\r\n\r\n",
		"/flood":       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + cc + strings.Repeat("X-Flood: "+strings.Repeat("f", 1000)+"\r\n", 80) + "\r\nhello",
	}
	for path, answer := range bad {
		org.Set(path, raw(answer))
	}
	big := http.Header{"Cache-Control": {"max-age=60"}, "X-Big": {strings.Repeat("b", 20<<10)}}
	org.Set("/big-header", testorigin.Route{Body: []byte("fine"), Header: big})
	n := startNode(t, org.URL(), nil)
	for path := range bad {
		for range 2 {
			if res := getFrom(t, n, path, nil); res.status != http.StatusBadGateway {
				t.Errorf("%s: %d, want 502", path, res.status)
			}
		}
		if n.eng.HasObject(path) {
			t.Errorf("%s: something of a broken answer was stored", path)
		}
	}
	if n.eng.Store().Len() != 0 {
		t.Error("chunks of broken answers were stored")
	}
	for range 2 {
		res := getFrom(t, n, "/big-header", nil)
		if res.status != 200 || string(res.body) != "fine" || len(res.header.Get("X-Big")) != 20<<10 {
			t.Errorf("a 20 KiB header: %d %q", res.status, res.body)
		}
	}
	if org.Count("/big-header") != 2 {
		t.Errorf("a response with a 20 KiB header was stored: the origin was asked %d times, want 2", org.Count("/big-header"))
	}
}

// A HEAD of a cold object fills the cache: a GET after it is a hit.
func TestHeadFillsTheCache(t *testing.T) {
	org := testorigin.New(t)
	org.Set("/h", testorigin.Route{Body: pattern(3000), Header: http.Header{"Etag": {`"h"`}, "Cache-Control": {"max-age=60"}}})
	n := startNode(t, org.URL(), nil)
	if res := do(t, http.MethodHead, "http://"+n.Addr()+"/h", nil); res.status != 200 || res.header.Get("Content-Length") != "3000" {
		t.Fatalf("HEAD: %d %v", res.status, res.header)
	}
	if res := getFrom(t, n, "/h", nil); res.header.Get("X-Cache") != "HIT" || org.Count("/h") != 1 {
		t.Errorf("GET after HEAD: X-Cache %q, origin asked %d times", res.header.Get("X-Cache"), org.Count("/h"))
	}
}
