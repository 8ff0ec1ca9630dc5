package playlist

import (
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
		got, ok := RefKey(tc.playlist, tc.ref)
		if got != tc.want || ok != tc.ok {
			t.Errorf("RefKey(%q, %q) = %q, %v; want %q, %v", tc.playlist, tc.ref, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzPlaylistRefs: no playlist panics the parsers or yields more than
// asked, and every reference maps to a key or is refused.
func FuzzPlaylistRefs(f *testing.F) {
	f.Add("/a.m3u8", []byte("#EXTM3U\n#EXT-X-MAP:URI=\"i.mp4\"\ns.ts\n"))
	f.Add("/a.mpd", []byte(`<MPD><Period><AdaptationSet><SegmentTemplate media="$Number%03d$.m4s"/><Representation id="x"/></AdaptationSet></Period></MPD>`))
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		refs := Refs(key, body, 5)
		if len(refs) > 5 {
			t.Fatalf("%d refs, asked for 5", len(refs))
		}
		for _, r := range refs {
			if k, ok := RefKey("/p/"+key, r); ok && (k == "" || k[0] != '/') {
				t.Fatalf("ref %q gave key %q", r, k)
			}
		}
	})
}
