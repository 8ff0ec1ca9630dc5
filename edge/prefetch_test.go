package edge

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
)

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
