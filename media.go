package main

import (
	"embed"
	"fmt"
	"io/fs"
)

// mediaFiles is the demo's media library, compiled into the binary so that
// `go run . demo` needs nothing but Go: movie.mp4 and hls/ were made once
// by scripts/make-media.sh, player.html is written by hand. An embed.FS is
// read-only, so sharing it is sharing no mutable state.
//
//go:embed media
var mediaFiles embed.FS

// Paths of the media library, as the origin and the edges serve it.
const (
	playerPath = "/player.html"     // the page that plays both renditions
	moviePath  = "/movie.mp4"       // H.264/AAC, moov at the end
	hlsPath    = "/hls/master.m3u8" // fMP4 HLS of the same streams
)

// mediaLibrary returns the media library rooted at its top, so that
// media/movie.mp4 is served as /movie.mp4.
func mediaLibrary() (fs.FS, error) {
	lib, err := fs.Sub(mediaFiles, "media")
	if err != nil {
		return nil, fmt.Errorf("media library: %w", err)
	}
	return lib, nil
}
