package origin

import (
	"mime"
	"path"
	"strings"
)

// streamingTypes are the media types of the streaming formats, looked up
// before the system table because system MIME tables often lack them or
// disagree (.ts as TypeScript), and players such as hls.js and Safari
// refuse a playlist or a segment served as application/octet-stream.
var streamingTypes = map[string]string{
	".mp4":  "video/mp4",
	".m4v":  "video/mp4",
	".m4a":  "audio/mp4",
	".m4s":  "video/iso.segment",
	".ts":   "video/mp2t",
	".m3u8": "application/vnd.apple.mpegurl",
	".mpd":  "application/dash+xml",
	".webm": "video/webm",
	".mkv":  "video/x-matroska",
	".vtt":  "text/vtt",
}

// ContentType returns the media type for a file name or a URL path (a
// query, if any, is ignored): the streaming types first, then the system
// table, then application/octet-stream. The reference origin labels the
// files it serves with it, and an edge labels an object whose origin sent
// no type. No sniffing: the type of an object must not depend on which
// bytes a range request happened to read first.
func ContentType(name string) string {
	name, _, _ = strings.Cut(name, "?")
	ext := strings.ToLower(path.Ext(name))
	if t, ok := streamingTypes[ext]; ok {
		return t
	}
	if ext == "" {
		return "application/octet-stream"
	}
	// mime.TypeByExtension is only read here, never extended: its table
	// is process-global state.
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
