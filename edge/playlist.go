package edge

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/xml"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Playlist prefetch: when an HLS or DASH playlist passes through the edge
// for the first time (its chunk was not in memory), the first segments it
// names are warmed in the background, so that a player starting the stream
// finds them cached. The playlist is parsed for the segment references
// alone; what cannot be mapped onto this edge's origin (an absolute URL to
// another host, a DASH $Time$ template) is skipped, never guessed.

// isPlaylist reports whether key names an HLS or DASH playlist.
func isPlaylist(key string) bool {
	p, _, _ := strings.Cut(key, "?")
	ext := strings.ToLower(path.Ext(p))
	return ext == ".m3u8" || ext == ".mpd"
}

// playlistRefs returns at most max references of the playlist body, in the
// order a player needs them (init segments before media segments). kind is
// the playlist's extension.
func playlistRefs(key string, body []byte, max int) []string {
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

// templateVar matches the identifiers of a DASH SegmentTemplate (ISO/IEC
// 23009-1 §5.3.9.4.4) with an optional printf width.
var templateVar = regexp.MustCompile(`\$(RepresentationID|Number|Bandwidth|Time)(%0(\d{1,2})d)?\$`)

// mpdRefs reads a DASH MPD: for the first Representation of each
// adaptation set, its init segment and first media segments, from a
// SegmentTemplate ($Number$ addressing) or a SegmentList; BaseURLs are
// applied. Templates addressed by $Time$ are skipped: their names need the
// SegmentTimeline's arithmetic, and a wrong guess would only cost the
// origin a 404.
func mpdRefs(body []byte, max int) []string {
	type template struct {
		init, media string
		start       int
		set         bool
	}
	var (
		base     []string // BaseURL per open element depth
		tmpl     []template
		inBase   bool
		baseText strings.Builder
		repSeen  = map[int]bool{} // adaptation set -> its first Representation was used
		set      = -1             // the open adaptation set, by order
		repID    string
		inRep    bool
		useRep   bool
		bw       string
	)
	// One list per Representation (or segment list) used; interleaved at
	// the end, so that a player's video and audio both start warm.
	var lists [][]string
	cur := -1 // the list of the open Representation, or -1
	add := func(ref string) {
		if ref == "" {
			return
		}
		prefix := ""
		for _, b := range base {
			prefix = joinRef(prefix, b)
		}
		if cur < 0 {
			lists = append(lists, nil)
			cur = len(lists) - 1
			defer func() { cur = -1 }()
		}
		if len(lists[cur]) < max {
			lists[cur] = append(lists[cur], joinRef(prefix, ref))
		}
	}
	expand := func(t, number string) (string, bool) {
		ok := true
		out := templateVar.ReplaceAllStringFunc(t, func(m string) string {
			sub := templateVar.FindStringSubmatch(m)
			val := ""
			switch sub[1] {
			case "RepresentationID":
				val = repID
			case "Number":
				val = number
			case "Bandwidth":
				val = bw
			case "Time":
				ok = false
			}
			if w, err := strconv.Atoi(sub[3]); err == nil && len(val) < w {
				val = strings.Repeat("0", w-len(val)) + val
			}
			return val
		})
		return strings.ReplaceAll(out, "$$", "$"), ok
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			base = append(base, "")
			tmpl = append(tmpl, template{})
			if len(tmpl) > 1 {
				tmpl[len(tmpl)-1] = tmpl[len(tmpl)-2] // templates inherit downwards
			}
			attr := func(name string) string {
				for _, a := range t.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch t.Name.Local {
			case "AdaptationSet":
				set++
			case "Representation":
				inRep, repID, bw = true, attr("id"), attr("bandwidth")
				useRep = !repSeen[set]
				repSeen[set] = true
				if useRep {
					lists = append(lists, nil)
					cur = len(lists) - 1
				}
			case "BaseURL":
				inBase = true
				baseText.Reset()
			case "SegmentTemplate":
				if len(tmpl) < 2 {
					break
				}
				// It applies to its parent element, and what that contains.
				cur := &tmpl[len(tmpl)-2]
				if v := attr("initialization"); v != "" {
					cur.init = v
				}
				if v := attr("media"); v != "" {
					cur.media = v
				}
				cur.start = 1
				if v, err := strconv.Atoi(attr("startNumber")); err == nil {
					cur.start = v
				}
				cur.set = true
			case "Initialization":
				if useRep || !inRep {
					add(attr("sourceURL"))
				}
			case "SegmentURL":
				if useRep || !inRep {
					add(attr("media"))
				}
			}
		case xml.CharData:
			if inBase {
				baseText.Write(t)
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "BaseURL":
				inBase = false
				// The BaseURL applies to its parent element: the slot below.
				if len(base) >= 2 {
					base[len(base)-2] = strings.TrimSpace(baseText.String())
				}
			case "Representation":
				if t := tmpl[len(tmpl)-1]; useRep && t.set {
					if ref, ok := expand(t.init, ""); ok && t.init != "" {
						add(ref)
					}
					for i := 0; t.media != "" && i < max; i++ {
						ref, ok := expand(t.media, strconv.Itoa(t.start+i))
						if !ok {
							break
						}
						add(ref)
					}
				}
				inRep, cur = false, -1
			}
			if len(base) > 0 {
				base = base[:len(base)-1]
				tmpl = tmpl[:len(tmpl)-1]
			}
		}
	}
	var refs []string
	for i := 0; len(refs) < max; i++ {
		took := false
		for _, l := range lists {
			if i < len(l) && len(refs) < max {
				refs, took = append(refs, l[i]), true
			}
		}
		if !took {
			break
		}
	}
	return refs
}

// joinRef applies a BaseURL to a reference: an absolute reference stands
// alone, a relative one continues base's directory. Dot segments are left
// for refKey, which resolves against the playlist's own path.
func joinRef(base, ref string) string {
	if base == "" || ref == "" || strings.HasPrefix(ref, "/") || strings.Contains(ref, "://") {
		return cmp.Or(ref, base)
	}
	return base[:strings.LastIndexByte(base, '/')+1] + ref
}

// refKey maps a reference found in the playlist whose object key is
// playlist onto the object key a client request for it would have (see
// requestKey): only references on this edge's origin (relative, or an
// absolute path) can be; others report false.
func refKey(playlist, ref string) (string, bool) {
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
