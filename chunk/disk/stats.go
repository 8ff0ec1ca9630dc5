package disk

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Store's state and counters, for metrics and
// the status page. Counters count from Open.
type Stats struct {
	Dir        string
	Size       int64 // the budget: the file's size, metadata included
	RegionSize int64
	Regions    int
	Entries    int   // records the index points to
	Bytes      int64 // their blocks: what the store holds, headers and padding included
	Queued     int64 // bytes of records waiting to be written
	Direct     bool  // I/O bypasses the page cache (O_DIRECT)

	Puts      uint64 // Puts accepted
	Dropped   uint64 // Puts dropped: queue full, store closing or off
	Refused   uint64 // Puts of a value (or key or group) too large for a region
	Evictions uint64 // entries that left with their region
	Reclaims  uint64 // regions evicted to make room

	Writes       uint64 // write calls
	WrittenBytes uint64
	WriteErrors  uint64 // failed writes and syncs; the first turns writes off
	WriteLatency Latency

	Reads       uint64 // records read and verified
	ReadBytes   uint64
	ReadErrors  uint64 // reads that failed: I/O errors and checksums
	Abandoned   uint64 // Gets whose caller gave up before the read ended
	ReadLatency Latency

	Rebuild       time.Duration // Open's index rebuild
	ScannedBlocks int64         // blocks of regions without a usable summary that Open read record by record
	Off           bool          // the store stopped writing (after a write error) or reading (after MaxReadErrors)
}

// latencyBounds are the upper bounds of the latency histograms' buckets.
var latencyBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, time.Second,
}

// LatencyBounds returns the upper bounds of the buckets of a Latency, for
// a metrics exporter: bucket i counts durations in (bound i-1, bound i],
// and one more bucket counts the rest.
func LatencyBounds() []time.Duration { return latencyBounds[:] }

// Latency is a histogram of the durations of one kind of I/O.
type Latency struct {
	Count   uint64
	Sum     time.Duration
	Buckets [len(latencyBounds) + 1]uint64 // not cumulative; see LatencyBounds
}

// histogram is a Latency recorded with atomics, so that readers and the
// writer record without a lock.
type histogram struct {
	count, sum atomic.Uint64
	buckets    [len(latencyBounds) + 1]atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(uint64(max(d, 0)))
	h.count.Add(1)
}

func (h *histogram) snapshot() Latency {
	l := Latency{Count: h.count.Load(), Sum: time.Duration(h.sum.Load())}
	for i := range h.buckets {
		l.Buckets[i] = h.buckets[i].Load()
	}
	return l
}

// counters are the Store's counters that need no lock.
type counters struct {
	puts, dropped, refused, evictions, reclaims atomic.Uint64
	writes, writtenBytes, writeErrors           atomic.Uint64
	reads, readBytes, readErrors, abandoned     atomic.Uint64
	writeLatency, readLatency                   histogram
}
