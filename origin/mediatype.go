package origin

import (
	"mime"
	"path"
	"strings"
)

// contentType returns the media type for a file name: the streaming types
// first, because system MIME tables often lack them or disagree (.ts as
// TypeScript), then the system table, then application/octet-stream. No
// sniffing: the type of an object must not depend on which bytes a range
// request happened to read first.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case ".mp4", ".m4v":
		return "video/mp4"
	case ".m4a":
		return "audio/mp4"
	case ".m4s":
		return "video/iso.segment"
	case ".ts":
		return "video/mp2t"
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".mpd":
		return "application/dash+xml"
	case ".webm":
		return "video/webm"
	case ".vtt":
		return "text/vtt"
	case "":
		return "application/octet-stream"
	}
	// mime.TypeByExtension is only read here, never extended: its table
	// is process-global state.
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
