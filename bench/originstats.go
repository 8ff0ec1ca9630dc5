package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// originCounters is one reading of the origin's counters, served at
// origin.StatsPath as {"requests": N, "body_bytes": N}, totals since the
// origin started.
type originCounters struct {
	Requests  int64 `json:"requests"`
	BodyBytes int64 `json:"body_bytes"`
}

func (a originCounters) sub(b originCounters) originCounters {
	return originCounters{Requests: a.Requests - b.Requests, BodyBytes: a.BodyBytes - b.BodyBytes}
}

// originStats reads the reference origin's counters. The origin is read
// from the outside, like everything else the bench measures, so any origin
// that serves the same document can be used.
type originStats struct {
	url string
	hc  *http.Client
}

// newOriginStats accepts the origin's base URL or the stats URL itself.
// It returns nil for an empty URL: origin figures are then unknown.
func newOriginStats(raw string) *originStats {
	if raw == "" {
		return nil
	}
	u := strings.TrimRight(raw, "/")
	if !strings.HasSuffix(u, origin.StatsPath) {
		u += origin.StatsPath
	}
	return &originStats{url: u, hc: &http.Client{Timeout: 2 * time.Second}}
}

func (s *originStats) read(ctx context.Context) (originCounters, error) {
	var c originCounters
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return c, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return c, fmt.Errorf("origin stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("origin stats %s: %s", s.url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return c, fmt.Errorf("origin stats %s: %w", s.url, err)
	}
	return c, nil
}
