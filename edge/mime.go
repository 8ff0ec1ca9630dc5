package edge

import (
	"mime"
	"path"
	"strings"
)

// mediaTypes are the streaming formats whose types the edge supplies when
// the origin sends none: players such as hls.js and Safari refuse a
// playlist or a segment served as application/octet-stream.
var mediaTypes = map[string]string{
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

// contentTypeFor guesses the type of an object from its key's extension.
func contentTypeFor(key string) string {
	p, _, _ := strings.Cut(key, "?")
	ext := strings.ToLower(path.Ext(p))
	if t, ok := mediaTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
