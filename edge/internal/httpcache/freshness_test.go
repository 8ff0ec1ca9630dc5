package httpcache

import (
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	policy = Policy{DefaultTTL: 0, NegativeTTL: 10 * time.Second, MaxHeuristic: 24 * time.Hour}
)

// fields builds header fields from name, value pairs.
func fields(kv ...string) Fields {
	var f Fields
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, Field{kv[i], kv[i+1]})
	}
	return f
}

func date(d time.Duration) string { return FormatDate(t0.Add(d)) }

func TestEvaluateStorability(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		h      Fields
		req    Request
		store  bool
	}{
		{"max-age", 200, fields("Cache-Control", "max-age=60"), Request{}, true},
		{"no-store", 200, fields("Cache-Control", "max-age=60, no-store"), Request{}, false},
		{"no-store, must-understand, known status", 200, fields("Cache-Control", "no-store, must-understand, max-age=60"), Request{}, true},
		{"no-store, must-understand, unknown status", 299, fields("Cache-Control", "no-store, must-understand, max-age=60"), Request{}, false},
		{"private", 200, fields("Cache-Control", "private, max-age=60"), Request{}, false},
		{"request no-store", 200, fields("Cache-Control", "max-age=60"), Request{Directives: ParseCacheControl([]string{"no-store"})}, false},
		{"no-cache is stored", 200, fields("Cache-Control", "no-cache"), Request{}, true},
		{"201 without freshness", 201, fields("Last-Modified", date(-time.Hour)), Request{}, false},
		{"201 with max-age", 201, fields("Cache-Control", "max-age=60"), Request{}, true},
		{"599 heuristic without public", 599, fields("Last-Modified", date(-time.Hour)), Request{}, false},
		{"599 heuristic with public", 599, fields("Last-Modified", date(-time.Hour), "Cache-Control", "public"), Request{}, true},
		{"404 heuristic", 404, nil, Request{}, true},
		{"502 without freshness", 502, nil, Request{}, false},
		{"503 with max-age", 503, fields("Cache-Control", "max-age=5"), Request{}, true},
		{"expires only", 302, fields("Expires", date(time.Hour)), Request{}, true},
		{"vary star", 200, fields("Cache-Control", "max-age=60", "Vary", "Foo, *"), Request{}, false},
		{"authorization", 200, fields("Cache-Control", "max-age=60"), Request{Authorization: true}, false},
		{"authorization public", 200, fields("Cache-Control", "public, max-age=60"), Request{Authorization: true}, true},
		{"authorization s-maxage", 200, fields("Cache-Control", "s-maxage=60"), Request{Authorization: true}, true},
		{"authorization must-revalidate", 200, fields("Cache-Control", "must-revalidate, max-age=60"), Request{Authorization: true}, true},
		{"set-cookie", 200, fields("Cache-Control", "max-age=60", "Set-Cookie", "a=b"), Request{}, false},
		{"206", 206, fields("Cache-Control", "max-age=60"), Request{}, false},
		{"304", 304, fields("Cache-Control", "max-age=60"), Request{}, false},
		{"CDN no-store over CC", 200, fields("Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"), Request{}, false},
		{"CDN max-age over CC no-store", 200, fields("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60"), Request{}, true},
		{"edgecache field over CDN field", 200, fields("CDN-Cache-Control", "max-age=60", "Edgecache-Cache-Control", "private"), Request{}, false},
	} {
		d := policy.Evaluate(c.req, c.status, c.h, t0, t0)
		if d.Store != c.store {
			t.Errorf("%s: Store = %v (%s), want %v", c.name, d.Store, d.Reason, c.store)
		}
	}
}

func TestEvaluateSetCookieShared(t *testing.T) {
	p := policy
	p.ShareSetCookie = true
	if d := p.Evaluate(Request{}, 200, fields("Cache-Control", "max-age=60", "Set-Cookie", "a=b"), t0, t0); !d.Store {
		t.Errorf("with ShareSetCookie a cookie-setting response is stored: %s", d.Reason)
	}
}

func TestEvaluateLifetime(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		h      Fields
		want   time.Duration
	}{
		{"s-maxage wins", 200, fields("Cache-Control", "max-age=100, s-maxage=10"), 10 * time.Second},
		{"max-age", 200, fields("Cache-Control", "max-age=100", "Expires", date(time.Hour)), 100 * time.Second},
		{"expires minus date", 200, fields("Date", date(-10*time.Second), "Expires", date(50*time.Second)), time.Minute},
		{"expires before date", 200, fields("Date", date(0), "Expires", date(-time.Hour)), 0},
		{"invalid expires", 200, fields("Expires", "0"), 0},
		{"two expires lines", 200, fields("Expires", date(time.Hour), "Expires", date(time.Hour)), 0},
		{"expires with invalid date", 200, fields("Date", "nonsense", "Expires", date(time.Hour)), time.Hour},
		{"heuristic 10%", 200, fields("Date", date(0), "Last-Modified", date(-10*time.Hour)), time.Hour},
		{"heuristic capped", 200, fields("Date", date(0), "Last-Modified", date(-30*24*time.Hour)), 24 * time.Hour},
		{"no information", 200, nil, 0},
		{"negative default", 404, nil, 10 * time.Second},
		{"CDN field ignores Expires", 200, fields("CDN-Cache-Control", "max-age=5", "Expires", date(time.Hour)), 5 * time.Second},
		{"CDN field over a shorter max-age", 200, fields("CDN-Cache-Control", "max-age=500", "Cache-Control", "max-age=5"), 500 * time.Second},
		{"an empty CDN field is not used", 200, fields("CDN-Cache-Control", "", "Cache-Control", "max-age=5"), 5 * time.Second},
	} {
		d := policy.Evaluate(Request{}, c.status, c.h, t0, t0)
		if got := d.Freshness.Lifetime; got != c.want {
			t.Errorf("%s: lifetime %v, want %v", c.name, got, c.want)
		}
	}
}

func TestInitialAge(t *testing.T) {
	for _, c := range []struct {
		name      string
		h         Fields
		req, resp time.Duration // request and response times from t0
		want      time.Duration
	}{
		{"none", nil, 0, 0, 0},
		{"age header", fields("Age", "30"), 0, 0, 30 * time.Second},
		{"age plus delay", fields("Age", "30"), 0, 2 * time.Second, 32 * time.Second},
		{"date in the past", fields("Date", date(-time.Minute)), 0, 0, time.Minute},
		{"date in the future", fields("Date", date(time.Minute)), 0, 0, 0},
		{"first member", fields("Age", "7200, 0"), 0, 0, 2 * time.Hour},
		{"first line", fields("Age", "0", "Age", "7200"), 0, 0, 0},
		{"not a number", fields("Age", "abc"), 0, 0, 0},
		{"negative", fields("Age", "-7200"), 0, 0, 0},
		{"float", fields("Age", "7200.0"), 0, 0, 0},
		{"huge", fields("Age", "2147483649"), 0, 0, MaxDelta * time.Second},
	} {
		d := policy.Evaluate(Request{}, 200, c.h, t0.Add(c.req), t0.Add(c.resp))
		if got := d.Freshness.InitialAge; got != c.want {
			t.Errorf("%s: initial age %v, want %v", c.name, got, c.want)
		}
	}
}

func TestUse(t *testing.T) {
	cc := func(s string) *Directives { d := ParseCacheControl([]string{s}); return &d }
	none := cc("")
	fresh := Freshness{Lifetime: time.Minute, ResponseTime: t0}
	swr := Freshness{Lifetime: time.Minute, ResponseTime: t0, StaleWhileRevalidate: time.Minute}
	must := Freshness{Lifetime: time.Minute, ResponseTime: t0, MustRevalidate: true}
	noCache := Freshness{Lifetime: time.Hour, ResponseTime: t0, NoCache: true}
	for _, c := range []struct {
		name   string
		f      Freshness
		at     time.Duration
		req    *Directives
		pragma bool
		want   Use
	}{
		{"fresh", fresh, 30 * time.Second, none, false, Serve},
		{"stale", fresh, 2 * time.Minute, none, false, Revalidate},
		{"stale at the edge of its lifetime", fresh, time.Minute, none, false, Revalidate},
		{"request no-cache", fresh, 0, cc("no-cache"), false, Revalidate},
		{"pragma no-cache", fresh, 0, none, true, Revalidate},
		{"response no-cache", noCache, 0, none, false, Revalidate},
		{"request max-age exceeded", fresh, 30 * time.Second, cc("max-age=10"), false, Revalidate},
		{"request max-age met", fresh, 5 * time.Second, cc("max-age=10"), false, Serve},
		{"min-fresh not met", fresh, 50 * time.Second, cc("min-fresh=20"), false, Revalidate},
		{"max-stale any", fresh, time.Hour, cc("max-stale"), false, Serve},
		{"max-stale within", fresh, 90 * time.Second, cc("max-stale=60"), false, Serve},
		{"max-stale beyond", fresh, 3 * time.Minute, cc("max-stale=60"), false, Revalidate},
		{"max-stale against must-revalidate", must, 90 * time.Second, cc("max-stale"), false, Revalidate},
		{"swr within", swr, 90 * time.Second, none, false, ServeStale},
		{"swr beyond", swr, 3 * time.Minute, none, false, Revalidate},
	} {
		if got := c.f.Use(t0.Add(c.at), c.req, c.pragma); got != c.want {
			t.Errorf("%s: Use = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestServeOnError(t *testing.T) {
	f := Freshness{Lifetime: time.Minute, ResponseTime: t0, StaleIfError: time.Minute}
	none := ParseCacheControl(nil)
	if !f.ServeOnError(t0.Add(90*time.Second), &none) {
		t.Error("within stale-if-error: not served")
	}
	if f.ServeOnError(t0.Add(3*time.Minute), &none) {
		t.Error("beyond stale-if-error: served")
	}
	req := ParseCacheControl([]string{"stale-if-error=600"})
	if !f.ServeOnError(t0.Add(3*time.Minute), &req) {
		t.Error("the request's longer stale-if-error: not served")
	}
	f.MustRevalidate = true
	if f.ServeOnError(t0.Add(90*time.Second), &none) {
		t.Error("must-revalidate: served stale on error")
	}
}
