package media

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// mediaBudget bounds the media library: it is compiled into every binary
// and lives in the repository's history forever.
const mediaBudget = 4 << 20

func readMedia(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(Library(), name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// topLevelBoxes returns the types of an ISO BMFF file's top-level boxes in
// order, failing the test if the sizes do not add up to the file exactly.
func topLevelBoxes(t *testing.T, b []byte) []string {
	t.Helper()
	var types []string
	for off := uint64(0); off < uint64(len(b)); {
		if uint64(len(b))-off < 8 {
			t.Fatalf("%d stray bytes at %d", uint64(len(b))-off, off)
		}
		size := uint64(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		switch size {
		case 0: // the box runs to the end of the file
			size = uint64(len(b)) - off
		case 1: // a 64-bit size follows the type
			if uint64(len(b))-off < 16 {
				t.Fatalf("box %q at %d: truncated large size", typ, off)
			}
			size = binary.BigEndian.Uint64(b[off+8:])
		}
		if size < 8 || size > uint64(len(b))-off {
			t.Fatalf("box %q at %d: size %d does not fit a file of %d bytes", typ, off, size, len(b))
		}
		types = append(types, typ)
		off += size
	}
	return types
}

// TestMediaMP4MoovAtEnd checks the property the demo relies on: the MP4's
// index (moov) follows its media data (mdat), so a player must fetch the
// tail with a range request before it can play the beginning.
func TestMediaMP4MoovAtEnd(t *testing.T) {
	b := readMedia(t, "movie.mp4")
	boxes := topLevelBoxes(t, b)
	mdat, moov := -1, -1
	for i, typ := range boxes {
		switch typ {
		case "mdat":
			mdat = i
		case "moov":
			moov = i
		}
	}
	if len(boxes) == 0 || boxes[0] != "ftyp" || mdat < 0 || moov < mdat {
		t.Fatalf("top-level boxes %v: want ftyp first and moov after mdat (no faststart)", boxes)
	}
	for _, entry := range []string{"avc1", "mp4a"} {
		if !bytes.Contains(b, []byte(entry)) {
			t.Errorf("no %s sample entry: the movie must be H.264 + AAC", entry)
		}
	}
}

var (
	extinf    = regexp.MustCompile(`^#EXTINF:([0-9.]+),`)
	streamInf = regexp.MustCompile(`^#EXT-X-STREAM-INF:.*CODECS="(avc1\.[0-9A-Fa-f]{6}),(mp4a\.40\.2)"`)
	mapURI    = regexp.MustCompile(`^#EXT-X-MAP:URI="([^"]+)"`)
)

// TestMediaHLSPlaylists checks that the playlists the player page and
// ffmpeg read name files that exist, and that hls/ holds nothing else.
func TestMediaHLSPlaylists(t *testing.T) {
	lib := Library()
	master := strings.Split(string(readMedia(t, "hls/master.m3u8")), "\n")
	variant := ""
	for i, line := range master {
		if streamInf.MatchString(line) && i+1 < len(master) {
			variant = master[i+1]
		}
	}
	if variant != "index.m3u8" {
		t.Fatalf("master playlist: want one variant index.m3u8 with avc1 and mp4a CODECS (MSE needs them), got:\n%s",
			strings.Join(master, "\n"))
	}
	referenced := map[string]bool{"hls/master.m3u8": true, "hls/index.m3u8": true}
	var total float64
	pending, ended := false, false
	for line := range strings.SplitSeq(string(readMedia(t, "hls/index.m3u8")), "\n") {
		switch m, e := mapURI.FindStringSubmatch(line), extinf.FindStringSubmatch(line); {
		case m != nil:
			referenced[path.Join("hls", m[1])] = true
		case e != nil:
			d, err := strconv.ParseFloat(e[1], 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			total += d
			pending = true
		case line == "#EXT-X-ENDLIST":
			ended = true
		case line != "" && !strings.HasPrefix(line, "#") && pending:
			referenced[path.Join("hls", line)] = true
			pending = false
		}
	}
	if !ended || total < 20 || total > 30 {
		t.Errorf("media playlist: %.1f s of segments, ENDLIST %v; want a complete 20-30 s VOD", total, ended)
	}
	onDisk := map[string]bool{}
	err := fs.WalkDir(lib, "hls", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			onDisk[p] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range referenced {
		if !onDisk[name] {
			t.Errorf("%s is referenced by a playlist but missing", name)
		}
	}
	for name := range onDisk {
		if !referenced[name] {
			t.Errorf("%s is in the library but in no playlist (left over from another run of make-media.sh?)", name)
		}
	}
}

// TestMediaLibrarySize keeps the library within its budget.
func TestMediaLibrarySize(t *testing.T) {
	lib := Library()
	var total int64
	err := fs.WalkDir(lib, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		total += fi.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > mediaBudget {
		t.Errorf("media library is %d bytes, over its budget of %d", total, mediaBudget)
	}
}

// TestPlayerPageSelfContained checks that the player page loads nothing
// from elsewhere (it must work offline, and every byte must come through
// the edge) and names the paths the demo prints.
func TestPlayerPageSelfContained(t *testing.T) {
	page := string(readMedia(t, strings.TrimPrefix(PlayerPath, "/")))
	external := regexp.MustCompile(`(?i:(src|href|action)\s*=\s*["']?\s*(https?:)?//|@import|<link[^>]+stylesheet)|\burl\(`)
	if m := external.FindString(page); m != "" {
		t.Errorf("player page loads an external resource: %q", m)
	}
	for _, p := range []string{MoviePath, HLSPath} {
		if !strings.Contains(page, strings.TrimPrefix(p, "/")) {
			t.Errorf("player page does not play %s", p)
		}
	}
}
