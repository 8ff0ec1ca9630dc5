package edge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metricsCollector exposes the node's counters to Prometheus. It reads a
// Stats snapshot at scrape time, so the hot path pays for nothing but the
// atomic counters it already keeps.
type metricsCollector struct {
	n *Node

	requests, coalesced, originChunks, originBytes, originErrors *prometheus.Desc
	served, fillsInFlight, cacheBytes, cacheBudget, cacheEntries *prometheus.Desc
	evictions, peerRefused, shardsCorrupt, hedges, repairs       *prometheus.Desc
	ringMembers, suspects                                        *prometheus.Desc
}

func newMetricsCollector(n *Node) *metricsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("edgecache_"+name, help, labels, nil)
	}
	return &metricsCollector{
		n:             n,
		requests:      d("client_requests_total", "Client requests for an object (GET and HEAD)."),
		coalesced:     d("coalesced_total", "Object lookups and chunk fills that joined one already in flight on this node."),
		originChunks:  d("origin_chunk_requests_total", "Chunk reads sent to the origin."),
		originBytes:   d("origin_bytes_total", "Chunk bytes read from the origin."),
		originErrors:  d("origin_errors_total", "Chunk reads from the origin that failed."),
		served:        d("served_bytes_total", "Response body bytes sent to clients, by where they came from.", "source"),
		fillsInFlight: d("fills_in_flight", "Chunk fills running now."),
		cacheBytes:    d("cache_bytes", "Bytes charged to the chunk and shard store."),
		cacheBudget:   d("cache_budget_bytes", "The store's budget (--cache-size)."),
		cacheEntries:  d("cache_entries", "Decoded chunks and shards in the store."),
		evictions:     d("cache_evictions_total", "Entries the byte budget pushed out of the store."),
		peerRefused:   d("peer_refused_total", "Peer requests refused: bad signature, expired, replayed or other chunk parameters."),
		shardsCorrupt: d("shards_corrupt_total", "Shards found corrupt or inconsistent."),
		hedges:        d("hedges_total", "Shard reads that asked every owner after the hedge delay."),
		repairs:       d("repairs_total", "Shards re-encoded and pushed back after a read found them missing."),
		ringMembers:   d("ring_members", "Members of the current ring, this node included."),
		suspects:      d("peers_suspect", "Peers skipped for failing recently."),
	}
}

// Describe sends every metric's description.
func (m *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.requests, m.coalesced, m.originChunks, m.originBytes, m.originErrors,
		m.served, m.fillsInFlight, m.cacheBytes, m.cacheBudget, m.cacheEntries, m.evictions, m.peerRefused,
		m.shardsCorrupt, m.hedges, m.repairs, m.ringMembers, m.suspects} {
		ch <- d
	}
}

// Collect sends the current values.
func (m *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s := m.n.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(m.requests, s.Requests)
	counter(m.coalesced, s.Coalesced)
	counter(m.originChunks, s.OriginChunks)
	counter(m.originBytes, s.OriginBytes)
	counter(m.originErrors, s.OriginErrors)
	counter(m.served, s.SentHit, "hit")
	counter(m.served, s.SentPeer, "peer")
	counter(m.served, s.SentOrigin, "origin")
	gauge(m.fillsInFlight, s.FillsInFlight)
	gauge(m.cacheBytes, s.CacheBytes)
	gauge(m.cacheBudget, m.n.cfg.CacheSize)
	gauge(m.cacheEntries, int64(s.CacheEntries))
	counter(m.evictions, int64(m.n.store.Evictions()))
	counter(m.peerRefused, s.PeerRefused)
	counter(m.shardsCorrupt, s.ShardsCorrupt)
	counter(m.hedges, s.Hedges)
	counter(m.repairs, s.Repairs)
	gauge(m.ringMembers, int64(s.RingMembers))
	gauge(m.suspects, int64(s.Suspects))
}
