package origin

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func newClient(t *testing.T, baseURL string, tune func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: baseURL, Backoff: -1}
	if tune != nil {
		tune(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestClientAgainstReferenceServer(t *testing.T) {
	f := newDirFixture(t)
	_, hs := newTestServer(t, ServerConfig{Dir: f.dir, Synthetic: true})
	c := newClient(t, hs.URL, nil)
	ctx := context.Background()

	m, err := c.Stat(ctx, "/video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != int64(len(f.video)) || !isStrongETag(m.ETag) || m.LastModified.IsZero() || m.ContentType != "video/mp4" ||
		m.CacheControl != DefaultCacheControl || m.Date.IsZero() || !m.AcceptRanges {
		t.Fatalf("Stat = %+v", m)
	}
	for _, r := range [][2]int{{0, 1}, {0, 1 << 16}, {12345, 4096}, {len(f.video) - 7, 7}, {0, len(f.video)}} {
		dst := make([]byte, r[1])
		if err := c.ReadRange(ctx, "/video.mp4", m, nil, int64(r[0]), dst); err != nil {
			t.Fatalf("ReadRange(%d, %d): %v", r[0], r[1], err)
		}
		if !bytes.Equal(dst, f.video[r[0]:r[0]+r[1]]) {
			t.Fatalf("ReadRange(%d, %d): wrong bytes", r[0], r[1])
		}
	}

	const size = 1<<20 + 17
	sp := SyntheticPath(size, "s.mp4")
	sm, err := c.Stat(ctx, sp)
	if err != nil || sm.Size != size || sm.ETag != SyntheticETag(size, "s.mp4") {
		t.Fatalf("Stat(synthetic) = %+v, %v", sm, err)
	}
	got, want := make([]byte, 1<<20), make([]byte, 1<<20)
	SyntheticFill(want, size, "s.mp4", 17)
	if err := c.ReadRange(ctx, sp, sm, nil, 17, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadRange(synthetic): %v", err)
	}

	if _, err := c.Stat(ctx, "/missing.mp4"); !errors.Is(err, ErrNotFound) || HTTPStatus(err) != 404 {
		t.Errorf("Stat(missing) = %v, want ErrNotFound", err)
	}
	if err := c.ReadRange(ctx, "/video.mp4", m, nil, m.Size-1, make([]byte, 2)); err == nil {
		t.Error("ReadRange past the end succeeded")
	}
	before := c.Stats().Requests
	if err := c.ReadRange(ctx, "/video.mp4", m, nil, 5, nil); err != nil || c.Stats().Requests != before {
		t.Errorf("empty ReadRange: %v, %d requests", err, c.Stats().Requests-before)
	}
}

func TestClientEmptyObjects(t *testing.T) {
	f := newDirFixture(t)
	_, hs := newTestServer(t, ServerConfig{Dir: f.dir, Synthetic: true})
	c := newClient(t, hs.URL, nil)
	for _, p := range []string{"/empty.bin", SyntheticPath(0, "empty")} {
		m, err := c.Stat(context.Background(), p)
		if err != nil || m.Size != 0 || m.ETag == "" {
			t.Errorf("Stat(%s) = %+v, %v", p, m, err)
		}
		if err := c.ReadRange(context.Background(), p, m, nil, 0, nil); err != nil {
			t.Errorf("ReadRange(%s, empty) = %v", p, err)
		}
	}
	// HEAD refused: the ranged GET of an empty file is a 200 with
	// Content-Length 0 from ServeContent, or a 416 "bytes */0" elsewhere.
	for name, h := range map[string]http.HandlerFunc{
		"200": func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "HEAD" {
				w.WriteHeader(405)
				return
			}
			http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(nil))
		},
		"416": func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "HEAD" {
				w.WriteHeader(501)
				return
			}
			w.Header().Set("Content-Range", "bytes */0")
			w.Header().Set("ETag", `"e"`)
			w.WriteHeader(416)
		},
	} {
		hs := httptest.NewServer(h)
		m, err := newClient(t, hs.URL, nil).Stat(context.Background(), "/x")
		hs.Close()
		if err != nil || m.Size != 0 {
			t.Errorf("%s: Stat = %+v, %v", name, m, err)
		}
	}
}

func TestStatFallsBackToRangedGet(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789"), 1000)
	var heads, gets atomic.Int64
	for _, headStatus := range []int{405, 501, 403, 200} {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "HEAD" {
				heads.Add(1)
				if headStatus == 200 {
					// No Content-Length: unusable for Stat.
					w.Header().Set("Transfer-Encoding", "chunked")
				}
				w.WriteHeader(headStatus)
				return
			}
			gets.Add(1)
			if r.Header.Get("Range") != "bytes=0-0" {
				t.Errorf("fallback GET with Range %q", r.Header.Get("Range"))
			}
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Type", "video/mp4")
			http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(content))
		}))
		heads.Store(0)
		gets.Store(0)
		m, err := newClient(t, hs.URL, nil).Stat(context.Background(), "/x")
		hs.Close()
		if err != nil || m.Size != int64(len(content)) || m.ETag != `"v1"` || m.ContentType != "video/mp4" {
			t.Errorf("HEAD %d: Stat = %+v, %v", headStatus, m, err)
		}
		if heads.Load() != 1 || gets.Load() != 1 {
			t.Errorf("HEAD %d: %d HEADs and %d GETs, want 1 and 1", headStatus, heads.Load(), gets.Load())
		}
	}
}

func TestStatOriginIgnoringRanges(t *testing.T) {
	big := make([]byte, 1<<20)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "HEAD" {
			w.WriteHeader(405)
			return
		}
		w.Header().Set("Content-Length", "1048576")
		w.Write(big) // Range ignored: the whole object.
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, nil)
	m, err := c.Stat(context.Background(), "/x")
	if err != nil || m.Size != int64(len(big)) {
		t.Fatalf("Stat = %+v, %v", m, err)
	}
	if read := c.Stats().Bytes; read > drainLimit {
		t.Errorf("Stat read %d body bytes of an origin ignoring ranges; want at most %d", read, drainLimit)
	}
}

func TestRevalidate(t *testing.T) {
	f := newDirFixture(t)
	_, hs := newTestServer(t, ServerConfig{Dir: f.dir, CacheControl: "max-age=60"})
	c := newClient(t, hs.URL, nil)
	ctx := context.Background()
	old, err := c.Stat(ctx, "/video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	stale := old
	stale.CacheControl, stale.Date = "max-age=1", time.Unix(0, 0)
	got, changed, err := c.Revalidate(ctx, "/video.mp4", stale)
	if err != nil || changed {
		t.Fatalf("Revalidate(unchanged) = %v, %v", changed, err)
	}
	if got.CacheControl != "max-age=60" || got.Date.Before(old.Date) || got.ETag != old.ETag || got.Size != old.Size {
		t.Errorf("Revalidate(unchanged) = %+v; want old with refreshed Cache-Control and Date", got)
	}

	// Rewrite the file: new mtime and size, so a new ETag.
	if err := os.WriteFile(filepath.Join(f.dir, "video.mp4"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(f.dir, "video.mp4"), later, later); err != nil {
		t.Fatal(err)
	}
	got, changed, err = c.Revalidate(ctx, "/video.mp4", old)
	if err != nil || !changed || got.Size != 3 || got.ETag == old.ETag {
		t.Fatalf("Revalidate(changed) = %+v, %v, %v", got, changed, err)
	}
	// The old version can no longer be read, whatever the range.
	if err := c.ReadRange(ctx, "/video.mp4", old, nil, 0, make([]byte, 3)); !errors.Is(err, ErrChanged) {
		t.Errorf("ReadRange(old version) = %v, want ErrChanged", err)
	}
}

func TestRevalidateWithLastModifiedOnly(t *testing.T) {
	lm := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	var ims atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ims.Store(r.Header.Get("If-Modified-Since") + "|" + r.Header.Get("If-None-Match"))
		http.ServeContent(w, r, "x", lm, bytes.NewReader([]byte("hello")))
	}))
	defer hs.Close()
	c := newClient(t, hs.URL, nil)
	m, err := c.Stat(context.Background(), "/x")
	if err != nil || m.ETag != "" || !m.LastModified.Equal(lm) {
		t.Fatalf("Stat = %+v, %v", m, err)
	}
	if _, changed, err := c.Revalidate(context.Background(), "/x", m); err != nil || changed {
		t.Fatalf("Revalidate = %v, %v", changed, err)
	}
	if got := ims.Load(); got != lm.Format(http.TimeFormat)+"|" {
		t.Errorf("conditional headers %q, want If-Modified-Since only", got)
	}
	// Without an ETag, If-Range carries the date, and the read succeeds.
	dst := make([]byte, 3)
	if err := c.ReadRange(context.Background(), "/x", m, nil, 1, dst); err != nil || string(dst) != "ell" {
		t.Errorf("ReadRange = %q, %v", dst, err)
	}
}

func TestClientPathEscaping(t *testing.T) {
	var seen atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store([2]string{r.RequestURI, r.URL.Path})
		w.Header().Set("Content-Length", "0")
	}))
	defer hs.Close()
	for _, c := range []struct {
		base, path, uri, decoded string
	}{
		{hs.URL, "/a b/c%2Fd", "/a%20b/c%2Fd", "/a b/c/d"},
		{hs.URL + "/", "/x.mp4", "/x.mp4", "/x.mp4"},
		{hs.URL + "/pre fix/", "/v/1.ts?token=a%2Fb&x=1", "/pre%20fix/v/1.ts?token=a%2Fb&x=1", "/pre fix/v/1.ts"},
		{hs.URL + "/vod", "/%E2%82%AC/é", "/vod/%E2%82%AC/%C3%A9", "/vod/€/é"},
		{hs.URL, "/a;b=c/@:!$&'()*+,=", "/a;b=c/@:!$&'()*+,=", "/a;b=c/@:!$&'()*+,="},
		{hs.URL, "/q\"<>#%25", "/q%22%3C%3E%23%25", "/q\"<>#%"},
	} {
		cl := newClient(t, c.base, nil)
		if _, err := cl.Stat(context.Background(), c.path); err != nil {
			t.Fatalf("Stat(%q): %v", c.path, err)
		}
		got := seen.Load().([2]string)
		if got[0] != c.uri || got[1] != c.decoded {
			t.Errorf("base %q path %q: origin saw %q (decoded %q), want %q (%q)", c.base, c.path, got[0], got[1], c.uri, c.decoded)
		}
	}
	cl := newClient(t, hs.URL, nil)
	for _, bad := range []string{"relative", "/bad%zzescape", ""} {
		if _, err := cl.Stat(context.Background(), bad); err == nil {
			t.Errorf("Stat(%q) succeeded", bad)
		}
	}
}

func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int64
	s, err := NewServer(ServerConfig{Synthetic: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s)
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	defer hs.Close()
	c := newClient(t, hs.URL, nil)
	ctx := context.Background()
	p := SyntheticPath(1<<20, "reuse")
	m, err := c.Stat(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 8192)
	for i := range 100 {
		if err := c.ReadRange(ctx, p, m, nil, int64(i)*8192, dst); err != nil {
			t.Fatal(err)
		}
		// Error answers with small bodies must not cost a connection either.
		if _, err := c.Stat(ctx, "/synthetic/bad"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat(bad) = %v", err)
		}
	}
	if n := conns.Load(); n > 2 {
		t.Errorf("201 sequential requests used %d connections, want 1 or 2", n)
	}
	if st := c.Stats(); st.Requests != 201 || st.Errors != 100 || st.Retries != 0 || st.Bytes < 100*8192 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{BaseURL: "ftp://x"},
		{BaseURL: "http://"},
		{BaseURL: "http://x/?q=1"},
		{BaseURL: "http://x/#f"},
		{BaseURL: "::"},
		{BaseURL: "http://x", Timeout: -1},
		{BaseURL: "http://x", MaxIdleConnsPerHost: -1},
	} {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("NewClient(%+v) succeeded", cfg)
		}
	}
	cfg := Config{BaseURL: "https://x/prefix", Retries: -1, Backoff: -1}
	cfg.applyDefaults()
	want := Config{BaseURL: "https://x/prefix", ConnectTimeout: defaultConnectTimeout, Timeout: defaultTimeout,
		MaxIdleConnsPerHost: defaultMaxIdleConnsPerHost, UserAgent: defaultUserAgent}
	if cfg != want {
		t.Errorf("applyDefaults = %+v, want %+v", cfg, want)
	}
}

func TestHTTPStatus(t *testing.T) {
	for err, want := range map[error]int{
		nil:                         200,
		ErrNotFound:                 404,
		statusError(410):            404,
		ErrTimeout:                  504,
		statusError(504):            504,
		context.DeadlineExceeded:    504,
		ErrChanged:                  502,
		ErrBadResponse:              502,
		ErrUnreachable:              502,
		statusError(500):            502,
		statusError(403):            502,
		errors.New("anything else"): 502,
		classify(context.Background(), &net.OpError{Op: "dial", Err: errors.New("refused")}): 502,
	} {
		if got := HTTPStatus(err); got != want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestMetaSameVersion(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		a, b Meta
		same bool
	}{
		{Meta{Size: 1, ETag: `"a"`}, Meta{Size: 1, ETag: `"a"`}, true},
		{Meta{Size: 1, ETag: `"a"`}, Meta{Size: 1, ETag: `"b"`}, false},
		{Meta{Size: 1, ETag: `"a"`}, Meta{Size: 2, ETag: `"a"`}, false},
		{Meta{Size: 1, ETag: `"a"`, LastModified: t0}, Meta{Size: 1, LastModified: t0}, false},
		{Meta{Size: 1, LastModified: t0}, Meta{Size: 1, LastModified: t0.UTC()}, true},
		{Meta{Size: 1, LastModified: t0}, Meta{Size: 1, LastModified: t0.Add(time.Second)}, false},
		{Meta{Size: 1}, Meta{Size: 1}, true},
	} {
		if got := c.a.SameVersion(c.b); got != c.same {
			t.Errorf("%+v.SameVersion(%+v) = %v", c.a, c.b, got)
		}
	}
}
