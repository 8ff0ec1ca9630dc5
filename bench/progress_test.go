package bench

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Each progress line has a label of its own: one per elapsed second, then
// "total" for the averages of the run, even when the run ends just after
// a whole second.
func TestProgressLabelsAreDistinct(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		r := &runner{cfg: Config{Progress: &out}}
		s := newSampler(r, time.Now(), nil)
		stop := make(chan struct{})
		go func() {
			time.Sleep(2*time.Second + 10*time.Millisecond)
			close(stop)
		}()
		samples := s.loop(context.Background(), stop)
		if len(samples) != 2 {
			t.Errorf("%d samples, want 2 (the 10 ms tail joins the last)", len(samples))
		}
		var labels []string
		for line := range strings.SplitSeq(strings.TrimSuffix(out.String(), "\n"), "\r") {
			if f := strings.Fields(line); len(f) > 0 {
				labels = append(labels, f[0])
			}
		}
		if !slices.Equal(labels, []string{"1s", "2s", "total"}) {
			t.Errorf("progress labels %q, want 1s, 2s, total:\n%q", labels, out.String())
		}
	})
}
