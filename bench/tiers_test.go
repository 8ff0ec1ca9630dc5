package bench

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The bytes asked for are counted in whole blocks, an object's last
// block at its own length, each once however often it is asked, across
// the words of the bitmap.
func TestUniqueSetCountsBlocksOnce(t *testing.T) {
	const b = uniqueBlock
	const size = 3*b + 1000
	const big = 200 * b // four words of bits
	u := newUniqueSet([]object{{size: size}, {size: 10}, {size: big}})
	u.add(0, 0, b+100) // block 0 whole, block 1 in part
	u.add(0, 10, b)    // within blocks 0 and 1: neither whole
	if got := u.total(); got != b {
		t.Fatalf("after block 0: %d bytes, want %d", got, b)
	}
	u.add(0, 2*b-1, b+2000) // block 2 whole, and the short last one to the end
	u.add(1, 0, 10)
	if got, want := u.total(), int64(2*b+1000+10); got != want {
		t.Fatalf("%d bytes, want %d", got, want)
	}
	u.add(0, 0, size)
	if got, want := u.total(), int64(size+10); got != want {
		t.Fatalf("with all of object 0: %d bytes, want %d", got, want)
	}
	u.add(2, 60*b, 70*b)  // blocks 60..129: three words
	u.add(2, 100*b, 40*b) // 100..139, half of it asked already
	u.add(2, 199*b, b)    // the last block alone
	if got, want := u.total(), int64(size+10+81*b); got != want {
		t.Fatalf("with blocks 60..140 and 199 of the big object: %d bytes, want %d", got, want)
	}
}

// The deployment's counters by tier are read where the origin's are: the
// summary holds what they moved while measured, warmup left out, and the
// report prints them with the working set against the origin's egress.
func TestRunReportsTiersAndWorkingSet(t *testing.T) {
	o := &testOrigin{xcache: "HIT"}
	srv := startOrigin(t, o)
	cfg := smallConfig(srv.URL)
	cfg.OriginStats, cfg.Warmup = srv.URL, 200*time.Millisecond
	// The deployment's counters move only when read: the first reading
	// (before warmup) 1000 bytes from memory, the measured run's start
	// 4000, its end 9000. The summary holds the measured run's 5000, and
	// the disk's constant shows as nothing moved. Counters that moved with
	// the traffic would make the check depend on where each request fell.
	var reads atomic.Int64
	cfg.Tiers = func() TierBytes {
		n := reads.Add(1)
		return TierBytes{Memory: 1000 * n * n, Disk: 7}
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if want := (TierBytes{Memory: 5000}); s.Tiers == nil || *s.Tiers != want || reads.Load() != 3 {
		t.Fatalf("tiers %+v after %d readings, want %+v: the measured run's start and end", s.Tiers, reads.Load(), want)
	}
	slack := int64(cfg.Concurrency) * cfg.RangeSize
	ws := res.WorkingSet
	if ws == nil || ws.UniqueBytes == 0 || ws.UniqueBytes > int64(cfg.Objects)*cfg.ObjectSize {
		t.Fatalf("working set %+v, want some of the %d-byte catalogue", ws, int64(cfg.Objects)*cfg.ObjectSize)
	}
	if ws.OriginBytes < s.Origin.BodyBytes+slack || ws.EgressRatio != float64(ws.OriginBytes)/float64(ws.UniqueBytes) {
		t.Errorf("working set %+v: its egress must take in the warmup's, more than the measured run's %d", ws, s.Origin.BodyBytes)
	}
	var text bytes.Buffer
	if err := NewReport(cfg, time.Now(), res).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"edges' tiers     memory ", "  disk 0 B (0.0%)", "working set      ", " unique asked, warmup included"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, text.String())
		}
	}
}
