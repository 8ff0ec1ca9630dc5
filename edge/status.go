package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/ring"
)

// The status page (GET / on the admin listener) and its JSON twin
// (GET /status.json) show one edge as an operator needs it: the ring and
// who is suspect, traffic by source over the last minutes, the cache
// against its budget, and the origin's health. Traffic comes from a small
// in-memory history that samples the node's counters every StatusInterval;
// nothing is added to the hit path.

// statusSamples is how many intervals the history keeps: five minutes at
// the default StatusInterval of 5 s.
const statusSamples = 60

// Status is one edge's state, as GET /status.json serves it. Byte counts
// are of response bodies; times are RFC 3339 in JSON.
type Status struct {
	Node    string    `json:"node"`    // this edge's peer address: its identity on the ring
	Name    string    `json:"name"`    // Config.NodeName: what people call this edge ("" for none)
	Time    time.Time `json:"time"`    // when this status was taken
	Started time.Time `json:"started"` // when the node was built
	// Ready is what /readyz says: serving, and the membership source has
	// given a first member list.
	Ready bool `json:"ready"`
	// Members is the ring as this edge sees it, sorted by address.
	Members []MemberStatus `json:"members"`
	Cache   CacheStatus    `json:"cache"`
	// Disks is the disk tier, one entry per DiskPaths (none without it).
	Disks  []DiskStatus `json:"disks,omitempty"`
	Origin OriginStatus `json:"origin"`
	// Totals are the traffic counters since the node started.
	Totals TrafficTotals `json:"totals"`
	// SampleSeconds is the history's sampling period (StatusInterval).
	SampleSeconds float64 `json:"sample_seconds"`
	// History is the traffic of each sampling interval, oldest first: at
	// most 60 intervals, fewer just after start.
	History []StatusSample `json:"history"`
	Purges  PurgeStatus    `json:"purges"`
}

// MemberStatus is one member of the ring.
type MemberStatus struct {
	Addr string `json:"addr"` // peer address
	Self bool   `json:"self"` // this edge
	// Suspect: a request to it failed in the last SuspectFor (default 5 s);
	// reads ask it last. Never set for this edge itself.
	Suspect bool `json:"suspect"`
	// Share is the fraction of the key space it leads (0..1; the members'
	// shares add up to 1): about the fraction of chunks it fills from the
	// origin and of objects whose metadata it answers for.
	Share float64 `json:"share"`
}

// CacheStatus is the chunk store against its budget.
type CacheStatus struct {
	Bytes      int64   `json:"bytes"`       // charged to the store (chunks, shards, their keys and overhead)
	Budget     int64   `json:"budget"`      // CacheSize
	Fill       float64 `json:"fill"`        // Bytes / Budget
	Entries    int     `json:"entries"`     // whole chunks and shard frames
	Evictions  uint64  `json:"evictions"`   // entries the budget pushed out since start
	Objects    int     `json:"objects"`     // objects whose metadata is cached
	ObjectsMax int     `json:"objects_max"` // MetaEntries
}

// OriginStatus is the origin's health as this edge saw it. Every origin
// request counts (metadata and chunk reads, retries inside one request
// not separately); a 404 and a changed object are answers, not errors, and
// a request the edge itself abandoned counts as neither.
//
// A failing origin does not make the edge unready: what the ring holds is
// still served, and an unready edge would serve nothing at all.
type OriginStatus struct {
	URL string `json:"url"` // the origin, without any userinfo
	// Failing: the last origin request that ended failed, and none has
	// been answered since. The status page shows it at the top.
	Failing        bool       `json:"failing"`
	Requests       int64      `json:"requests"`                  // answered since start
	Errors         int64      `json:"errors"`                    // failed since start
	RecentRequests int64      `json:"recent_requests"`           // answered over History
	RecentErrors   int64      `json:"recent_errors"`             // failed over History
	LastError      string     `json:"last_error,omitempty"`      // the last failure
	LastErrorAt    *time.Time `json:"last_error_at,omitempty"`   // when it happened
	LastSuccessAt  *time.Time `json:"last_success_at,omitempty"` // the last answer
}

// TrafficTotals are traffic counters since start.
type TrafficTotals struct {
	Requests    int64 `json:"requests"`     // client requests for an object
	HitBytes    int64 `json:"hit_bytes"`    // sent from this edge's memory
	DiskBytes   int64 `json:"disk_bytes"`   // sent from decoded chunks on this edge's disk tier
	PeerBytes   int64 `json:"peer_bytes"`   // sent rebuilt from peers' shards or a leader's memory
	OriginBytes int64 `json:"origin_bytes"` // sent fetched from the origin
	// HitRatio is (HitBytes + DiskBytes) over all bytes sent: the share
	// this edge's own cache answered, as X-Cache: HIT counts it; null
	// before any.
	HitRatio *float64 `json:"hit_ratio"`
	// OffloadRatio is (HitBytes + DiskBytes + PeerBytes) over all bytes
	// sent: the share the origin did not have to send for this edge; null
	// before any.
	OffloadRatio *float64 `json:"offload_ratio"`
}

// StatusSample is the traffic of one sampling interval.
type StatusSample struct {
	End     time.Time `json:"end"`     // end of the interval
	Seconds float64   `json:"seconds"` // its length
	TrafficTotals
	OriginRequests int64 `json:"origin_requests"` // origin requests answered in the interval
	OriginErrors   int64 `json:"origin_errors"`   // origin requests failed in the interval
	CacheBytes     int64 `json:"cache_bytes"`     // store bytes at the end of the interval
}

// PurgeStatus counts the purges this edge carried out (asked by an
// operator or by another member).
type PurgeStatus struct {
	Count int64 `json:"count"`
}

// snapshot is the node's cumulative counters at one instant.
type snapshot struct {
	at                     time.Time
	requests               int64
	sent                   [engine.NumSources]int64
	originOK, originFailed int64
	cacheBytes             int64
}

// history is a fixed ring of snapshots: the last statusSamples intervals
// need one more snapshot than intervals. It never grows.
type history struct {
	mu   sync.Mutex
	buf  [statusSamples + 1]snapshot // guarded by mu
	next int                         // guarded by mu; where the next snapshot goes
	n    int                         // guarded by mu; snapshots held
}

func (h *history) add(s snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf[h.next] = s
	h.next = (h.next + 1) % len(h.buf)
	h.n = min(h.n+1, len(h.buf))
}

// snapshots returns the held snapshots, oldest first.
func (h *history) snapshots() []snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]snapshot, 0, h.n)
	for i := range h.n {
		out = append(out, h.buf[(h.next-h.n+i+len(h.buf))%len(h.buf)])
	}
	return out
}

// run takes a snapshot now and then every interval until ctx ends.
func (h *history) run(ctx context.Context, every time.Duration, read func() snapshot) {
	h.add(read())
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.add(read())
		}
	}
}

// samples turns consecutive snapshots into the traffic of each interval.
func samples(snaps []snapshot) []StatusSample {
	out := make([]StatusSample, 0, max(len(snaps)-1, 0))
	for i := 1; i < len(snaps); i++ {
		a, b := snaps[i-1], snaps[i]
		out = append(out, StatusSample{
			End:            b.at,
			Seconds:        b.at.Sub(a.at).Seconds(),
			TrafficTotals:  totals(b.requests-a.requests, sub(b.sent, a.sent)),
			OriginRequests: b.originOK - a.originOK,
			OriginErrors:   b.originFailed - a.originFailed,
			CacheBytes:     b.cacheBytes,
		})
	}
	return out
}

func sub(a, b [engine.NumSources]int64) [engine.NumSources]int64 {
	for i := range a {
		a[i] -= b[i]
	}
	return a
}

func totals(requests int64, sent [engine.NumSources]int64) TrafficTotals {
	t := TrafficTotals{Requests: requests, HitBytes: sent[engine.SourceHit], DiskBytes: sent[engine.SourceDisk],
		PeerBytes: sent[engine.SourcePeer], OriginBytes: sent[engine.SourceOrigin]}
	if all := t.HitBytes + t.DiskBytes + t.PeerBytes + t.OriginBytes; all > 0 {
		hit := float64(t.HitBytes+t.DiskBytes) / float64(all)
		off := float64(t.HitBytes+t.DiskBytes+t.PeerBytes) / float64(all)
		t.HitRatio, t.OffloadRatio = &hit, &off
	}
	return t
}

// statusState is the node's status machinery: the history and what the
// page computes once per ring.
type statusState struct {
	started time.Time
	every   time.Duration
	hist    history

	mu         sync.Mutex
	sharesRing *ring.Ring         // guarded by mu; the ring shares was computed for
	shares     map[string]float64 // guarded by mu
}

// sharesOf returns r's shares, computed once per ring: a ring never changes
// and walking its points costs a few milliseconds for a large one.
func (s *statusState) sharesOf(r *ring.Ring) map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sharesRing != r {
		s.sharesRing, s.shares = r, r.Shares()
	}
	return s.shares
}

// startStatus starts sampling the counters into the history and returns
// the function that stops it and waits for the sampler to exit. Run calls
// it, so that the sampler lives exactly as long as Run.
func (n *Node) startStatus() (stop func()) {
	ctx, cancel := context.WithCancel(n.baseCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.status.hist.run(ctx, n.status.every, n.snapshot)
	}()
	return func() {
		cancel()
		<-done
	}
}

func (n *Node) snapshot() snapshot {
	s := snapshot{
		at:           n.now(),
		requests:     n.stats.requests.Load(),
		originOK:     n.origin.ok.Load(),
		originFailed: n.origin.failed.Load(),
		cacheBytes:   n.eng.Store().Bytes(),
	}
	for i := range s.sent {
		s.sent[i] = n.stats.sent[i].Load()
	}
	return s
}

// Status returns the edge's state as the status page shows it.
func (n *Node) Status() Status {
	now := n.now()
	cur := n.snapshot()
	st := Status{
		Node:          n.cluster.Self(),
		Name:          n.cfg.NodeName,
		Time:          now,
		Started:       n.status.started,
		Ready:         n.ready.Load() && n.cluster.Synced(),
		Totals:        totals(cur.requests, cur.sent),
		SampleSeconds: n.status.every.Seconds(),
		History:       samples(n.status.hist.snapshots()),
		Purges:        PurgeStatus{Count: n.eng.Fence().Count()},
		Cache: CacheStatus{
			Bytes:      cur.cacheBytes,
			Budget:     n.eng.Store().MaxBytes(),
			Fill:       float64(cur.cacheBytes) / float64(n.eng.Store().MaxBytes()),
			Entries:    n.eng.Store().Len(),
			Evictions:  n.eng.Store().Evictions(),
			Objects:    n.eng.Objects(),
			ObjectsMax: n.cfg.MetaEntries,
		},
		Disks: n.diskStatus(),
	}
	r := n.cluster.Ring()
	shares := n.status.sharesOf(r)
	for _, m := range r.Members() {
		self := m.Addr == n.cluster.Self()
		st.Members = append(st.Members, MemberStatus{
			Addr:    m.Addr,
			Self:    self,
			Suspect: !self && n.cluster.IsSuspect(m.Addr),
			Share:   shares[m.Addr],
		})
	}
	st.Origin = n.origin.status(n.cfg.Origin)
	st.Origin.Requests, st.Origin.Errors = cur.originOK, cur.originFailed
	for _, s := range st.History {
		st.Origin.RecentRequests += s.OriginRequests
		st.Origin.RecentErrors += s.OriginErrors
	}
	return st
}

// serveStatusJSON is GET /status.json.
func (n *Node) serveStatusJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(n.Status())
}
