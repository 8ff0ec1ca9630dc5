package systemtest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/media"

	"github.com/chromedp/chromedp"
)

// browserWait bounds each wait on the page: playing a few seconds of video
// takes a few seconds, and a loaded CI machine can be several times slower.
const browserWait = 45 * time.Second

// newBrowser starts a headless Chromium for the test and returns a tab's
// context. The browser is stopped, and its profile removed, when the test
// ends. Start the edges first: cleanups run last in, first out, so the
// browser, which may hold a paused video's download open, is gone before
// the edges drain their connections.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := requireTool(t, "chromium", "chromium-browser", "google-chrome")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", "new"),
		// Players may start without a click; the tests also mute the
		// video, which any autoplay policy allows.
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.DisableGPU,
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox (CI containers).
		opts = append(opts, chromedp.NoSandbox)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, without a deadline: a deadline on the first
	// Run would be the browser's lifetime.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return tab
}

// videoState is what the tests read of a <video> element.
type videoState struct {
	Time       float64 `json:"time"`       // currentTime, in seconds
	Duration   float64 `json:"duration"`   // NaN until the metadata is known: sent as 0
	Ready      int     `json:"ready"`      // readyState: 4 is HAVE_ENOUGH_DATA
	Paused     bool    `json:"paused"`     //
	Seeking    bool    `json:"seeking"`    //
	Width      int     `json:"width"`      // videoWidth: 0 until a frame's size is known
	Frames     int     `json:"frames"`     // decoded video frames (getVideoPlaybackQuality)
	Error      string  `json:"error"`      // the MediaError's code and message, "" for none
	PageStatus string  `json:"pageStatus"` // the player page's HLS log
}

// videoStateJS evaluates to the videoState of the element with id %[1]q.
const videoStateJS = `(() => {
	const v = document.getElementById(%[1]q);
	const s = document.getElementById("hls-status");
	return {
		time: v.currentTime,
		duration: isFinite(v.duration) ? v.duration : 0,
		ready: v.readyState,
		paused: v.paused,
		seeking: v.seeking,
		width: v.videoWidth,
		frames: v.getVideoPlaybackQuality().totalVideoFrames,
		error: v.error ? v.error.code + ": " + v.error.message : "",
		pageStatus: s ? s.textContent : "",
	};
})()`

// waitVideo polls the element's state until done says so, failing the
// test if the element reports an error or if browserWait passes first.
// It polls from Go, every 100 ms, so that the last state seen can be
// reported when the wait fails.
func waitVideo(t *testing.T, tab context.Context, id, what string, done func(videoState) bool) videoState {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last videoState
	for {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[videoState](fmt.Sprintf(videoStateJS, id)))
		if err != nil {
			t.Fatalf("%s: reading #%s: %v (last state %+v)", what, id, err, last)
		}
		last = st
		if st.Error != "" {
			t.Fatalf("%s: #%s reports a media error: %+v", what, id, st)
		}
		if done(st) {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached within %v; last state of #%s: %+v", what, browserWait, id, last)
		case <-tick.C:
		}
	}
}

// playThenSeek starts the muted video, waits until it has played past
// several seconds, seeks to the middle and waits until playback has moved
// on from there: proof that the seek was served and decoded, not only
// requested.
func playThenSeek(t *testing.T, tab context.Context, id string) {
	t.Helper()
	// Twice the normal rate halves the wait; every frame is still
	// fetched and decoded.
	start := fmt.Sprintf(`(async () => {
		const v = document.getElementById(%q);
		v.muted = true;
		v.playbackRate = 2;
		await v.play();
	})()`, id)
	if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](start, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("play #%s: %v", id, err)
	}
	st := waitVideo(t, tab, id, "play past 4 s", func(s videoState) bool { return s.Time > 4 })
	if st.Width != 640 || st.Frames == 0 || st.Duration < 20 {
		t.Fatalf("#%s after 4 s: %+v; want 640 px wide decoded frames of a ~24 s video", id, st)
	}
	const middle = 12
	if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](
		fmt.Sprintf(`document.getElementById(%q).currentTime = %d`, id, middle))); err != nil {
		t.Fatalf("seek #%s: %v", id, err)
	}
	frames := st.Frames
	st = waitVideo(t, tab, id, "play on after a seek to the middle", func(s videoState) bool {
		return !s.Seeking && !s.Paused && s.Time > middle+2
	})
	if st.Frames <= frames {
		t.Errorf("#%s decoded no frames after the seek: %+v (had %d)", id, st, frames)
	}
}

// TestChromiumPlaysMP4ThroughEdge plays the movie in a <video> element of
// the player page, served by a cold edge of a three-edge ring. The index
// is at the end of the file, so Chromium must fetch the tail with a range
// request before the first frame, and the seek with another.
func TestChromiumPlaysMP4ThroughEdge(t *testing.T) {
	ring := startTestRing(t)
	tab := newBrowser(t)
	if err := chromedp.Do(tab, chromedp.Navigate(ring.Targets()[0]+media.PlayerPath)); err != nil {
		t.Fatal(err)
	}
	playThenSeek(t, tab, "mp4")
}

// TestChromiumPlaysHLSThroughEdge plays the HLS rendition through the
// player page's Media Source Extensions loader: master and media
// playlists, init.mp4 and every .m4s segment come from a cold edge.
func TestChromiumPlaysHLSThroughEdge(t *testing.T) {
	ring := startTestRing(t)
	tab := newBrowser(t)
	if err := chromedp.Do(tab, chromedp.Navigate(ring.Targets()[0]+media.PlayerPath)); err != nil {
		t.Fatal(err)
	}
	waitAppended(t, tab)
	playThenSeek(t, tab, "hls")
}

// waitAppended waits until the page's HLS loader has appended every
// segment and returns what the page lists: one line per segment with its
// X-Cache.
func waitAppended(t *testing.T, tab context.Context) string {
	t.Helper()
	appended := `(() => {
		const s = document.getElementById("hls-status");
		return s && (s.dataset.state === "appended" || s.dataset.state === "error") ? s.dataset.state : null;
	})()`
	ctx, cancel := context.WithTimeout(tab, browserWait)
	defer cancel()
	state, err := chromedp.Run(ctx, chromedp.Poll[string](appended,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	status, _ := chromedp.Run(tab, chromedp.Text("#hls-status"))
	if err != nil || state != "appended" {
		t.Fatalf("HLS loader: state %q, %v; page says:\n%s", state, err, status)
	}
	return status
}

// segmentCaches returns the X-Cache the page lists for each file the HLS
// loader appended (init.mp4 and every segment), in order.
func segmentCaches(t *testing.T, status string) (files, caches []string) {
	t.Helper()
	for line := range strings.SplitSeq(status, "\n") {
		if m := segmentLine.FindStringSubmatch(line); m != nil {
			files, caches = append(files, m[1]), append(caches, m[2])
		}
	}
	if len(files) < 2 {
		t.Fatalf("the page lists %d appended files:\n%s", len(files), status)
	}
	return files, caches
}

var segmentLine = regexp.MustCompile(`^(\S+\.(?:mp4|m4s))\s+\d+ B\s+X-Cache: (\S+)$`)

// The player page promises that a reload turns the segments' MISS into
// HIT. In a real browser the media's max-age would let the browser answer
// the reload from its own cache, still showing the first load's MISS; the
// page's loader must ask the edge, and the edge, holding every segment
// now, must say HIT for each.
func TestChromiumReloadShowsHits(t *testing.T) {
	ring := startTestRing(t)
	tab := newBrowser(t)
	if err := chromedp.Do(tab, chromedp.Navigate(ring.Targets()[0]+media.PlayerPath)); err != nil {
		t.Fatal(err)
	}
	files, first := segmentCaches(t, waitAppended(t, tab))
	if !slices.Contains(first, "MISS") {
		t.Fatalf("a cold ring's first load shows no MISS: %v %v", files, first)
	}
	originBefore := ring.OriginStats().Requests
	if err := chromedp.Do(tab, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	again, second := segmentCaches(t, waitAppended(t, tab))
	if !slices.Equal(again, files) {
		t.Fatalf("the reload lists %v, the first load %v", again, files)
	}
	for i, c := range second {
		if c != "HIT" {
			t.Errorf("after a reload %s says X-Cache: %s (first load: %s), want HIT", files[i], c, first[i])
		}
	}
	// A reload makes the browser revalidate the page itself (it sends
	// "Cache-Control: max-age=0" for it), which an edge may pass to the
	// origin; the media must cost the origin nothing.
	if got := ring.OriginStats().Requests - originBefore; got > 1 {
		t.Errorf("the reload cost the origin %d requests, want at most one, for the page itself", got)
	}
}
