package edge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// diskCollector exposes the disk tier's figures (disk.Stats of each path,
// and the memory misses it answered) at scrape time. Without a disk tier
// it exposes only the hits, which stay 0.
type diskCollector struct {
	n *Node

	bytes, budget, entries, reads, writes, errors, evictions, hits *prometheus.Desc
}

func newDiskCollector(n *Node) *diskCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("edgecache_disk_"+name, help, labels, nil)
	}
	return &diskCollector{
		n:       n,
		bytes:   d("bytes", "Bytes the disk tier holds on this path: its records' blocks, headers and padding included.", "path"),
		budget:  d("budget_bytes", "The disk tier's budget on this path (--disk-size): the size of its file, metadata included.", "path"),
		entries: d("entries", "Entries (shards and decoded chunks) the disk tier holds on this path.", "path"),
		reads:   d("reads_total", "Records the disk tier read and verified on this path.", "path"),
		writes:  d("writes_total", "Write calls the disk tier issued on this path (each gathers records into up to 1 MiB).", "path"),
		errors: d("errors_total", "Failed disk reads (I/O errors and checksums: a miss) and writes (the first turns "+
			"writing off) on this path, by op: read or write.", "path", "op"),
		evictions: d("evictions_total", "Entries that left the disk tier on this path with their region (FIFO, a region at a time).", "path"),
		hits:      d("hits_total", "Memory misses the disk tier answered: shards and chunks that needed neither a peer nor the origin."),
	}
}

// Describe sends every metric's description.
func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.budget, c.entries, c.reads, c.writes, c.errors, c.evictions, c.hits} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	for _, s := range c.n.disks.stats() {
		p := s.Dir
		send(c.bytes, prometheus.GaugeValue, float64(s.Bytes), p)
		send(c.budget, prometheus.GaugeValue, float64(s.Size), p)
		send(c.entries, prometheus.GaugeValue, float64(s.Entries), p)
		send(c.reads, prometheus.CounterValue, float64(s.Reads), p)
		send(c.writes, prometheus.CounterValue, float64(s.Writes), p)
		send(c.errors, prometheus.CounterValue, float64(s.ReadErrors), p, "read")
		send(c.errors, prometheus.CounterValue, float64(s.WriteErrors), p, "write")
		send(c.evictions, prometheus.CounterValue, float64(s.Evictions), p)
	}
	send(c.hits, prometheus.CounterValue, float64(c.n.eng.Stats().DiskHits))
}
