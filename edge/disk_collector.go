package edge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/chunk/disk"
)

// diskCollector exposes the disk tier's figures (disk.Stats of each path,
// and the memory misses it answered) at scrape time. Without a disk tier
// it exposes only the hit counters, which stay 0. The stores keep their own
// counters and histograms (chunk/disk does not import Prometheus), so
// every value here is a constant metric built from a snapshot.
type diskCollector struct {
	n *Node

	bytes, budget, entries, queued, off, rebuild *prometheus.Desc
	reads, readBytes, writes, writtenBytes       *prometheus.Desc
	readSeconds, writeSeconds                    *prometheus.Desc
	errors, evictions, puts, dropped, abandoned  *prometheus.Desc
	hits, lent                                   *prometheus.Desc
}

func newDiskCollector(n *Node) *diskCollector {
	// Every series of a store has two labels: path, its DiskPaths entry,
	// and part, shards (the shards this node owns and its objects) or
	// chunks (the decoded chunks it served).
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("edgecache_disk_"+name, help, labels, nil)
	}
	return &diskCollector{
		n:       n,
		bytes:   d("bytes", "Bytes the disk tier holds on this path: its records' blocks, headers and padding included.", "path", "part"),
		budget:  d("budget_bytes", "The disk tier's budget on this path (--disk-size): the size of its file, metadata included.", "path", "part"),
		entries: d("entries", "Entries (shards and decoded chunks) the disk tier holds on this path.", "path", "part"),
		queued:  d("queued_bytes", "Bytes of records waiting in memory to be written on this path (at most 64 MiB: more are dropped).", "path", "part"),
		off: d("off", "1 when the disk tier on this path stopped after errors (a failed write, or too many failed reads "+
			"in a row) until the edge restarts: the node serves from memory, peers and the origin.", "path", "part"),
		rebuild: d("index_rebuild_seconds", "How long the disk tier on this path took to rebuild its index from the device "+
			"when the edge started.", "path", "part"),
		reads:        d("reads_total", "Records the disk tier read and verified on this path.", "path", "part"),
		readBytes:    d("read_bytes_total", "Bytes of the records the disk tier read and verified on this path.", "path", "part"),
		writes:       d("writes_total", "Write calls the disk tier issued on this path (each gathers records into up to 1 MiB).", "path", "part"),
		writtenBytes: d("written_bytes_total", "Bytes the disk tier wrote on this path.", "path", "part"),
		readSeconds: d("read_seconds", "Latency of the disk tier's record reads on this path, failed ones included "+
			"(a Get waits for a reader first; that wait is not counted).", "path", "part"),
		writeSeconds: d("write_seconds", "Latency of the disk tier's write calls on this path.", "path", "part"),
		errors: d("errors_total", "Failed disk reads (I/O errors and checksums: a miss) and writes (the first turns "+
			"writing off) on this path, by op: read or write.", "path", "part", "op"),
		evictions: d("evictions_total", "Entries that left the disk tier on this path with their region (FIFO, a region at a time).", "path", "part"),
		puts:      d("puts_total", "Values queued to be written on this path.", "path", "part"),
		dropped: d("puts_dropped_total", "Values not written on this path, by reason: queue (the write queue full: "+
			"the device is slower than the misses; or the store off or closing) or too_large (larger than a region).", "path", "part", "reason"),
		abandoned: d("reads_abandoned_total", "Disk reads on this path whose caller stopped waiting before they ended "+
			"(a slow device: the data came from elsewhere).", "path", "part"),
		hits: d("hits_total", "Memory misses the disk tier answered: shards and chunks that needed neither a peer nor the origin."),
		lent: d("lent_total", "Of the disk hits, decoded chunks sent to a player from a buffer the disk lent and then "+
			"took back, not kept in memory: chunks not read from the disk lately. The other chunk hits went into memory."),
	}
}

// Describe sends every metric's description.
func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.bytes, c.budget, c.entries, c.queued, c.off, c.rebuild,
		c.reads, c.readBytes, c.writes, c.writtenBytes, c.readSeconds, c.writeSeconds,
		c.errors, c.evictions, c.puts, c.dropped, c.abandoned, c.hits, c.lent,
	} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.n.disks.stats() {
		c.collectPart(ch, s)
	}
	es := c.n.eng.Stats()
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(es.DiskHits))
	ch <- prometheus.MustNewConstMetric(c.lent, prometheus.CounterValue, float64(es.DiskLent))
}

// collectPart sends the series of one store.
func (c *diskCollector) collectPart(ch chan<- prometheus.Metric, s partStats) {
	p, part := s.Dir, s.part
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, append([]string{p, part}, labels...)...)
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	send(c.bytes, gauge, float64(s.Bytes))
	send(c.budget, gauge, float64(s.Size))
	send(c.entries, gauge, float64(s.Entries))
	send(c.queued, gauge, float64(s.Queued))
	send(c.off, gauge, boolGauge(s.Off))
	send(c.rebuild, gauge, s.Rebuild.Seconds())
	send(c.reads, counter, float64(s.Reads))
	send(c.readBytes, counter, float64(s.ReadBytes))
	send(c.writes, counter, float64(s.Writes))
	send(c.writtenBytes, counter, float64(s.WrittenBytes))
	send(c.errors, counter, float64(s.ReadErrors), "read")
	send(c.errors, counter, float64(s.WriteErrors), "write")
	send(c.evictions, counter, float64(s.Evictions))
	send(c.puts, counter, float64(s.Puts))
	send(c.dropped, counter, float64(s.Dropped), "queue")
	send(c.dropped, counter, float64(s.Refused), "too_large")
	send(c.abandoned, counter, float64(s.Abandoned))
	ch <- latencyHistogram(c.readSeconds, s.ReadLatency, p, part)
	ch <- latencyHistogram(c.writeSeconds, s.WriteLatency, p, part)
}

// latencyHistogram turns a store's histogram into a Prometheus one: the
// store counts each bucket apart, Prometheus wants each bucket to count
// everything at or under its bound, and seconds.
func latencyHistogram(d *prometheus.Desc, l disk.Latency, labels ...string) prometheus.Metric {
	bounds := disk.LatencyBounds()
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += l.Buckets[i]
		buckets[b.Seconds()] = cum
	}
	// The last bucket, past the highest bound, is +Inf: the count. It is
	// the buckets' total rather than l.Count, which the store reads apart
	// from them, so that no bucket ever exceeds it.
	count := cum + l.Buckets[len(bounds)]
	return prometheus.MustNewConstHistogram(d, count, l.Sum.Seconds(), buckets, labels...)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
