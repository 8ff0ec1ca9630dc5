package origin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dirFixture is a served directory, and a secret file beside it that no
// request may reach.
type dirFixture struct {
	dir, secretPath string
	video           []byte // dir/video.mp4
	segment         []byte // dir/sub/seg-1.ts
}

const secret = "TOP-SECRET-OUTSIDE-THE-ROOT"

func newDirFixture(t *testing.T) dirFixture {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	rng := rand.New(rand.NewPCG(3, 4))
	f := dirFixture{dir: dir, secretPath: filepath.Join(base, "secret.txt"),
		video: make([]byte, 100_000), segment: make([]byte, 4321)}
	for i := range f.video {
		f.video[i] = byte(rng.Uint32())
	}
	for i := range f.segment {
		f.segment[i] = byte(rng.Uint32())
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755))
	must(os.WriteFile(f.secretPath, []byte(secret), 0o644))
	must(os.WriteFile(filepath.Join(dir, "video.mp4"), f.video, 0o644))
	must(os.WriteFile(filepath.Join(dir, "sub", "seg-1.ts"), f.segment, 0o644))
	must(os.WriteFile(filepath.Join(dir, "empty.bin"), nil, 0o644))
	must(os.WriteFile(filepath.Join(dir, ".hidden"), []byte(secret), 0o644))
	must(os.WriteFile(filepath.Join(dir, "sub", ".env"), []byte(secret), 0o644))
	must(os.Symlink(f.secretPath, filepath.Join(dir, "link-out")))
	must(os.Symlink("../secret.txt", filepath.Join(dir, "sub", "rel-link-out")))
	must(os.Symlink(base, filepath.Join(dir, "dir-link-out")))
	must(os.Symlink("video.mp4", filepath.Join(dir, "link-in.mp4")))
	return f
}

func newTestServer(t *testing.T, cfg ServerConfig) (*Server, *httptest.Server) {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		_ = s.Close()
	})
	return s, hs
}

func get(t *testing.T, method, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// rangeCases are Range headers with the slice of an object of size n each
// selects.
func rangeCases(n int) []struct {
	header   string
	from, to int
} {
	return []struct {
		header   string
		from, to int
	}{
		{"bytes=0-0", 0, 1},
		{"bytes=0-99", 0, 100},
		{fmt.Sprintf("bytes=%d-", n-10), n - 10, n},
		{"bytes=-500", n - 500, n},
		{fmt.Sprintf("bytes=1000-%d", n+1000), 1000, n},
		{"bytes=4095-8192", 4095, 8193},
	}
}

func TestServerDirRanges(t *testing.T) {
	f := newDirFixture(t)
	_, hs := newTestServer(t, ServerConfig{Dir: f.dir})
	for _, c := range rangeCases(len(f.video)) {
		resp, body := get(t, "GET", hs.URL+"/video.mp4", map[string]string{"Range": c.header})
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, f.video[c.from:c.to]) {
			t.Errorf("%s: status %d, %d bytes; want 206 with bytes [%d,%d)", c.header, resp.StatusCode, len(body), c.from, c.to)
		}
		wantCR := fmt.Sprintf("bytes %d-%d/%d", c.from, c.to-1, len(f.video))
		if got := resp.Header.Get("Content-Range"); got != wantCR {
			t.Errorf("%s: Content-Range %q, want %q", c.header, got, wantCR)
		}
	}
	resp, body := get(t, "GET", hs.URL+"/sub/seg-1.ts", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, f.segment) {
		t.Fatalf("full GET: status %d, %d bytes", resp.StatusCode, len(body))
	}
	h := resp.Header
	if h.Get("Content-Type") != "video/mp2t" || h.Get("Cache-Control") != DefaultCacheControl ||
		!isStrongETag(h.Get("ETag")) || h.Get("Last-Modified") == "" || h.Get("Accept-Ranges") != "bytes" {
		t.Errorf("full GET headers: %v", h)
	}
	if resp, _ := get(t, "GET", hs.URL+"/link-in.mp4", map[string]string{"Range": "bytes=0-9"}); resp.StatusCode != 206 {
		t.Errorf("symlink inside the root: status %d, want 206", resp.StatusCode)
	}
}

func TestServerConditionals(t *testing.T) {
	f := newDirFixture(t)
	_, hs := newTestServer(t, ServerConfig{Dir: f.dir, Synthetic: true, CacheControl: "max-age=5"})
	for _, p := range []string{"/video.mp4", SyntheticPath(100_000, "c.mp4")} {
		resp, _ := get(t, "HEAD", hs.URL+p, nil)
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || resp.ContentLength != 100_000 || etag == "" {
			t.Fatalf("%s: HEAD status %d, length %d, ETag %q", p, resp.StatusCode, resp.ContentLength, etag)
		}
		resp, body := get(t, "GET", hs.URL+p, map[string]string{"If-None-Match": etag})
		if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("Cache-Control") != "max-age=5" {
			t.Errorf("%s: If-None-Match: status %d, Cache-Control %q", p, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		resp, body = get(t, "GET", hs.URL+p, map[string]string{"Range": "bytes=10-19", "If-Range": etag})
		if resp.StatusCode != 206 || len(body) != 10 {
			t.Errorf("%s: matching If-Range: status %d, %d bytes", p, resp.StatusCode, len(body))
		}
		resp, body = get(t, "GET", hs.URL+p, map[string]string{"Range": "bytes=10-19", "If-Range": `"other"`})
		if resp.StatusCode != 200 || len(body) != 100_000 {
			t.Errorf("%s: failed If-Range: status %d, %d bytes; want the full object", p, resp.StatusCode, len(body))
		}
		resp, _ = get(t, "GET", hs.URL+p, map[string]string{"Range": "bytes=100000-"})
		if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */100000" {
			t.Errorf("%s: unsatisfiable range: status %d, Content-Range %q", p, resp.StatusCode, resp.Header.Get("Content-Range"))
		}
		resp, body = get(t, "GET", hs.URL+p, map[string]string{"Range": "bytes=0-1,5-6"})
		if resp.StatusCode != 206 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") || len(body) == 0 {
			t.Errorf("%s: multi-range: status %d, Content-Type %q", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestServerSyntheticRanges(t *testing.T) {
	_, hs := newTestServer(t, ServerConfig{Synthetic: true})
	const size = 3*syntheticBlock + 77
	want := make([]byte, size)
	SyntheticFill(want, size, "v/seg.m4s", 0)
	p := hs.URL + SyntheticPath(size, "v/seg.m4s")
	for _, c := range rangeCases(size) {
		resp, body := get(t, "GET", p, map[string]string{"Range": c.header})
		if resp.StatusCode != 206 || !bytes.Equal(body, want[c.from:c.to]) {
			t.Errorf("%s: status %d, %d bytes; want 206 with bytes [%d,%d)", c.header, resp.StatusCode, len(body), c.from, c.to)
		}
	}
	resp, body := get(t, "GET", p, nil)
	h := resp.Header
	if resp.StatusCode != 200 || !bytes.Equal(body, want) || h.Get("ETag") != SyntheticETag(size, "v/seg.m4s") ||
		h.Get("Content-Type") != "video/iso.segment" || h.Get("Last-Modified") != SyntheticModTime.Format(http.TimeFormat) {
		t.Errorf("full GET: status %d, %d bytes, headers %v", resp.StatusCode, len(body), h)
	}
	if resp, _ := get(t, "HEAD", hs.URL+SyntheticPath(1, "noext"), nil); resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("no extension: Content-Type %q", resp.Header.Get("Content-Type"))
	}
}

// TestServerSyntheticHuge reads the last bytes of a 1 TiB object: the
// server must generate them without producing what precedes them.
func TestServerSyntheticHuge(t *testing.T) {
	_, hs := newTestServer(t, ServerConfig{Synthetic: true})
	const size = maxSyntheticSize
	resp, body := get(t, "GET", hs.URL+SyntheticPath(size, "huge"), map[string]string{"Range": "bytes=-1000"})
	want := make([]byte, 1000)
	SyntheticFill(want, size, "huge", size-1000)
	if resp.StatusCode != 206 || !bytes.Equal(body, want) {
		t.Fatalf("tail of a 1 TiB object: status %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := get(t, "HEAD", hs.URL+SyntheticPath(size+1, "huge"), nil); resp.StatusCode != 400 {
		t.Errorf("1 TiB + 1: status %d, want 400", resp.StatusCode)
	}
	for _, p := range []string{"/synthetic/", "/synthetic/x/y", "/synthetic/10", "/synthetic/-1/y"} {
		if resp, _ := get(t, "GET", hs.URL+p, nil); resp.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

// rawStatus sends target byte for byte in a request line, bypassing any
// client-side cleaning, and returns the status and body.
func rawStatus(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServerRefusesEscapes(t *testing.T) {
	f := newDirFixture(t)
	_, hs := newTestServer(t, ServerConfig{Dir: f.dir, Synthetic: true})
	addr := strings.TrimPrefix(hs.URL, "http://")
	// Sanity: the raw client can fetch a legitimate file.
	if code, _ := rawStatus(t, addr, "/sub/seg-1.ts"); code != 200 {
		t.Fatalf("legitimate file: status %d", code)
	}
	for _, target := range []string{
		"/../secret.txt",
		"/sub/../../secret.txt",
		"/sub/../video.mp4", // harmless, but ".." is refused outright
		"/./video.mp4",
		"/%2e%2e/secret.txt",
		"/%2E%2E/secret.txt",
		"/sub/%2e%2e/%2e%2e/secret.txt",
		"/..%2fsecret.txt",
		"/sub%2F..%2F..%2Fsecret.txt",
		"/..%5csecret.txt",
		"/sub\\..\\..\\secret.txt",
		"/link-out",
		"/sub/rel-link-out",
		"/dir-link-out/secret.txt",
		"//etc/passwd",
		"/etc/passwd",
		"http://origin/../secret.txt",
		"/" + f.secretPath,
		"/video.mp4%00.txt",
		"/.hidden",
		"/sub/.env",
		"/%2ehidden",
		"/.edgecache/../.hidden",
		"/sub",
		"/sub/",
		"/sub/deeper",
	} {
		code, body := rawStatus(t, addr, target)
		if code < 400 || code >= 500 || strings.Contains(body, secret) {
			t.Errorf("%q: status %d, body %.60q; want a 4xx without the secret", target, code, body)
		}
	}
	// "/" is the page that says what the server serves: it names no file
	// unless asked to (ServerConfig.Index), let alone one it refuses.
	if code, body := rawStatus(t, addr, "/"); code != 200 || strings.Contains(body, secret) || strings.Contains(body, "hidden") {
		t.Errorf("/: status %d, body %.60q; want the page, without the secret", code, body)
	}
}

func TestFileName(t *testing.T) {
	for target, want := range map[string]string{
		"/video.mp4":          "video.mp4",
		"/a%20b/c.ts":         "a b/c.ts",
		"/sub/seg-1.ts?x=%2F": "sub/seg-1.ts",
		"/..":                 "",
		"/a/./b":              "",
		"/a//b":               "",
		"/a/b/":               "",
		"/a%2Fb":              "",
		"/a%00b":              "",
	} {
		r := httptest.NewRequest("GET", target, nil)
		got, ok := fileName(r)
		if got != want || ok != (want != "") {
			t.Errorf("fileName(%q) = %q, %v; want %q", target, got, ok, want)
		}
	}
}

func TestServerMethodsAndStats(t *testing.T) {
	f := newDirFixture(t)
	s, hs := newTestServer(t, ServerConfig{Dir: f.dir})
	resp, _ := get(t, "POST", hs.URL+"/video.mp4", nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp, _ := get(t, "GET", hs.URL+SyntheticPath(10, "x"), nil); resp.StatusCode != 404 {
		t.Errorf("synthetic path without Synthetic: status %d, want 404", resp.StatusCode)
	}
	_, body := get(t, "GET", hs.URL+"/video.mp4", map[string]string{"Range": "bytes=0-999"})
	get(t, "HEAD", hs.URL+"/video.mp4", nil)
	get(t, "GET", hs.URL+"/empty.bin", nil)
	if len(body) != 1000 {
		t.Fatalf("range read %d bytes", len(body))
	}
	// 5 requests so far; the 405 and 404 bodies count as body bytes too.
	st := s.Stats()
	if st.Requests != 5 || st.BodyBytes < 1000 {
		t.Fatalf("Stats = %+v, want 5 requests and at least 1000 bytes", st)
	}
	resp, body = get(t, "GET", hs.URL+StatsPath, nil)
	var got ServerStats
	if err := json.Unmarshal(body, &got); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("stats endpoint: %v, %s", err, body)
	}
	if resp, _ := get(t, "DELETE", hs.URL+StatsPath, nil); resp.StatusCode != 405 {
		t.Errorf("DELETE %s: status %d, want 405", StatsPath, resp.StatusCode)
	}
	if got != st || s.Stats() != st {
		t.Errorf("stats endpoint = %+v, Stats = %+v, want %+v (the endpoint itself is not counted)", got, s.Stats(), st)
	}
}

func TestNewServerValidates(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []ServerConfig{{}, {Dir: file}, {Dir: filepath.Join(t.TempDir(), "missing"), Synthetic: true}} {
		if s, err := NewServer(cfg); err == nil {
			_ = s.Close()
			t.Errorf("NewServer(%+v) succeeded", cfg)
		}
	}
}

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"a.mp4": "video/mp4", "a/b.M4S": "video/iso.segment", "x.ts": "video/mp2t",
		"p.m3u8": "application/vnd.apple.mpegurl", "m.mpd": "application/dash+xml", "v.webm": "video/webm",
		"noext": "application/octet-stream", "x.unknownext": "application/octet-stream",
		"film.mkv": "video/x-matroska", "/live/p.m3u8?token=a.b": "application/vnd.apple.mpegurl",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", name, got, want)
		}
	}
}
