package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSustainSearch(t *testing.T) {
	for _, tc := range []struct {
		start, max, capacity int
	}{
		{1, 1000, 37},
		{10, 1000, 10},
		{10, 1000, 9},
		{50, 200, 500},
		{1, 100000, 6000},
		{4, 4, 4},
	} {
		var tried []int
		got := sustainSearch(tc.start, tc.max, func(v int) bool {
			tried = append(tried, v)
			return v <= tc.capacity
		})
		want := min(tc.capacity, tc.max)
		if tc.capacity < tc.start {
			want = 0
		}
		if got > want || (want > 0 && got < want-max(1, want/10)) {
			t.Errorf("start %d max %d capacity %d: found %d (tried %v), want %d within 10%%", tc.start, tc.max, tc.capacity, got, tried, want)
		}
		if len(tried) > maxSustainSteps {
			t.Errorf("capacity %d: %d steps", tc.capacity, len(tried))
		}
	}
}

// With a deployment that serves every segment at once the search goes to
// the maximum; with one that fails every request it sustains no one. The
// report says so either way.
func TestSustainRuns(t *testing.T) {
	good := startOrigin(t, &testOrigin{})
	cfg := smallConfig(good.URL)
	cfg.Workload, cfg.Bitrate, cfg.SegmentSize = WorkloadVideo, 1_000_000, 32<<10
	cfg.Requests, cfg.Duration, cfg.Concurrency = 0, 600*time.Millisecond, 2
	res, err := Sustain(context.Background(), cfg, 8)
	if err != nil {
		t.Fatal(err)
	}
	if res.Viewers != 8 || len(res.Steps) != 3 || res.Best == nil {
		t.Fatalf("found %d viewers in %d steps, want 8 in 3 (2, 4, 8)", res.Viewers, len(res.Steps))
	}
	var out strings.Builder
	if err := res.WriteText(&out, cfg.Bitrate); err != nil || !strings.Contains(out.String(), "sustained: 8 viewers") {
		t.Errorf("report %q (%v)", out.String(), err)
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(bad.Close)
	cfg.Targets = []string{bad.URL}
	res, err = Sustain(context.Background(), cfg, 8)
	if res == nil || res.Viewers != 0 || len(res.Steps) != 1 || res.Steps[0].Sustained {
		t.Fatalf("failing deployment: %+v, %v; want no viewers after one step", res, err)
	}
	out.Reset()
	if err := res.WriteText(&out, cfg.Bitrate); err != nil || !strings.Contains(out.String(), "sustained: none") {
		t.Errorf("report %q (%v)", out.String(), err)
	}

	cfg.Bitrate = 0
	if _, err := Sustain(context.Background(), cfg, 8); err == nil {
		t.Error("an unpaced workload was searched")
	}
}
