package edge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/origin"
)

// The label values of the node's metrics. Each combination is resolved to
// its child metric once, when the node starts, so that recording a request
// indexes arrays: no map lookup and no allocation on the hit path, and
// every series exists (at zero) before its first event, which keeps rate()
// and dashboards honest.

// methodClass is the method label of a client request.
type methodClass uint8

const (
	methodGET methodClass = iota
	methodHEAD
	methodOther // refused with 405; a label per method would be unbounded
	numMethods
)

// String is the label value.
func (m methodClass) String() string {
	switch m {
	case methodGET:
		return "GET"
	case methodHEAD:
		return "HEAD"
	default:
		return "other"
	}
}

// cacheResult is the cache label of a client request: where its bytes came
// from (X-Cache), or none for an error or an object that may not be cached.
type cacheResult uint8

const (
	cacheNone cacheResult = iota
	cacheHit
	cachePeer
	cacheMiss
	numCacheResults
)

// String is the label value.
func (c cacheResult) String() string {
	switch c {
	case cacheHit:
		return "hit"
	case cachePeer:
		return "peer"
	case cacheMiss:
		return "miss"
	default:
		return "none"
	}
}

// cacheFor is the cache result of a successful response about o whose worst
// chunk came from src.
func cacheFor(o *engine.Object, src engine.Source) cacheResult {
	if !o.Storable() {
		return cacheNone
	}
	switch src {
	case engine.SourceHit, engine.SourceDisk:
		return cacheHit
	case engine.SourcePeer:
		return cachePeer
	default:
		return cacheMiss
	}
}

// numCodeClasses are 2xx, 3xx, 4xx and 5xx: the code label.
const numCodeClasses = 4

func codeClass(status int) int {
	return min(max(status/100, 2), 5) - 2
}

func codeClassLabel(i int) string { return fmt.Sprintf("%dxx", i+2) }

// originOp is the op label of an origin request.
type originOp uint8

const (
	originFirst  originOp = iota // GET of an object's first window: what it is now, and its first chunk
	originChunk                  // ranged GET of one chunk
	originStream                 // GET of a body from an offset on, cut into chunks as it comes
	originRelay                  // a client's request relayed unstored
	numOriginOps
)

// String is the label value.
func (o originOp) String() string {
	switch o {
	case originFirst:
		return "first"
	case originChunk:
		return "chunk"
	case originStream:
		return "stream"
	default:
		return "relay"
	}
}

// originErrKind is the kind label of a failed origin request: a bounded
// set, one per sentinel of the origin package.
type originErrKind uint8

const (
	errKindNotFound    originErrKind = iota // 404 or 410
	errKindChanged                          // the version changed under a read
	errKindBadResponse                      // an answer that was not what was asked
	errKindUnreachable                      // transport failures, 502, 503
	errKindTimeout                          // an attempt or the fill timed out, 504
	errKindStatus                           // another status, such as 403
	errKindOther
	numOriginErrKinds
)

// String is the label value.
func (k originErrKind) String() string {
	switch k {
	case errKindNotFound:
		return "not_found"
	case errKindChanged:
		return "changed"
	case errKindBadResponse:
		return "bad_response"
	case errKindUnreachable:
		return "unreachable"
	case errKindTimeout:
		return "timeout"
	case errKindStatus:
		return "status"
	default:
		return "other"
	}
}

func originErrKindOf(err error) originErrKind {
	var se *origin.StatusError
	switch {
	case errors.Is(err, origin.ErrNotFound):
		return errKindNotFound
	case errors.Is(err, origin.ErrChanged):
		return errKindChanged
	case errors.Is(err, origin.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return errKindTimeout
	case errors.Is(err, origin.ErrUnreachable):
		return errKindUnreachable
	case errors.Is(err, origin.ErrBadResponse):
		return errKindBadResponse
	case errors.As(err, &se):
		return errKindStatus
	default:
		return errKindOther
	}
}

// peerOp is the op label of a request to a peer. Peers are not a label:
// their number is the ring's, and a ring of hundreds would multiply every
// series by hundreds.
type peerOp uint8

const (
	peerShardsGet peerOp = iota
	peerShardsPut
	peerFill
	peerMeta
	peerPing
	peerPurge
	peerObject
	peerOther
	numPeerOps
)

// peerOpOf maps the op names the peer client uses to labels.
func peerOpOf(op string) peerOp {
	switch op {
	case "shards":
		return peerShardsGet
	case "push":
		return peerShardsPut
	case "fill":
		return peerFill
	case "meta":
		return peerMeta
	case "ping":
		return peerPing
	case "purge":
		return peerPurge
	case "object":
		return peerObject
	default:
		return peerOther
	}
}

// String is the label value.
func (p peerOp) String() string {
	switch p {
	case peerShardsGet:
		return "shards_get"
	case peerShardsPut:
		return "shards_put"
	case peerFill:
		return "fill"
	case peerMeta:
		return "meta"
	case peerPing:
		return "ping"
	case peerPurge:
		return "purge"
	case peerObject:
		return "object"
	default:
		return "other"
	}
}

// latencyBuckets are the histogram buckets of every latency, in seconds:
// from a hit's half millisecond to a stalled origin's ten seconds, about
// two and a half per decade.
func latencyBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// metrics are the node's event metrics: counters and histograms recorded
// as things happen. What the node already counts (bytes by source, the
// store, the ring) is read at scrape time by nodeCollector instead. A nil
// *metrics records nothing (Config.DisableMetrics).
type metrics struct {
	requests [numMethods][numCodeClasses][numCacheResults]prometheus.Counter
	ttfb     [numCacheResults]prometheus.Observer
	duration [numCacheResults]prometheus.Observer

	originRequests [numOriginOps]prometheus.Counter
	originErrors   [numOriginOps][numOriginErrKinds]prometheus.Counter
	originDuration [numOriginOps]prometheus.Observer
	originBytes    prometheus.Counter

	peerRequests [numPeerOps]prometheus.Counter
	peerErrors   [numPeerOps]prometheus.Counter
	peerDuration [numPeerOps]prometheus.Observer

	ringChanges prometheus.Counter
}

// newMetrics builds the node's metrics. It returns them and the collectors
// to register: theirs and that of the node's scrape-time values.
func newMetrics(n *Node) (*metrics, []prometheus.Collector) {
	const ns = metricsNamespace
	m := &metrics{}
	cs := m.newClientMetrics()
	cs = append(cs, m.newOriginMetrics()...)
	cs = append(cs, m.newPeerMetrics()...)
	m.ringChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "ring", Name: "changes_total",
		Help: "Membership changes that rebuilt this edge's ring. Each moves about 6/N of the chunks' owners.",
	})
	return m, append(cs, m.ringChanges, newNodeCollector(n), newDiskCollector(n))
}

// metricsNamespace prefixes every metric of the node.
const metricsNamespace = "edgecache"

// newClientMetrics builds the metrics of client requests.
func (m *metrics) newClientMetrics() []prometheus.Collector {
	const ns = metricsNamespace
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "client", Name: "requests_total",
		Help: "Client requests answered, by method (GET, HEAD, other), status code class and cache result " +
			"(hit, peer, miss as X-Cache says; none for errors and objects that may not be cached). " +
			"Counted when the response ends.",
	}, []string{"method", "code", "cache"})
	ttfb := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: "client", Name: "ttfb_seconds",
		Help: "Time from reading a client request to its response headers being ready, which is when the first " +
			"body bytes can leave: for a GET, the first two chunks are in hand. By cache result.",
		Buckets: latencyBuckets(),
	}, []string{"cache"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: "client", Name: "request_duration_seconds",
		Help: "Time from reading a client request to the last byte of its response handed to the connection " +
			"(or the response cut short). Paced players make this long for large ranges; see ttfb for the edge's own delay.",
		Buckets: latencyBuckets(),
	}, []string{"cache"})
	for meth := range numMethods {
		for code := range numCodeClasses {
			for cache := range numCacheResults {
				m.requests[meth][code][cache] = requests.WithLabelValues(meth.String(), codeClassLabel(code), cache.String())
			}
		}
	}
	for cache := range numCacheResults {
		m.ttfb[cache] = ttfb.WithLabelValues(cache.String())
		m.duration[cache] = duration.WithLabelValues(cache.String())
	}
	return []prometheus.Collector{requests, ttfb, duration}
}

// newOriginMetrics builds the metrics of origin requests.
func (m *metrics) newOriginMetrics() []prometheus.Collector {
	const ns = metricsNamespace
	originRequests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "origin", Name: "requests_total",
		Help: "Requests to the origin, by op: stat (metadata of an object not cached), revalidate (a stale one), " +
			"chunk (a ranged read of one chunk: one per chunk for the whole cluster). Retries are in origin_retries_total.",
	}, []string{"op"})
	originErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "origin", Name: "errors_total",
		Help: "Origin requests that failed, by op and kind: not_found, changed (the version changed under a read), " +
			"bad_response, unreachable, timeout, status (another unexpected status), other. Cancelled requests are not errors.",
	}, []string{"op", "kind"})
	originDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: "origin", Name: "request_duration_seconds",
		Help:    "Time an origin request took, retries and, for a chunk, reading its body included. By op.",
		Buckets: latencyBuckets(),
	}, []string{"op"})
	m.originBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "origin", Name: "bytes_total",
		Help: "Chunk bytes read from the origin: the cluster's origin egress, with the other edges' counts.",
	})
	for op := range numOriginOps {
		m.originRequests[op] = originRequests.WithLabelValues(op.String())
		m.originDuration[op] = originDuration.WithLabelValues(op.String())
		for kind := range numOriginErrKinds {
			m.originErrors[op][kind] = originErrors.WithLabelValues(op.String(), kind.String())
		}
	}
	return []prometheus.Collector{originRequests, originErrors, originDuration, m.originBytes}
}

// newPeerMetrics builds the metrics of requests to peers.
func (m *metrics) newPeerMetrics() []prometheus.Collector {
	const ns = metricsNamespace
	peerRequests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "peer", Name: "requests_total",
		Help: "Requests this edge sent to peers, by op: shards_get (read the shards of a chunk), shards_put " +
			"(place or repair one), fill (ask a chunk's leader for it), meta (ask an object's leader), ping (is a slow leader alive).",
	}, []string{"op"})
	peerErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "peer", Name: "errors_total",
		Help: "Requests to peers that failed (unreachable, timed out, refused, 5xx), by op. Each marks the peer suspect.",
	}, []string{"op"})
	peerDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: "peer", Name: "request_duration_seconds",
		Help:    "Time a request to a peer took, failures included, by op. A fill includes the leader's origin read.",
		Buckets: latencyBuckets(),
	}, []string{"op"})
	for op := range numPeerOps {
		m.peerRequests[op] = peerRequests.WithLabelValues(op.String())
		m.peerErrors[op] = peerErrors.WithLabelValues(op.String())
		m.peerDuration[op] = peerDuration.WithLabelValues(op.String())
	}
	return []prometheus.Collector{peerRequests, peerErrors, peerDuration}
}

// register registers cs on reg, all or none.
func register(reg prometheus.Registerer, cs []prometheus.Collector) error {
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}

// request records one client request that has ended.
func (m *metrics) request(x *exchange, took time.Duration) {
	m.requests[x.method][codeClass(x.status)][x.cache].Inc()
	m.ttfb[x.cache].Observe(x.ttfb.Seconds())
	m.duration[x.cache].Observe(took.Seconds())
}

// originRequest records one origin request that has ended.
func (m *metrics) originRequest(op originOp, took time.Duration, err error) {
	m.originRequests[op].Inc()
	m.originDuration[op].Observe(took.Seconds())
	if err != nil && !errors.Is(err, context.Canceled) {
		m.originErrors[op][originErrKindOf(err)].Inc()
	}
}

func (m *metrics) peerRequest(op string, took time.Duration) {
	p := peerOpOf(op)
	m.peerRequests[p].Inc()
	m.peerDuration[p].Observe(took.Seconds())
}

func (m *metrics) peerError(op string) { m.peerErrors[peerOpOf(op)].Inc() }
