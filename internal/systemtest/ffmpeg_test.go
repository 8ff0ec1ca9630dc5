package systemtest

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/media"
)

// ffmpegTimeout bounds one ffmpeg or ffprobe run: decoding the whole
// 24 s movie takes about a second on an idle core.
const ffmpegTimeout = 60 * time.Second

// frameHashes decodes input with ffmpeg, failing on the first decoding
// error (-xerror), and returns the MD5 of every decoded video and audio
// frame (-f framemd5) with the frames' timestamps. ffmpeg must also print
// nothing on stderr at -v error: a warning is a failure too.
func frameHashes(t *testing.T, ffmpeg string, input ...string) []string {
	t.Helper()
	args := append([]string{"-nostdin", "-hide_banner", "-v", "error", "-xerror"}, input...)
	args = append(args, "-f", "framemd5", "-")
	out, stderr := toolOutput(t, ffmpegTimeout, ffmpeg, args...)
	if len(bytes.TrimSpace(stderr)) > 0 {
		t.Errorf("ffmpeg %v printed errors:\n%s", input, stderr)
	}
	var frames []string
	for line := range strings.SplitSeq(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			frames = append(frames, line)
		}
	}
	if len(frames) == 0 {
		t.Fatalf("ffmpeg %v decoded no frames", input)
	}
	return frames
}

// sameFrames fails the test at the first frame where got differs from want.
func sameFrames(t *testing.T, what string, got, want []string) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: frame line %d differs:\n got %s\nwant %s", what, i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d frame lines, want %d", what, len(got), len(want))
	}
}

// TestFFprobeReadsMP4ThroughEdge: ffprobe finds both streams of the movie
// through a cold edge. The moov box is at the end, so it can only do so
// by reading the tail with a range request.
func TestFFprobeReadsMP4ThroughEdge(t *testing.T) {
	ffprobe := requireTool(t, "ffprobe")
	ring := startTestRing(t)
	out, stderr := toolOutput(t, ffmpegTimeout, ffprobe, "-hide_banner", "-v", "error",
		"-show_entries", "format=duration:stream=codec_name,width,height", "-of", "json", ring.Targets()[0]+media.MoviePath)
	if len(bytes.TrimSpace(stderr)) > 0 {
		t.Errorf("ffprobe printed errors:\n%s", stderr)
	}
	var probe struct {
		Format  struct{ Duration string }
		Streams []struct {
			CodecName     string `json:"codec_name"`
			Width, Height int
		}
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	var codecs []string
	for _, s := range probe.Streams {
		codecs = append(codecs, s.CodecName)
	}
	if strings.Join(codecs, ",") != "h264,aac" || probe.Streams[0].Width != 640 || probe.Streams[0].Height != 360 {
		t.Errorf("streams %+v, want 640x360 h264 and aac", probe.Streams)
	}
	if d, err := strconv.ParseFloat(probe.Format.Duration, 64); err != nil || math.Abs(d-24) > 0.5 {
		t.Errorf("duration %q, want about 24 s", probe.Format.Duration)
	}
}

// TestFFmpegDecodesMP4ThroughEdge decodes the movie through the ring and
// compares every decoded frame with decoding the file from disk: first a
// seek to the middle on a cold edge (the tail for the index, then a range
// from the middle of mdat), then the whole movie through another edge,
// which the first one's fills left with shards of it on its peers.
func TestFFmpegDecodesMP4ThroughEdge(t *testing.T) {
	ffmpeg := requireTool(t, "ffmpeg")
	ring := startTestRing(t)
	disk := filepath.Join(root, "media", media.MoviePath)
	edges := ring.Targets()

	seek := []string{"-ss", "12"}
	sameFrames(t, "seek to 12 s through edge 1",
		frameHashes(t, ffmpeg, append(seek, "-i", edges[0]+media.MoviePath)...),
		frameHashes(t, ffmpeg, append(seek, "-i", disk)...))

	sameFrames(t, "whole movie through edge 2",
		frameHashes(t, ffmpeg, "-i", edges[1]+media.MoviePath),
		frameHashes(t, ffmpeg, "-i", disk))
}

// TestFFmpegDecodesHLSThroughEdge plays the HLS rendition through the ring
// as a player would (master playlist, media playlist, init segment, then
// the fMP4 segments) and compares every frame with the same playlist read
// from disk.
func TestFFmpegDecodesHLSThroughEdge(t *testing.T) {
	ffmpeg := requireTool(t, "ffmpeg")
	ring := startTestRing(t)
	sameFrames(t, "HLS through edge 1",
		frameHashes(t, ffmpeg, "-i", ring.Targets()[0]+media.HLSPath),
		frameHashes(t, ffmpeg, "-i", filepath.Join(root, "media", media.HLSPath)))
}
