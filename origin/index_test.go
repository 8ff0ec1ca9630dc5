package origin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// The page at / shows the counters, the synthetic paths and, when asked,
// the files that would be served (never a dotfile), is not counted and is
// never stored by a cache.
func TestIndexPage(t *testing.T) {
	files := fstest.MapFS{
		"movie.mp4":         {Data: []byte("movie")},
		"hls/seg000.m4s":    {Data: []byte("segment zero")},
		".secret":           {Data: []byte("no")},
		".git/config":       {Data: []byte("no")},
		"hls/.hidden.m3u8":  {Data: []byte("no")},
		"player.html":       {Data: []byte("<html>")},
		"hls/index.m3u8":    {Data: []byte("#EXTM3U")},
		"hls/master.m3u8":   {Data: []byte("#EXTM3U")},
		"hls/init.mp4":      {Data: []byte("init")},
		"hls/seg001.m4s":    {Data: []byte("segment one")},
		"subdir/empty.bin":  {Data: nil},
		"subdir/nested/a.b": {Data: []byte("ab")},
	}
	for _, listed := range []bool{true, false} {
		t.Run(fmt.Sprint("index=", listed), func(t *testing.T) {
			s, err := NewServer(ServerConfig{FS: files, Synthetic: true, Index: listed})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(s)
			defer hs.Close()
			get(t, "GET", hs.URL+"/movie.mp4", nil)
			get(t, "GET", hs.URL+"/nothing-here", nil)
			before := s.Stats()
			resp, body := get(t, "GET", hs.URL+"/", nil)
			page := string(body)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("GET /: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
			}
			for _, want := range []string{"<b>2</b> requests", fmt.Sprintf("<b>%d</b> body bytes", before.BodyBytes), StatsPath, SyntheticPath(1<<20, "example.bin")} {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %q:\n%s", want, page)
				}
			}
			for _, name := range []string{"/movie.mp4", "/hls/seg000.m4s", "/subdir/nested/a.b"} {
				if strings.Contains(page, `href="`+name+`"`) != listed {
					t.Errorf("file %s listed: %v, want %v", name, !listed, listed)
				}
			}
			if strings.Contains(page, "secret") || strings.Contains(page, ".git") || strings.Contains(page, "hidden") {
				t.Errorf("the page names a dotfile:\n%s", page)
			}
			if st := s.Stats(); st.Requests != 2 {
				t.Errorf("%d requests counted, want 2: the page is not counted", st.Requests)
			}
			if resp, _ := get(t, "POST", hs.URL+"/", nil); resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("POST /: %d", resp.StatusCode)
			}
		})
	}
}

// The list stops at maxIndexEntries and says there are more.
func TestIndexPageBounded(t *testing.T) {
	files := fstest.MapFS{}
	for i := range maxIndexEntries + 5 {
		files[fmt.Sprintf("f%05d.bin", i)] = &fstest.MapFile{Data: []byte("x")}
	}
	s, err := NewServer(ServerConfig{FS: files, Index: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, more := s.indexEntries()
	if len(entries) != maxIndexEntries || !more || entries[0].Path != "/f00000.bin" {
		t.Errorf("%d entries, more %v, first %+v", len(entries), more, entries[0])
	}
}
