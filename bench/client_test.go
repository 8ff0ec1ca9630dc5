package bench

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/origin"
)

func TestSourceOf(t *testing.T) {
	for v, want := range map[string]source{
		"HIT": sourceHit, "PEER": sourcePeer, "MISS": sourceMiss, "": sourceOther,
		"TCP_HIT": sourceHit, "Hit from cloudfront": sourceHit, "miss": sourceMiss, "BYPASS": sourceOther,
	} {
		if got := sourceOf([]byte(v)); got != want {
			t.Errorf("X-Cache %q: %s, want %s", v, sourceNames[got], sourceNames[want])
		}
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in          string
		first, last int64
		ok          bool
	}{
		{"bytes 0-99/1000", 0, 99, true},
		{"bytes 5-5/*", 5, 5, true},
		{"bytes 9-3/10", 0, 0, false},
		{"bytes */1000", 0, 0, false},
		{"items 0-1/2", 0, 0, false},
	} {
		first, last, ok := parseContentRange([]byte(tc.in))
		if ok != tc.ok || (ok && (first != tc.first || last != tc.last)) {
			t.Errorf("%q: %d-%d %v", tc.in, first, last, ok)
		}
	}
}

// The client's hot path allocates next to nothing per request once warm,
// so that a benchmark measures the deployment, not the tool. The server is
// fasthttp answering from a prepared body, so that the allocations counted
// are the client's.
func TestFetchAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	obj := &syntheticCatalogue(1, 1<<20)[0]
	rq := request{obj: obj, off: 1000, n: 100_000}
	body := make([]byte, rq.n)
	origin.SyntheticFill(body, obj.size, obj.name, rq.off)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		ctx.Response.Header.Set("Content-Range", "bytes 1000-100999/1048576")
		ctx.Response.Header.Set("X-Cache", "HIT")
		ctx.Response.SetBodyRaw(body)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	tg, err := parseTarget("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient([]target{tg}, 1, DefaultConfig().Timeout)
	s := newScratch()
	fetch := func() {
		if o := c.fetch(s, 0, rq, time.Now(), false, nil); o.kind != errNone || o.checked != rq.n {
			t.Fatalf("fetch: %s, %d bytes checked", o.kind, o.checked)
		}
	}
	fetch()
	// fasthttp wraps each streamed body in a new object with two closures;
	// everything else is reused.
	if n := testing.AllocsPerRun(50, fetch); n > 4 {
		t.Errorf("%.1f allocations per request, want at most 4", n)
	}
}
