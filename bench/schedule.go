package bench

import (
	"math"
	"time"
)

// openSchedule gives the intended send time of each request of an
// open-loop run: request i is due at start + i/rate, whatever happened to
// the requests before it. A request sent late because every worker was
// stuck on a stalled server still has its latency measured from its
// intended time, so the stall shows in the percentiles instead of being
// coordinated away (the "coordinated omission" of closed-loop tools).
type openSchedule struct {
	start time.Time
	rate  float64 // requests per second, > 0
}

// at returns the intended send time of request i (0-based). It is computed
// from i rather than accumulated, so rounding never drifts.
func (s openSchedule) at(i int64) time.Time {
	return s.start.Add(time.Duration(float64(i) * float64(time.Second) / s.rate))
}

// dueBefore returns how many requests are due before t: the least i whose
// at(i) is not before t.
func (s openSchedule) dueBefore(t time.Time) int64 {
	n := int64(math.Ceil(float64(t.Sub(s.start)) * s.rate / float64(time.Second)))
	n = max(n, 0)
	// Float rounding may leave n one off either way; at decides.
	for n > 0 && !s.at(n-1).Before(t) {
		n--
	}
	for s.at(n).Before(t) {
		n++
	}
	return n
}

// playback models one paced video viewer's buffer, to decide when it asks
// for each segment and whether a segment came too late. Times are passed
// in, never read from a clock, so the model is tested with plain values.
//
// The model: the viewer asks for segments back to back until the first
// startup segments have arrived; playback starts then, with segment k due
// to start playing at playStart + k×segDur. A segment arriving after it is
// due is a rebuffer: playback stalls until it arrives, so later deadlines
// move by the stall and one slow segment counts once, not for every segment
// after it. Once playing, the viewer asks for segment k no earlier than
// when segment k-ahead starts playing: its buffer holds at most ahead
// segments, as a real player's does.
type playback struct {
	segDur  time.Duration
	startup int
	ahead   int

	playStart time.Time // zero until the startup segments are in
}

// newPlayback returns the model of a viewer at bitrate bits per second
// reading segments of segSize bytes.
func newPlayback(bitrate, segSize int64, startup, ahead int) *playback {
	d := time.Duration(float64(segSize*8) / float64(bitrate) * float64(time.Second))
	return &playback{segDur: d, startup: startup, ahead: ahead}
}

// reset starts a new session: a new object begins with a new startup.
func (p *playback) reset() { p.playStart = time.Time{} }

// sendTime is the earliest time the viewer asks for segment k; the zero
// time means at once.
func (p *playback) sendTime(k int) time.Time {
	if p.playStart.IsZero() {
		return time.Time{}
	}
	return p.playStart.Add(time.Duration(k-p.ahead) * p.segDur)
}

// arrived records that segment k arrived at t and reports whether it was a
// rebuffer and for how long playback stalled.
func (p *playback) arrived(k int, t time.Time) (rebuffer bool, stall time.Duration) {
	if p.playStart.IsZero() {
		if k+1 >= p.startup {
			p.playStart = t
		}
		return false, 0
	}
	due := p.playStart.Add(time.Duration(k) * p.segDur)
	if !t.After(due) {
		return false, 0
	}
	stall = t.Sub(due)
	p.playStart = p.playStart.Add(stall)
	return true, stall
}
