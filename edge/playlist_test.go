package edge

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestM3U8Refs(t *testing.T) {
	media := []byte(`#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.0,
seg000.m4s
#EXTINF:4.0,

seg001.m4s
#EXTINF:4.0,
seg002.m4s
#EXT-X-ENDLIST
`)
	if got, want := m3u8Refs(media, 3), []string{"init.mp4", "seg000.m4s", "seg001.m4s"}; !slices.Equal(got, want) {
		t.Errorf("media playlist: %q, want %q", got, want)
	}
	master := []byte("#EXTM3U\r\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"audio/en.m3u8\"\r\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS=\"avc1.4d401e,mp4a.40.2\"\r\nlow/index.m3u8\r\n")
	if got, want := m3u8Refs(master, 5), []string{"audio/en.m3u8", "low/index.m3u8"}; !slices.Equal(got, want) {
		t.Errorf("master playlist: %q, want %q", got, want)
	}
}

func TestMPDRefs(t *testing.T) {
	mpd := []byte(`<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">
  <BaseURL>media/</BaseURL>
  <Period>
    <AdaptationSet mimeType="video/mp4">
      <SegmentTemplate initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="7"/>
      <Representation id="v720" bandwidth="3000000"/>
      <Representation id="v360" bandwidth="800000"/>
    </AdaptationSet>
    <AdaptationSet mimeType="audio/mp4">
      <Representation id="a" bandwidth="128000">
        <SegmentList>
          <Initialization sourceURL="a/init.mp4"/>
          <SegmentURL media="a/1.m4s"/>
          <SegmentURL media="a/2.m4s"/>
        </SegmentList>
      </Representation>
    </AdaptationSet>
    <AdaptationSet mimeType="text/vtt">
      <SegmentTemplate media="t/$Time$.vtt"/>
      <Representation id="t"/>
    </AdaptationSet>
  </Period>
</MPD>`)
	// Video and audio interleaved, so that both start warm; only the first
	// Representation of a set; no $Time$ template.
	got := mpdRefs(mpd, 5)
	want := []string{"media/v720/init.mp4", "media/a/init.mp4", "media/v720/seg-00007.m4s", "media/a/1.m4s", "media/v720/seg-00008.m4s"}
	if !slices.Equal(got, want) {
		t.Fatalf("refs %q, want %q", got, want)
	}
	for _, r := range mpdRefs(mpd, 64) {
		if strings.Contains(r, "v360") || strings.HasSuffix(r, ".vtt") {
			t.Errorf("ref %q: only the first Representation of a set, and no $Time$ template", r)
		}
	}
	if n := len(mpdRefs(mpd, 2)); n != 2 {
		t.Errorf("max 2 gave %d refs", n)
	}
}

func TestRefKey(t *testing.T) {
	for _, tc := range []struct {
		playlist, ref, want string
		ok                  bool
	}{
		{"/hls/index.m3u8", "seg0.m4s", "/hls/seg0.m4s", true},
		{"/hls/index.m3u8?token=1", "seg0.m4s?token=1", "/hls/seg0.m4s?token=1", true},
		{"/hls/a/index.m3u8", "../b/seg.ts", "/hls/b/seg.ts", true},
		{"/hls/index.m3u8", "/abs/seg.ts", "/abs/seg.ts", true},
		{"/hls/index.m3u8", "../../../../etc/passwd", "/etc/passwd", true}, // stays inside the origin's tree
		{"/hls/index.m3u8", "seg%20one.ts", "/hls/seg%20one.ts", true},
		{"/hls/index.m3u8", "https://other.example/seg.ts", "", false},
		{"/hls/index.m3u8", "//other.example/seg.ts", "", false},
		{"/hls/index.m3u8", "seg%00.ts", "", false},
	} {
		got, ok := refKey(tc.playlist, tc.ref)
		if got != tc.want || ok != tc.ok {
			t.Errorf("refKey(%q, %q) = %q, %v; want %q, %v", tc.playlist, tc.ref, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzPlaylistRefs: no playlist panics the parsers or yields more than
// asked, and every reference maps to a key or is refused.
func FuzzPlaylistRefs(f *testing.F) {
	f.Add("/a.m3u8", []byte("#EXTM3U\n#EXT-X-MAP:URI=\"i.mp4\"\ns.ts\n"))
	f.Add("/a.mpd", []byte(`<MPD><Period><AdaptationSet><SegmentTemplate media="$Number%03d$.m4s"/><Representation id="x"/></AdaptationSet></Period></MPD>`))
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		refs := playlistRefs(key, body, 5)
		if len(refs) > 5 {
			t.Fatalf("%d refs, asked for 5", len(refs))
		}
		for _, r := range refs {
			if k, ok := refKey("/p/"+key, r); ok && (k == "" || k[0] != '/') {
				t.Fatalf("ref %q gave key %q", r, k)
			}
		}
	})
}

// A playlist passing through an edge for the first time warms the first
// segments it names: the player's next requests are hits, and the origin
// still serves each object once.
func TestPlaylistPrefetchWarmsSegments(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 64 << 10
	rng := rand.New(rand.NewPCG(8, 8))
	segs := map[string][]byte{}
	playlist := "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"init.mp4\"\n"
	segs["/live/init.mp4"] = randomBytes(rng, 1000)
	for i := range 5 {
		name := fmt.Sprintf("seg%d.m4s", i)
		segs["/live/"+name] = randomBytes(rng, 2*cs+100)
		playlist += "#EXTINF:4.0,\n" + name + "\n"
	}
	for p, data := range segs {
		org.put(p, &testObject{data: data, etag: fmt.Sprintf("%q", p), modTime: confModTime})
	}
	org.put("/live/index.m3u8", &testObject{data: []byte(playlist), etag: `"pl"`, modTime: confModTime})
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize, c.PrefetchSegments, c.ReadaheadNext = cs, 3, 0 })

	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/live/index.m3u8", nil); res.status != http.StatusOK || string(res.body) != playlist {
		t.Fatalf("playlist: status %d", res.status)
	}
	waitFor(t, "the first three references to be warmed", func() bool { return n.Stats().PlaylistPrefetches == 3 })
	for _, p := range []string{"/live/init.mp4", "/live/seg0.m4s", "/live/seg1.m4s"} {
		res := do(t, http.MethodGet, "http://"+n.Addr()+p, nil)
		if res.status != http.StatusOK || string(res.body) != string(segs[p]) || res.header.Get("X-Cache") != "HIT" {
			t.Errorf("%s: status %d, X-Cache %q, identical=%v", p, res.status, res.header.Get("X-Cache"), string(res.body) == string(segs[p]))
		}
	}
	if res := do(t, http.MethodGet, "http://"+n.Addr()+"/live/seg2.m4s", nil); res.header.Get("X-Cache") != "MISS" {
		t.Errorf("seg2 (past the prefetch): X-Cache %q, want MISS", res.header.Get("X-Cache"))
	}
	for p := range segs {
		if got := org.rangeGets(p); len(got) > 3 {
			t.Errorf("%s: origin reads %v", p, got)
		}
	}
	// Served again, from memory, the playlist warms nothing more.
	do(t, http.MethodGet, "http://"+n.Addr()+"/live/index.m3u8", nil)
	if got := n.Stats().PlaylistPrefetches; got != 3 {
		t.Errorf("%d prefetches after a second read of the playlist, want 3", got)
	}
}
