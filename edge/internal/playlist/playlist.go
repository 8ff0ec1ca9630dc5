package playlist

import (
	"bufio"
	"bytes"
	"cmp"
	"net/url"
	"path"
	"strings"
)

// Is reports whether key names an HLS or DASH playlist.
func Is(key string) bool {
	p, _, _ := strings.Cut(key, "?")
	ext := strings.ToLower(path.Ext(p))
	return ext == ".m3u8" || ext == ".mpd"
}

// Refs returns at most max references of the playlist body whose object
// key is key, in the order a player needs them (init segments before
// media segments).
func Refs(key string, body []byte, max int) []string {
	p, _, _ := strings.Cut(key, "?")
	if strings.EqualFold(path.Ext(p), ".mpd") {
		return mpdRefs(body, max)
	}
	return m3u8Refs(body, max)
}

// m3u8Refs reads an HLS playlist (RFC 8216): URI lines (media segments, or
// variant playlists in a master playlist) and the URI attribute of the tags
// that name one (EXT-X-MAP's init segment, EXT-X-MEDIA's renditions).
func m3u8Refs(body []byte, max int) []string {
	var refs []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() && len(refs) < max {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-MAP:"), strings.HasPrefix(line, "#EXT-X-MEDIA:"):
			if uri, ok := attrURI(line); ok {
				refs = append(refs, uri)
			}
		case strings.HasPrefix(line, "#"):
		default:
			refs = append(refs, line)
		}
	}
	return refs
}

// attrURI returns the quoted URI attribute of an HLS tag line.
func attrURI(line string) (string, bool) {
	i := strings.Index(line, `URI="`)
	if i < 0 {
		return "", false
	}
	rest := line[i+len(`URI="`):]
	j := strings.IndexByte(rest, '"')
	if j <= 0 {
		return "", false
	}
	return rest[:j], true
}

// joinRef applies a BaseURL to a reference: an absolute reference stands
// alone, a relative one continues base's directory. Dot segments are left
// for RefKey, which resolves against the playlist's own path.
func joinRef(base, ref string) string {
	if base == "" || ref == "" || strings.HasPrefix(ref, "/") || strings.Contains(ref, "://") {
		return cmp.Or(ref, base)
	}
	return base[:strings.LastIndexByte(base, '/')+1] + ref
}

// RefKey maps a reference found in the playlist whose object key is
// playlist onto the object key a client request for it would have (the
// edge's requestKey): only references on the playlist's origin (relative,
// or an absolute path) can be; others report false.
func RefKey(playlist, ref string) (string, bool) {
	r, err := url.Parse(ref)
	if err != nil || r.Scheme != "" || r.Host != "" || r.Opaque != "" {
		return "", false
	}
	p, _, _ := strings.Cut(playlist, "?")
	baseURL, err := url.Parse(p)
	if err != nil {
		return "", false
	}
	u := baseURL.ResolveReference(r)
	if !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	for i := 0; i < len(u.Path); i++ {
		if c := u.Path[i]; c < 0x20 || c == 0x7f || c == '?' || c == '#' {
			return "", false
		}
	}
	key := (&url.URL{Path: u.Path}).EscapedPath()
	if u.RawQuery != "" {
		key += "?" + u.RawQuery
	}
	return key, true
}
