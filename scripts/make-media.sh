#!/bin/sh
# make-media.sh generates the demo's media library under media/ (run from
# the repository root). It was run once and its output is committed, so
# that `go run . demo` needs nothing but Go: rerun it only to change the
# media, and commit the result. Needs ffmpeg with libx264, libfreetype and
# a fontconfig font (Debian: ffmpeg, fonts-dejavu-core).
#
# What it makes, and why each choice:
#   media/movie.mp4   24 s of a test pattern with the time and frame number
#                     burnt in, and a short 880 Hz beep
#                     at every whole second, 640x360,
#                     H.264 Main + AAC-LC, ~0.4 Mbit/s. The moov box is left
#                     AT THE END (no -movflags +faststart): a player must
#                     read the file's tail with a range request before it
#                     can play, which is what the demo shows off. A keyframe
#                     every 2 s (no scene-cut keyframes) so that seeks and
#                     HLS segments land on the same boundaries.
#   media/hls/        the same streams, not re-encoded, as fMP4 HLS:
#                     master.m3u8 (which names the CODECS, for Media Source
#                     Extensions), index.m3u8, init.mp4 and 4 s .m4s
#                     segments. fMP4 rather than MPEG-TS because browsers'
#                     MSE take fMP4 as is; ffplay and VLC read both.
# media/player.html is hand-written and is not touched here.
set -eu

out=media
duration=24
font="DejaVu Sans Mono"

mkdir -p "$out"
rm -rf "$out/hls" "$out/movie.mp4"
mkdir -p "$out/hls"

# A rerun with the same ffmpeg gives the same bytes: -fflags +bitexact and
# -map_metadata -1 keep version strings and the creation time out of the
# files, and x264 runs on one thread because its frame threads make rate
# control, and so the bitstream, vary from run to run.
ffmpeg -hide_banner -loglevel error -y \
	-f lavfi -i "testsrc2=size=640x360:rate=24:duration=$duration" \
	-f lavfi -i "aevalsrc=0.3*sin(2*PI*880*t)*lt(mod(t\\,1)\\,0.1):s=48000:d=$duration" \
	-filter_complex "[0:v]drawtext=font='$font':fontsize=28:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8:x=(w-tw)/2:y=h-th-24:text='edgecache  %{pts\:hms}  frame %{frame_num}'[v]" \
	-map "[v]" -map 1:a \
	-c:v libx264 -threads 1 -profile:v main -level:v 3.0 -pix_fmt yuv420p -preset medium \
	-b:v 350k -maxrate 400k -bufsize 800k \
	-g 48 -keyint_min 48 -sc_threshold 0 \
	-c:a aac -b:a 64k -ac 2 \
	-map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
	"$out/movie.mp4"

# Remux, not re-encode: the HLS rendition is the MP4's exact streams cut
# at its keyframes.
ffmpeg -hide_banner -loglevel error -y -i "$out/movie.mp4" -c copy \
	-f hls -hls_time 4 -hls_playlist_type vod -hls_flags independent_segments \
	-hls_segment_type fmp4 -hls_fmp4_init_filename init.mp4 \
	-hls_segment_filename "$out/hls/seg%03d.m4s" \
	-map_metadata -1 -fflags +bitexact \
	"$out/hls/index.m3u8"

# The master playlist is written here rather than by ffmpeg, whose hls
# muxer leaves out CODECS when it copies streams: a Media Source Extensions
# player needs the codec string before it can create its SourceBuffer. The
# avc1 profile, constraints and level are the three bytes after the avcC
# box's version byte in init.mp4.
at=$(grep -obUa avcC "$out/hls/init.mp4" | head -n 1 | cut -d: -f1)
avc=$(od -An -tx1 -j $((at + 5)) -N 3 "$out/hls/init.mp4" | tr -d ' \n' | tr a-f A-F)
bw=$(( $(cat "$out"/hls/seg*.m4s | wc -c) * 8 / duration ))
cat >"$out/hls/master.m3u8" <<PLAYLIST
#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=$bw,RESOLUTION=640x360,CODECS="avc1.$avc,mp4a.40.2"
index.m3u8
PLAYLIST

ls -l "$out" "$out/hls"
du -sh "$out"
