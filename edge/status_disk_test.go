package edge

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/chunk/disk"
)

// Quantiles from a disk's buckets, as histogram_quantile estimates them:
// linear inside the bucket the rank falls in, the highest bound past it.
func TestDiskLatencyQuantile(t *testing.T) {
	var l disk.Latency
	l.Buckets[0] = 50               // <= 100 µs
	l.Buckets[3] = 49               // (500 µs, 1 ms]
	l.Buckets[len(l.Buckets)-1] = 1 // past 1 s
	l.Count, l.Sum = 100, 2*time.Second
	for q, want := range map[float64]time.Duration{
		0.25:  50 * time.Microsecond,
		0.5:   100 * time.Microsecond,
		0.745: 750 * time.Microsecond,
		0.99:  time.Millisecond,
		0.999: time.Second,
	} {
		if got := quantile(l, q); (got - want).Abs() > time.Microsecond {
			t.Errorf("quantile %v = %v, want %v", q, got, want)
		}
	}
	if got := quantile(disk.Latency{}, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %v, want 0", got)
	}
	if st := latencyStatus(l); st.Count != 100 || st.Mean != 0.02 || st.P50 != 100e-6 {
		t.Errorf("latencyStatus = %+v, want count 100, mean 0.02 s, p50 100 µs", st)
	}
}

func renderStatusPage(t *testing.T, s Status) string {
	t.Helper()
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, buildPage(s)); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// disksSection returns the page's Disks section ("" if there is none).
func disksSection(page string) string {
	start := strings.Index(page, `<h2 id="disks">`)
	if start < 0 {
		return ""
	}
	end := strings.Index(page[start:], `<h2 id="origin">`)
	return page[start : start+end]
}

// The Disks section shows each path's fill, hits, latencies, errors,
// evictions and rebuild time, and a store that errors stopped in red; an
// edge without a disk tier has no such section.
func TestStatusPageDisks(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := Status{Time: now, Started: now, SampleSeconds: 5, Cache: CacheStatus{Budget: 1 << 30}}
	if sec := disksSection(renderStatusPage(t, base)); sec != "" {
		t.Errorf("a page without a disk tier has a Disks section:\n%s", sec)
	}

	var lat disk.Latency
	lat.Buckets[0], lat.Buckets[6], lat.Count, lat.Sum = 98, 2, 100, 40*time.Millisecond // 2% in (5 ms, 10 ms]
	ok := newDiskStatus(partShards, disk.Stats{Dir: "/mnt/ssd0", Size: 100 << 30, Bytes: 25 << 30, Entries: 1234, Reads: 567,
		ReadErrors: 3, Evictions: 89, Rebuild: 1500 * time.Millisecond, ReadLatency: lat})
	off := newDiskStatus(partChunks, disk.Stats{Dir: "/mnt/ssd1", Size: 100 << 30, WriteErrors: 1, Off: true})
	s := base
	s.Disks = []DiskStatus{ok, off}
	sec := disksSection(renderStatusPage(t, s))
	for _, want := range []string{
		"<code>/mnt/ssd0</code> shards", "<code>/mnt/ssd1</code> chunks", "25.0 GiB", "100.0 GiB", "25.0%", "<b>1234</b>", "<b>567</b>",
		"51 µs / 7.5 ms", // p50 and p99 of the reads
		"– / –",          // no write yet
		`class="bad">3 / 0`, "<b>89</b>", "1.50 s",
		"<code>/mnt/ssd1</code> chunks <span class=\"bad\">off</span>", "Disk off", "0 / 1",
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("the Disks section lacks %q:\n%s", want, sec)
		}
	}
	if strings.Count(sec, "Disk off") != 1 {
		t.Errorf("want one store marked off:\n%s", sec)
	}
}

// A running edge's status page has the Disks section with its disk tier,
// and none without.
func TestStatusPageDisksOfANode(t *testing.T) {
	org := newTestOrigin(t)
	data := putMovie(org, "/s.mp4", 2)
	dir := t.TempDir()
	withDisk := startDiskNode(t, org.URL(), dir)
	readAll(t, withDisk.Node, "/s.mp4", data, 2)
	without := startNode(t, org.URL(), nil)
	page := func(n *Node) string {
		t.Helper()
		res := do(t, http.MethodGet, "http://"+n.AdminAddr()+"/", nil)
		if res.status != http.StatusOK {
			t.Fatalf("status page: %d", res.status)
		}
		return string(res.body)
	}
	if sec := disksSection(page(withDisk.Node)); !strings.Contains(sec, "<code>"+dir+"</code>") || strings.Contains(sec, "Disk off") {
		t.Errorf("the page of an edge with a disk tier in %s:\n%s", dir, sec)
	}
	if p := page(without); strings.Contains(p, "Disks</h2>") {
		t.Error("the page of an edge without a disk tier has a Disks section")
	}
}
