package origin

import (
	"bytes"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// fsFixture is a file system like an embed.FS: no modification times, a
// hidden file and a nested one.
func fsFixture() (fstest.MapFS, []byte) {
	video := bytes.Repeat([]byte("0123456789abcdef"), 6_000) // 96,000 bytes
	return fstest.MapFS{
		"movie.mp4":       {Data: video},
		"hls/index.m3u8":  {Data: []byte("#EXTM3U\n")},
		"hls/seg000.m4s":  {Data: []byte("segment zero")},
		"hls/seg001.m4s":  {Data: []byte("segment one!")}, // same size as seg000
		".hidden":         {Data: []byte(secret)},
		"hls/.env":        {Data: []byte(secret)},
		"dated/clip.mp4":  {Data: []byte("dated"), ModTime: time.Unix(1_700_000_000, 5)},
		"player.html":     {Data: []byte("<!doctype html>")},
		"sub/deeper/x.ts": {Data: []byte("x")},
	}, video
}

func TestServerFSRangesAndValidators(t *testing.T) {
	fsys, video := fsFixture()
	_, hs := newTestServer(t, ServerConfig{FS: fsys})
	for _, c := range rangeCases(len(video)) {
		resp, body := get(t, "GET", hs.URL+"/movie.mp4", map[string]string{"Range": c.header})
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, video[c.from:c.to]) {
			t.Errorf("%s: status %d, %d bytes; want 206 with bytes [%d,%d)", c.header, resp.StatusCode, len(body), c.from, c.to)
		}
	}
	resp, _ := get(t, "HEAD", hs.URL+"/movie.mp4", nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !isStrongETag(etag) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("HEAD: status %d, headers %v; want 200 with a strong ETag", resp.StatusCode, resp.Header)
	}
	// No modification time: no Last-Modified, so the ETag is the only
	// validator an edge has, and it must hold across requests.
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		t.Errorf("Last-Modified %q for a file without a modification time", lm)
	}
	resp, _ = get(t, "GET", hs.URL+"/movie.mp4", map[string]string{"Range": "bytes=10-19", "If-Range": etag})
	if resp.StatusCode != 206 || resp.Header.Get("ETag") != etag {
		t.Errorf("If-Range with the ETag: status %d, ETag %q; want 206 and %q", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
	if resp, _ := get(t, "GET", hs.URL+"/movie.mp4", map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
	}
	// Files of the same size get different ETags: the content decides.
	r0, _ := get(t, "HEAD", hs.URL+"/hls/seg000.m4s", nil)
	r1, _ := get(t, "HEAD", hs.URL+"/hls/seg001.m4s", nil)
	if e0, e1 := r0.Header.Get("ETag"), r1.Header.Get("ETag"); e0 == e1 || !isStrongETag(e0) {
		t.Errorf("same-size segments: ETags %q and %q, want two different strong ones", e0, e1)
	}
	// A file with a modification time keeps the time-and-size validators.
	resp, body := get(t, "GET", hs.URL+"/dated/clip.mp4", nil)
	if resp.StatusCode != 200 || string(body) != "dated" || resp.Header.Get("Last-Modified") == "" ||
		resp.Header.Get("ETag") != `"17979cfe362a0005-5"` {
		t.Errorf("dated file: status %d, headers %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := get(t, "GET", hs.URL+"/hls/index.m3u8", nil); resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Errorf("playlist Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if resp, _ := get(t, "GET", hs.URL+"/player.html", nil); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("player page Content-Type %q", resp.Header.Get("Content-Type"))
	}
}

func TestServerFSRefusesEscapes(t *testing.T) {
	fsys, _ := fsFixture()
	_, hs := newTestServer(t, ServerConfig{FS: fsys, Synthetic: true})
	addr := strings.TrimPrefix(hs.URL, "http://")
	if code, _ := rawStatus(t, addr, "/hls/seg000.m4s"); code != 200 {
		t.Fatalf("legitimate file: status %d", code)
	}
	for _, target := range []string{
		"/.hidden", "/hls/.env", "/%2ehidden", "/hls/../.hidden", "/../movie.mp4",
		"/hls%2f..%2f.hidden", "/hls\\seg000.m4s", "/hls", "/hls/", "/sub/deeper",
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

// unseekableFS opens files that can be read but not seeked.
type unseekableFS struct{ fstest.MapFS }

type unseekable struct{ fs.File }

func (u unseekableFS) Open(name string) (fs.File, error) {
	f, err := u.MapFS.Open(name)
	if err != nil {
		return nil, err
	}
	return unseekable{f}, nil
}

func TestServerFSUnseekableFile(t *testing.T) {
	_, hs := newTestServer(t, ServerConfig{FS: unseekableFS{fstest.MapFS{"a.mp4": {Data: []byte("abc")}}}})
	if resp, _ := get(t, "GET", hs.URL+"/a.mp4", map[string]string{"Range": "bytes=1-1"}); resp.StatusCode != 500 {
		t.Errorf("unseekable file: status %d, want 500", resp.StatusCode)
	}
}

func TestNewServerDirAndFS(t *testing.T) {
	s, err := NewServer(ServerConfig{Dir: t.TempDir(), FS: fstest.MapFS{}})
	if err == nil {
		_ = s.Close()
		t.Fatal("NewServer with both Dir and FS succeeded")
	}
}
