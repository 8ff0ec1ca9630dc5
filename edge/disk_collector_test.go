package edge

import (
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/edge/internal/engine"
)

// diskFamilies gathers the disk collector of n alone.
func diskFamilies(t *testing.T, n *Node) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newDiskCollector(n))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// diskSample returns the value of the one series of family name whose
// labels include want (a gauge's or a counter's value).
func diskSample(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	var found *dto.Metric
	for _, m := range fams[name].GetMetric() {
		ok := true
		for k, v := range want {
			ok = ok && hasLabel(m, k, v)
		}
		if ok {
			if found != nil {
				t.Fatalf("%s%v: more than one series", name, want)
			}
			found = m
		}
	}
	if found == nil {
		t.Fatalf("%s%v: no series", name, want)
	}
	return found
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// quiet waits until the node's disk has written all it queued, so that its
// counters hold still.
func quiet(t *testing.T, n *Node) {
	t.Helper()
	for _, s := range slices.Concat(n.disks.owned, n.disks.chunks) {
		if err := s.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// After disk reads and writes, the collector's series are the store's
// figures: the latency histograms count every read and write call, with
// cumulative buckets in seconds.
func TestDiskCollectorExportsTheStore(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 6
	data := putMovie(org, "/m.mp4", chunks)
	dir := t.TempDir()
	n := startDiskNode(t, org.URL(), dir)
	readAll(t, n.Node, "/m.mp4", data, chunks)
	quiet(t, n.Node)
	n.eng.Store().RemoveFunc(func(engine.StoreKey) bool { return true })
	readAll(t, n.Node, "/m.mp4", data, chunks)
	quiet(t, n.Node)

	fams := diskFamilies(t, n.Node)
	if problems, err := promlint.NewWithMetricFamilies(slices.Collect(maps.Values(fams))).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("the disk metrics do not pass Prometheus's lint: %v %v", err, problems)
	}
	parts := n.disks.stats()
	// A node alone reads back its chunks; it wrote its object too.
	if len(parts) != 2 || parts[0].Writes == 0 || parts[1].Writes == 0 || parts[1].Reads == 0 {
		t.Fatalf("the stores: %+v; want two, each written, the chunks read", parts)
	}
	for _, s := range parts {
		checkDiskSeries(t, fams, dir, s)
	}
	// The second pass read every chunk from the disk once: each was lent,
	// and none went into memory.
	es := n.eng.Stats()
	hits := diskSample(t, fams, "edgecache_disk_hits_total", nil).GetCounter().GetValue()
	lent := diskSample(t, fams, "edgecache_disk_lent_total", nil).GetCounter().GetValue()
	if hits != float64(es.DiskHits) || lent != float64(es.DiskLent) || lent != chunks {
		t.Errorf("disk hits %v, lent %v; the engine's %d and %d, want %d lent", hits, lent, es.DiskHits, es.DiskLent, chunks)
	}
}

// checkDiskSeries checks the series of one store against its Stats.
func checkDiskSeries(t *testing.T, fams map[string]*dto.MetricFamily, dir string, s partStats) {
	t.Helper()
	path := map[string]string{"path": dir, "part": s.part}
	for name, want := range map[string]float64{
		"edgecache_disk_reads_total":           float64(s.Reads),
		"edgecache_disk_read_bytes_total":      float64(s.ReadBytes),
		"edgecache_disk_writes_total":          float64(s.Writes),
		"edgecache_disk_written_bytes_total":   float64(s.WrittenBytes),
		"edgecache_disk_puts_total":            float64(s.Puts),
		"edgecache_disk_queued_bytes":          0,
		"edgecache_disk_off":                   0,
		"edgecache_disk_index_rebuild_seconds": s.Rebuild.Seconds(),
		"edgecache_disk_reads_abandoned_total": float64(s.Abandoned),
		"edgecache_disk_entries":               float64(s.Entries),
		"edgecache_disk_bytes":                 float64(s.Bytes),
		"edgecache_disk_budget_bytes":          float64(s.Size),
		"edgecache_disk_evictions_total":       float64(s.Evictions),
	} {
		m := diskSample(t, fams, name, path)
		if got := m.GetGauge().GetValue() + m.GetCounter().GetValue(); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, reason := range []string{"queue", "too_large"} {
		diskSample(t, fams, "edgecache_disk_puts_dropped_total", map[string]string{"path": dir, "part": s.part, "reason": reason})
	}
	for name, want := range map[string]disk.Latency{
		"edgecache_disk_read_seconds":  s.ReadLatency,
		"edgecache_disk_write_seconds": s.WriteLatency,
	} {
		h := diskSample(t, fams, name, path).GetHistogram()
		checkCumulative(t, name, h)
		if h.GetSampleCount() != want.Count || math.Abs(h.GetSampleSum()-want.Sum.Seconds()) > 1e-9 {
			t.Errorf("%s: count %d, sum %v; the store's %d, %v", name, h.GetSampleCount(), h.GetSampleSum(), want.Count, want.Sum)
		}
	}
	// Every read here succeeded, and every write call is timed.
	if h := diskSample(t, fams, "edgecache_disk_read_seconds", path).GetHistogram(); h.GetSampleCount() != s.Reads {
		t.Errorf("read_seconds counts %d reads, the store read %d", h.GetSampleCount(), s.Reads)
	}
	if h := diskSample(t, fams, "edgecache_disk_write_seconds", path).GetHistogram(); h.GetSampleCount() != s.Writes {
		t.Errorf("write_seconds counts %d writes, the store issued %d", h.GetSampleCount(), s.Writes)
	}
}

// checkCumulative fails unless h's buckets are the store's bounds in
// seconds with counts that never decrease and never exceed the count.
func checkCumulative(t *testing.T, name string, h *dto.Histogram) {
	t.Helper()
	bounds := disk.LatencyBounds()
	if len(h.GetBucket()) != len(bounds) {
		t.Fatalf("%s: %d buckets, want %d", name, len(h.GetBucket()), len(bounds))
	}
	var last uint64
	for i, b := range h.GetBucket() {
		if b.GetUpperBound() != bounds[i].Seconds() || b.GetCumulativeCount() < last || b.GetCumulativeCount() > h.GetSampleCount() {
			t.Errorf("%s: bucket %d: le %v count %d after %d (count %d)", name, i, b.GetUpperBound(), b.GetCumulativeCount(), last, h.GetSampleCount())
		}
		last = b.GetCumulativeCount()
	}
}

// A store's histogram, each bucket counted apart, becomes a Prometheus
// one whose buckets count everything at or under their bound; what is past
// the highest bound counts only in the total.
func TestLatencyHistogramIsCumulative(t *testing.T) {
	var l disk.Latency
	l.Buckets[0] = 1                  // <= 100 µs
	l.Buckets[3] = 2                  // (500 µs, 1 ms]
	l.Buckets[len(l.Buckets)-1] = 4   // past 1 s
	l.Count, l.Sum = 7, 5*time.Second // what the store adds up apart
	d := prometheus.NewDesc("x_seconds", "x", []string{"path"}, nil)
	var m dto.Metric
	if err := latencyHistogram(d, l, "/d").Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	want := []uint64{1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3}
	for i, b := range h.GetBucket() {
		if b.GetUpperBound() != disk.LatencyBounds()[i].Seconds() || b.GetCumulativeCount() != want[i] {
			t.Errorf("bucket %d: le %v count %d; want le %v count %d", i, b.GetUpperBound(), b.GetCumulativeCount(),
				disk.LatencyBounds()[i].Seconds(), want[i])
		}
	}
	if len(h.GetBucket()) != len(want) || h.GetSampleCount() != 7 || h.GetSampleSum() != 5 {
		t.Errorf("%d buckets, count %d, sum %v; want %d, 7 and 5", len(h.GetBucket()), h.GetSampleCount(), h.GetSampleSum(), len(want))
	}
}
