// Package media is the demo's media library, compiled into the binary so
// that `go run . demo` needs nothing but Go: movie.mp4 and hls/ were made
// once by scripts/make-media.sh, player.html is written by hand. The files
// live beside this one because go:embed reads only from its own package's
// directory.
//
// What it must never do: change at run time (an embed.FS is read-only, so
// sharing it is sharing no mutable state) or grow past its budget (the
// tests hold it under 4 MiB: it is in every binary and in the repository's
// history forever).
package media

import (
	"embed"
	"io/fs"
)

//go:embed movie.mp4 player.html hls
var files embed.FS

// Paths of the media library, as the origin and the edges serve it.
const (
	PlayerPath = "/player.html"     // the page that plays both renditions
	MoviePath  = "/movie.mp4"       // H.264/AAC, moov at the end
	HLSPath    = "/hls/master.m3u8" // fMP4 HLS of the same streams
)

// Library returns the media library rooted at its top: movie.mp4 is
// served as /movie.mp4.
func Library() fs.FS { return files }
