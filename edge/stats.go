package edge

import (
	"sync/atomic"

	"github.com/edgecache/edgecache/edge/internal/engine"
)

// counters are the node's own running totals, read by Stats with the
// engine's and the origin meter's.
type counters struct {
	requests           atomic.Int64
	sent               [engine.NumSources]atomic.Int64
	peerRefused        atomic.Int64
	readaheadNext      atomic.Int64
	readaheadDropped   atomic.Int64
	playlistPrefetches atomic.Int64
	invalidations      atomic.Int64
	relayedBytes       atomic.Int64
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
	SentDisk           int64 // body bytes sent from decoded chunks on this node's disk tier
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
	OriginLookups      int64 // requests to the origin for what an object is now (with its first chunk)
	OriginStreams      int64 // requests to the origin for a body from an offset on, cut into chunks as it came
	Invalidations      int64 // keys dropped after a successful unsafe request (RFC 9111 §4.4)
	RelayedBytes       int64 // body bytes of answers relayed unstored (other methods, responses not stored)
	DiskHits           int64 // memory misses the disk tier answered
	DiskLent           int64 // of DiskHits, decoded chunks sent from a buffer the disk lent and not kept in memory (not read from the disk lately)
	DiskMisses         int64 // memory misses the disk tier did not answer
	DiskSlow           int64 // disk reads given up on past their bound (a hedge delay for a player's, the peer timeout for a peer's): the ring or the origin answered instead
	DiskBytes          int64 // bytes the disk tier holds, over every path
	DiskEntries        int   // entries the disk tier holds, over every path
	ObjectsFromDisk    int64 // lookups the disk tier answered with the stored object, asking no peer or origin
	RingMembers        int   // members of the current ring
	Suspects           int   // peers skipped for failing recently
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	store, es := n.eng.Store(), n.eng.Stats()
	chunks, _ := store.ClassStats(false)
	shards, _ := store.ClassStats(true)
	var diskBytes int64
	var diskEntries int
	for _, d := range n.disks.stats() {
		diskBytes, diskEntries = diskBytes+d.Bytes, diskEntries+d.Entries
	}
	return Stats{
		Requests:           n.stats.requests.Load(),
		Coalesced:          es.Coalesced,
		FillsLed:           es.FillsLed,
		OriginChunks:       n.origin.chunks.Load(),
		OriginBytes:        n.origin.chunkBytes.Load(),
		OriginErrors:       n.origin.chunkErrors.Load(),
		FillsInFlight:      es.FillsInFlight,
		SentHit:            n.stats.sent[engine.SourceHit].Load(),
		SentDisk:           n.stats.sent[engine.SourceDisk].Load(),
		SentPeer:           n.stats.sent[engine.SourcePeer].Load(),
		SentOrigin:         n.stats.sent[engine.SourceOrigin].Load(),
		CacheBytes:         store.Bytes(),
		CacheEntries:       store.Len(),
		CacheChunks:        chunks,
		CacheShards:        shards,
		PeerRefused:        n.stats.peerRefused.Load(),
		ShardsCorrupt:      es.ShardsCorrupt,
		Hedges:             es.Hedges,
		Repairs:            es.Repairs,
		ReadaheadNext:      n.stats.readaheadNext.Load(),
		ReadaheadDropped:   n.stats.readaheadDropped.Load(),
		PlaylistPrefetches: n.stats.playlistPrefetches.Load(),
		OriginLookups:      es.OriginLookups,
		OriginStreams:      es.Streams,
		Invalidations:      n.stats.invalidations.Load(),
		RelayedBytes:       n.stats.relayedBytes.Load(),
		DiskHits:           es.DiskHits,
		DiskLent:           es.DiskLent,
		DiskMisses:         es.DiskMisses,
		DiskSlow:           es.DiskSlow,
		ObjectsFromDisk:    es.ObjectsFromDisk,
		DiskBytes:          diskBytes,
		DiskEntries:        diskEntries,
		RingMembers:        n.cluster.Ring().Len(),
		Suspects:           n.cluster.Suspects(),
	}
}

func (n *Node) countSent(sent [engine.NumSources]int64) {
	for i, v := range sent {
		if v != 0 {
			n.stats.sent[i].Add(v)
		}
	}
}
