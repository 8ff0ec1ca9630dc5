package edge

import "sync/atomic"

// counters are the node's running totals, read by Stats.
type counters struct {
	requests           atomic.Int64
	coalesced          atomic.Int64
	fillsLed           atomic.Int64
	fillsInFlight      atomic.Int64
	originChunks       atomic.Int64
	originBytes        atomic.Int64
	originErrors       atomic.Int64
	sent               [srcOrigin + 1]atomic.Int64
	peerRefused        atomic.Int64
	shardsCorrupt      atomic.Int64
	hedges             atomic.Int64
	repairs            atomic.Int64
	readaheadNext      atomic.Int64
	readaheadDropped   atomic.Int64
	playlistPrefetches atomic.Int64
}

// Stats is a snapshot of a node's counters since it started.
type Stats struct {
	Requests           int64 // client requests for an object
	Coalesced          int64 // lookups and fills that joined one already in flight
	FillsLed           int64 // chunk fills led as the chunk's leader: one origin read each
	OriginChunks       int64 // chunk reads sent to the origin
	OriginBytes        int64 // chunk bytes read from the origin
	OriginErrors       int64 // chunk reads from the origin that failed
	FillsInFlight      int64 // chunk fills running now
	SentHit            int64 // body bytes sent from local memory
	SentPeer           int64 // body bytes sent rebuilt from peers
	SentOrigin         int64 // body bytes sent fetched from the origin
	CacheBytes         int64 // bytes charged to the chunk store
	CacheEntries       int   // chunks and shards in the store
	CacheChunks        int   // decoded chunks in the store
	CacheShards        int   // shards in the store
	PeerRefused        int64 // peer requests refused (authentication, parameters)
	ShardsCorrupt      int64 // shards found corrupt or inconsistent
	Hedges             int64 // shard reads that asked every owner after the hedge delay
	Repairs            int64 // shards re-encoded and pushed back after a read found them missing
	ReadaheadNext      int64 // chunk fetches started for a sequential player's next request (joining one already running included)
	ReadaheadDropped   int64 // such fetches not started because aheadInFlight were running
	PlaylistPrefetches int64 // objects a playlist named that were warmed as it passed through
	RingMembers        int   // members of the current ring
	Suspects           int   // peers skipped for failing recently
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	chunks, _ := n.store.ClassStats(false)
	shards, _ := n.store.ClassStats(true)
	return Stats{
		Requests:           n.stats.requests.Load(),
		Coalesced:          n.stats.coalesced.Load(),
		FillsLed:           n.stats.fillsLed.Load(),
		OriginChunks:       n.stats.originChunks.Load(),
		OriginBytes:        n.stats.originBytes.Load(),
		OriginErrors:       n.stats.originErrors.Load(),
		FillsInFlight:      n.stats.fillsInFlight.Load(),
		SentHit:            n.stats.sent[srcHit].Load(),
		SentPeer:           n.stats.sent[srcPeer].Load(),
		SentOrigin:         n.stats.sent[srcOrigin].Load(),
		CacheBytes:         n.store.Bytes(),
		CacheEntries:       n.store.Len(),
		CacheChunks:        chunks,
		CacheShards:        shards,
		PeerRefused:        n.stats.peerRefused.Load(),
		ShardsCorrupt:      n.stats.shardsCorrupt.Load(),
		Hedges:             n.stats.hedges.Load(),
		Repairs:            n.stats.repairs.Load(),
		ReadaheadNext:      n.stats.readaheadNext.Load(),
		ReadaheadDropped:   n.stats.readaheadDropped.Load(),
		PlaylistPrefetches: n.stats.playlistPrefetches.Load(),
		RingMembers:        n.cluster.ring.Load().Len(),
		Suspects:           n.cluster.suspects(),
	}
}

func (n *Node) countSent(sent [srcOrigin + 1]int64) {
	for i, v := range sent {
		if v != 0 {
			n.stats.sent[i].Add(v)
		}
	}
}
