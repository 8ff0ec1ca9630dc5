package edge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// nodeCollector exposes what the node counts anyway (its Stats, the store,
// the ring) at scrape time, so the hot path pays nothing for them.
type nodeCollector struct {
	n *Node

	coalesced, fillsLed, fillsInFlight, served                                                                      *prometheus.Desc
	cacheEntries, cacheBytes, cacheBudget, evictions                                                                *prometheus.Desc
	originRetries, peerRefused, shardsCorrupt, hedges, repairs, readaheadNext, readaheadDropped, playlistPrefetches *prometheus.Desc
	ringMembers, suspects, accessLogDropped, diskSlow                                                               *prometheus.Desc
}

func newNodeCollector(n *Node) *nodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("edgecache_"+name, help, labels, nil)
	}
	return &nodeCollector{
		n:         n,
		coalesced: d("coalesced_total", "Object lookups and chunk fetches that joined one already in flight on this edge instead of asking again."),
		fillsLed: d("fills_led_total", "Chunk fills this edge led as the chunk's leader, for its own readers or a peer's: "+
			"each is one origin chunk read for the whole cluster."),
		fillsInFlight: d("fills_in_flight", "Chunk fills running now on this edge (rebuilds from peers, leader requests, origin reads)."),
		served: d("served_bytes_total", "Response body bytes sent to clients, by where they came from: hit (this edge's memory), "+
			"disk (a chunk on this edge's disk tier), peer (rebuilt from peers' shards or a leader's memory), origin. Multipart framing counts as hit; error messages are not counted.", "source"),
		cacheEntries: d("cache_entries", "Entries in the chunk store, by kind: chunk (a decoded chunk served recently) or shard (a shard this edge owns).", "kind"),
		cacheBytes:   d("cache_bytes", "Bytes charged to the chunk store (payload, keys and bookkeeping), by kind: chunk or shard.", "kind"),
		cacheBudget:  d("cache_budget_bytes", "The chunk store's budget (--cache-size): cache_bytes never exceeds it."),
		evictions:    d("cache_evictions_total", "Entries the budget pushed out of the chunk store. A steady rate means the working set does not fit."),
		originRetries: d("origin_retries_total", "Origin request attempts made after a failed one (within one origin request; "+
			"see origin_requests_total)."),
		peerRefused:        d("peer_refused_total", "Peer requests this edge refused: bad signature, expired, replayed or other chunk parameters."),
		shardsCorrupt:      d("shards_corrupt_total", "Shards found corrupt or inconsistent, in memory or from a peer; each is dropped and refetched."),
		hedges:             d("hedges_total", "Shard reads that asked every owner because one of the first was left alone, or sent nothing, for --hedge-delay."),
		repairs:            d("repairs_total", "Shards re-encoded and pushed back to an owner that answered a read without them."),
		readaheadNext:      d("readahead_next_total", "Chunk fetches started past a sequential range request's end, so that the player's next request is a hit."),
		readaheadDropped:   d("readahead_dropped_total", "Such fetches not started because as many as the edge allows were already running: readahead never crowds out what players wait for."),
		playlistPrefetches: d("playlist_prefetches_total", "Objects an HLS or DASH playlist named that were warmed as the playlist first passed through."),
		ringMembers:        d("ring_members", "Members of this edge's current ring, itself included."),
		suspects:           d("peer_suspects", "Peers this edge skips for now because a request to them failed in the last few seconds."),
		accessLogDropped: d("access_log_dropped_total", "Access log lines lost because the log's writer fell behind "+
			"or failed (0 without --access-log)."),
		diskSlow: d("disk_slow_total", "Disk tier reads given up on as too slow: past --hedge-delay for a player's request "+
			"(the ring or the origin answered instead), past --peer-timeout for a peer's (0 without a disk tier)."),
	}
}

// Describe sends every metric's description.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.coalesced, c.fillsLed, c.fillsInFlight, c.served, c.cacheEntries,
		c.cacheBytes, c.cacheBudget, c.evictions, c.originRetries, c.peerRefused, c.shardsCorrupt, c.hedges,
		c.repairs, c.readaheadNext, c.readaheadDropped, c.playlistPrefetches, c.ringMembers, c.suspects, c.accessLogDropped, c.diskSlow} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	s := n.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter(c.coalesced, s.Coalesced)
	counter(c.fillsLed, s.FillsLed)
	gauge(c.fillsInFlight, s.FillsInFlight)
	counter(c.served, s.SentHit, "hit")
	counter(c.served, s.SentDisk, "disk")
	counter(c.served, s.SentPeer, "peer")
	counter(c.served, s.SentOrigin, "origin")
	for _, k := range []struct {
		shards bool
		name   string
	}{{false, "chunk"}, {true, "shard"}} {
		entries, bytes := n.eng.Store().ClassStats(k.shards)
		gauge(c.cacheEntries, int64(entries), k.name)
		gauge(c.cacheBytes, bytes, k.name)
	}
	gauge(c.cacheBudget, n.cfg.CacheSize)
	counter(c.evictions, int64(n.eng.Store().Evictions()))
	counter(c.originRetries, n.origin.retries())
	counter(c.peerRefused, s.PeerRefused)
	counter(c.shardsCorrupt, s.ShardsCorrupt)
	counter(c.hedges, s.Hedges)
	counter(c.repairs, s.Repairs)
	counter(c.readaheadNext, s.ReadaheadNext)
	counter(c.readaheadDropped, s.ReadaheadDropped)
	counter(c.playlistPrefetches, s.PlaylistPrefetches)
	gauge(c.ringMembers, int64(s.RingMembers))
	gauge(c.suspects, int64(s.Suspects))
	var dropped int64
	if n.access != nil {
		dropped = n.access.dropped.Load()
	}
	counter(c.accessLogDropped, dropped)
	counter(c.diskSlow, s.DiskSlow)
}
