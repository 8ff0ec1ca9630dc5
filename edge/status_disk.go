package edge

import (
	"fmt"
	"time"

	"github.com/edgecache/edgecache/chunk/disk"
)

// DiskStatus is one store of the disk tier: its fill against its budget,
// what it served and wrote, how fast, and whether errors stopped it.
// Counters count from the edge's start.
type DiskStatus struct {
	Path string `json:"path"` // a DiskPaths entry
	// Part is what the store keeps: "shards" (the shards this node owns,
	// and its objects) or "chunks" (the decoded chunks it served).
	Part    string  `json:"part"`
	Bytes   int64   `json:"bytes"`   // the blocks its entries take, headers and padding included
	Budget  int64   `json:"budget"`  // its share of DiskSize: its file, metadata included
	Fill    float64 `json:"fill"`    // Bytes / Budget
	Entries int     `json:"entries"` // shards and decoded chunks
	Queued  int64   `json:"queued"`  // bytes waiting in memory to be written
	// Reads are the records read and verified: the memory misses this
	// path answered.
	Reads       uint64 `json:"reads"`
	ReadErrors  uint64 `json:"read_errors"`  // I/O errors and checksums: each a miss
	WriteErrors uint64 `json:"write_errors"` // the first turns writing off
	Evictions   uint64 `json:"evictions"`    // entries that left with their region
	// Dropped are the values not written: the queue full (a device slower
	// than the misses), the store off, or a value larger than a region.
	Dropped        uint64        `json:"dropped"`
	RebuildSeconds float64       `json:"rebuild_seconds"` // the index rebuild at start
	ReadLatency    LatencyStatus `json:"read_latency"`    // of a record read
	WriteLatency   LatencyStatus `json:"write_latency"`   // of a write call (up to 1 MiB)
	// Off: it stopped writing (after a failed write) or reading and
	// writing (after 16 failed reads in a row) until the edge restarts.
	// The log says why.
	Off bool `json:"off"`
}

// LatencyStatus sums up one of a disk's latency histograms. The quantiles
// are estimated from its buckets (bounds 100 µs to 1 s) as Prometheus's
// histogram_quantile does: linearly inside the bucket they fall in, and
// 1 s for any past the highest bound.
type LatencyStatus struct {
	Count uint64  `json:"count"`        // operations timed since start
	Mean  float64 `json:"mean_seconds"` // their mean duration
	P50   float64 `json:"p50_seconds"`  // the median, estimated
	P99   float64 `json:"p99_seconds"`  // the 99th percentile, estimated
}

// diskStatus is the disk tier's part of Status.
func (n *Node) diskStatus() []DiskStatus {
	var out []DiskStatus
	for _, s := range n.disks.stats() {
		out = append(out, newDiskStatus(s.part, s.Stats))
	}
	return out
}

func newDiskStatus(part string, s disk.Stats) DiskStatus {
	return DiskStatus{
		Path: s.Dir, Part: part, Bytes: s.Bytes, Budget: s.Size, Fill: float64(s.Bytes) / float64(max(s.Size, 1)),
		Entries: s.Entries, Queued: s.Queued,
		Reads: s.Reads, ReadErrors: s.ReadErrors, WriteErrors: s.WriteErrors,
		Evictions: s.Evictions, Dropped: s.Dropped + s.Refused,
		RebuildSeconds: s.Rebuild.Seconds(),
		ReadLatency:    latencyStatus(s.ReadLatency),
		WriteLatency:   latencyStatus(s.WriteLatency),
		Off:            s.Off,
	}
}

func latencyStatus(l disk.Latency) LatencyStatus {
	st := LatencyStatus{Count: l.Count, P50: quantile(l, 0.5).Seconds(), P99: quantile(l, 0.99).Seconds()}
	if l.Count > 0 {
		st.Mean = (l.Sum / time.Duration(l.Count)).Seconds()
	}
	return st
}

// quantile estimates the q-quantile of l from its buckets (see
// LatencyStatus); 0 without any observation.
func quantile(l disk.Latency, q float64) time.Duration {
	bounds := disk.LatencyBounds()
	var total uint64
	for _, n := range l.Buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var below uint64
	lower := time.Duration(0)
	for i, upper := range bounds {
		n := l.Buckets[i]
		if n > 0 && float64(below+n) >= rank {
			return lower + time.Duration((rank-float64(below))/float64(n)*float64(upper-lower))
		}
		below += n
		lower = upper
	}
	return bounds[len(bounds)-1]
}

// diskView is a disk as the status page shows it.
type diskView struct {
	DiskStatus
	Bar                                  chart
	ReadP50, ReadP99, WriteP50, WriteP99 string
	Rebuild                              string
}

func diskViews(ds []DiskStatus) []diskView {
	var out []diskView
	for _, d := range ds {
		v := diskView{DiskStatus: d, Bar: chart{W: chartW, H: barH},
			ReadP50: formatLatency(d.ReadLatency.P50, d.ReadLatency.Count), ReadP99: formatLatency(d.ReadLatency.P99, d.ReadLatency.Count),
			WriteP50: formatLatency(d.WriteLatency.P50, d.WriteLatency.Count), WriteP99: formatLatency(d.WriteLatency.P99, d.WriteLatency.Count),
			Rebuild: formatLatency(d.RebuildSeconds, 1),
		}
		colour := colFill
		if d.Off {
			colour = colError
		}
		v.Bar.add(rect{W: min(d.Fill, 1) * chartW, H: barH, Fill: colour,
			Title: formatBytes(d.Bytes) + " of " + formatBytes(d.Budget)})
		out = append(out, v)
	}
	return out
}

// formatLatency prints seconds with a unit people read at a glance, or a
// dash before any observation.
func formatLatency(sec float64, count uint64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case count == 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// disksHTML is the status page's Disks section, shown only on an edge with
// a disk tier. A store that is off says so in red above its figures: it
// stays off until a restart, and an operator must not take its stale
// counters for a working disk.
const disksHTML = `{{define "disks"}}{{if .Disks}}
<h2 id="disks">Disks</h2>
<p class="sub">The disk tier behind memory, one store per <code>--disk-path</code>. Disk hits are the records it read back;
latencies are estimated from its histograms (bounds 100 µs to 1 s).</p>
{{range .Disks}}<h3 class="disk"><code>{{.Path}}</code> {{.Part}}{{if .Off}} <span class="bad">off</span>{{end}}</h3>
{{if .Off}}<div class="banner bad disk-off"><b>Disk off</b>It stopped after errors (a failed write, or 16 failed reads in a row) and stays off until
the edge restarts; this edge serves from memory, peers and the origin. The log says what failed.</div>
{{end}}<div class="grid">
<div>used<b>{{bytes .Bytes}}</b></div>
<div>budget<b>{{bytes .Budget}}</b></div>
<div>fill<b>{{pct .Fill}}</b></div>
<div>entries<b>{{.Entries}}</b></div>
<div>disk hits<b>{{.Reads}}</b></div>
<div>read p50 / p99<b>{{.ReadP50}} / {{.ReadP99}}</b></div>
<div>write p50 / p99<b>{{.WriteP50}} / {{.WriteP99}}</b></div>
<div>errors read / write<b{{if or .ReadErrors .WriteErrors}} class="bad"{{end}}>{{.ReadErrors}} / {{.WriteErrors}}</b></div>
<div>evictions<b>{{.Evictions}}</b></div>
<div>not written<b>{{.Dropped}}</b></div>
<div>index rebuild<b>{{.Rebuild}}</b></div>
</div>
<svg viewBox="0 0 {{.Bar.W}} {{.Bar.H}}" role="img" aria-label="disk fill against budget">
{{range .Bar.Rects}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Fill}}"><title>{{.Title}}</title></rect>{{end}}
</svg>
{{end}}{{end}}{{end}}`
