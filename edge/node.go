package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
	"github.com/edgecache/edgecache/origin"
)

// Node is one edge: a client listener in front of a chunk cache in front of
// the origin, and an admin listener for probes.
type Node struct {
	cfg        Config
	log        *slog.Logger
	now        func() time.Time
	origin     originReader // rawOrigin, metered when metrics are on
	objects    *objects
	store      *chunk.Store[storeKey, []byte] // decoded chunks and shard frames
	fills      singleflight.Group
	stats      counters
	codec      *chunk.Codec
	cluster    *cluster
	peers      *peerClient
	auth       *peerwire.Auth
	repairs    chan struct{}               // bounds repairs in flight
	prefetches chan struct{}               // bounds playlist prefetches in flight
	positions  *lru.Cache[uint64, readPos] // where each connection's last range ended, for ReadaheadNext
	aheadSlots chan struct{}               // a token per readahead fetch running (aheadInFlight)
	aheadKeys  sync.Map                    // chunk.Key -> struct{}: the chunks being read ahead
	bg         sync.WaitGroup              // shard placements and repairs in flight

	rawOrigin originReader
	metrics   *metrics   // nil with DisableMetrics
	access    *accessLog // nil without an access log

	baseCtx  context.Context // ends when the node stops; fills run under it
	stopBase context.CancelFunc

	client      *fasthttp.Server
	clientLn    *trackingListener
	peer        *fasthttp.Server
	peerLn      *trackingListener
	tls         nodeTLS
	admin       *http.Server
	adminLn     net.Listener
	ready       atomic.Bool
	closed      atomic.Bool
	closeOnce   sync.Once
	serveErrors chan error

	// Operations: the status page and purges (status.go, purge.go).
	status *statusState
	purges *purgeLog
	// originWatch is the origin reader the node uses: the origin client,
	// counted for the status page.
	originWatch *originWatch
	adminAuth   *peerwire.Auth // checks operators' signed admin requests
}

// New builds a node and binds its listeners, so that ":0" ports are known
// (Addr, AdminAddr) before Run.
func New(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	oc, err := origin.NewClient(origin.Config{
		BaseURL: cfg.Origin,
		Timeout: cfg.OriginTimeout,
		Retries: cfg.OriginRetries,
	})
	if err != nil {
		return nil, err
	}
	return newNode(cfg, oc)
}

func newNode(cfg Config, or originReader) (*Node, error) {
	// The origin as the node sees it: watched for the status page, and
	// metered when metrics are on. serveErrors has room for the Serve
	// result of every listener, so that none blocks once Run has returned
	// (with two, the third leaked).
	ow := newOriginWatch(or, cfg.Now)
	n := &Node{cfg: cfg, log: cfg.Logger, now: cfg.Now, origin: ow, rawOrigin: or, originWatch: ow, serveErrors: make(chan error, 3)}
	n.status = &statusState{started: cfg.Now(), every: cfg.StatusInterval}
	n.purges = newPurgeLog(cfg.Now, cfg.WriteTimeout+cfg.FillTimeout)
	n.adminAuth = newAdminAuth(cfg.ClusterSecret, cfg.Now)
	var err error
	n.tls, err = loadTLS(&cfg, func(remote string, why error) {
		n.stats.peerRefused.Add(1)
		n.log.Warn("peer connection refused", "remote", remote, "err", why)
	})
	if err != nil {
		return nil, err
	}
	reg, gatherer := cfg.Registerer, cfg.Gatherer
	var metricCollectors []prometheus.Collector
	if !cfg.DisableMetrics {
		if reg == nil {
			r := prometheus.NewRegistry()
			r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			reg = r
		}
		if gatherer == nil {
			gatherer = reg.(prometheus.Gatherer) // checked by Validate
		}
		n.metrics, metricCollectors = newMetrics(n)
		n.origin = meteredOrigin{inner: ow, m: n.metrics, now: cfg.Now}
	}
	n.objects, err = newObjects(cfg.MetaEntries, n.origin, cfg.Now, cfg.DefaultTTL, cfg.NegativeTTL, cfg.FillTimeout)
	if err != nil {
		return nil, err
	}
	n.objects.fence = n.purges
	n.objects.coalesced = func() { n.stats.coalesced.Add(1) }
	n.objects.remote = n.remoteObject
	n.objects.leads = n.leadsObject
	n.store, err = newStore(cfg.CacheSize, int64(float64(cfg.CacheSize)*cfg.HotShare))
	if err != nil {
		return nil, err
	}
	n.codec, err = chunk.NewCodec(cfg.DataShards, cfg.ParityShards)
	if err != nil {
		return nil, err
	}
	n.repairs = make(chan struct{}, 64)
	n.prefetches = make(chan struct{}, 8)
	n.positions, _ = lru.New[uint64, readPos](readPositions) // cannot fail: the size is positive
	n.aheadSlots = make(chan struct{}, aheadInFlight())
	n.positions, _ = lru.New[uint64, readPos](readPositions) // cannot fail: the size is positive
	n.baseCtx, n.stopBase = context.WithCancel(context.Background())

	lns, err := listenAll(cfg.Listen, cfg.PeerListen, cfg.AdminListen)
	if err != nil {
		return nil, err
	}
	n.clientLn, n.peerLn, n.adminLn = newTrackingListener(lns[0]), newTrackingListener(lns[1]), lns[2]
	self := cfg.Advertise
	if self == "" {
		self = n.peerLn.Addr().String()
	}
	n.cluster = newCluster(self, cfg.Membership, cfg.Now, cfg.SuspectFor)
	n.auth = peerwire.NewAuth(cfg.ClusterSecret, peerwire.ClusterParams(cfg.ChunkSize, cfg.DataShards, cfg.ParityShards), time.Minute, cfg.Now)
	n.peers = newPeerClient(self, n.auth, n.cluster, cfg.PeerDialTimeout, cfg.PeerTimeout, cfg.FillTimeout, cfg.HedgeDelay)
	n.peers.hc.MaxResponseBodySize = maxPeerResponse(cfg.ChunkSize, n.codec)
	if n.tls.peerClient != nil {
		n.peers.useTLS(n.tls.peerClient)
	}
	if n.metrics != nil {
		// Registered last, so that a node that fails to start leaves the
		// registry as it was.
		if err := register(reg, metricCollectors); err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			return nil, err
		}
		n.peers.onError = n.metrics.peerError
		n.peers.observe = n.metrics.peerRequest
	}
	n.cluster.suspected = func(member string, why error) {
		n.log.Warn("peer failed; reads ask it last for a while", "peer", member, "for", cfg.SuspectFor, "err", why)
	}
	n.cluster.changes = func(members int) {
		n.log.Info("ring changed", "members", members)
		if n.metrics != nil {
			n.metrics.ringChanges.Inc()
		}
	}
	if cfg.AccessLog != nil {
		n.access = newAccessLog(cfg.AccessLog, cfg.AccessLogFlush, n.log)
	}
	n.peer = &fasthttp.Server{
		Handler:                      n.servePeer,
		ErrorHandler:                 n.peerRequestError,
		Name:                         "edgecache-peer",
		ReadBufferSize:               peerReadBufferSize(cfg.MaxHeaderBytes),
		ReadTimeout:                  cfg.PeerTimeout + cfg.FillTimeout,
		WriteTimeout:                 cfg.PeerTimeout + cfg.FillTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		MaxRequestBodySize:           int(cfg.ChunkSize) + 64<<10, // one shard frame or a fill request
		WriteBufferSize:              cfg.WriteBufferSize,         // as on the client listener: shards and fills are bulk
		CloseOnShutdown:              true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		Logger:                       fasthttpLogger{n.log},
	}
	n.client = &fasthttp.Server{
		Handler:                       n.serveClient,
		ErrorHandler:                  n.clientRequestError,
		Name:                          "edgecache",
		ReadTimeout:                   cfg.ReadTimeout,
		WriteTimeout:                  cfg.WriteTimeout,
		IdleTimeout:                   cfg.IdleTimeout,
		Concurrency:                   cfg.MaxConns,
		ReadBufferSize:                cfg.MaxHeaderBytes,
		WriteBufferSize:               cfg.WriteBufferSize,
		MaxRequestBodySize:            1 << 10, // GET and HEAD carry no body
		DisablePreParseMultipartForm:  true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{n.log},
		// Idle keep-alive players hold no buffers: without this fasthttp
		// keeps each connection's read and write buffers between requests,
		// 72 KiB per idle player with our 64 KiB write buffer (measured:
		// 1,000 idle connections held 95 MiB of heap after a GC).
		ReduceMemoryUsage: true,
	}
	mux := http.NewServeMux()
	if n.metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", n.serveReady)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(n.Stats())
	})
	// Profiles on the admin port only, which players cannot reach: the
	// first tool an operator wants when an edge burns CPU.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	n.adminRoutes(mux)
	n.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return n, nil
}

// Addr is the client listener's address.
func (n *Node) Addr() string { return n.clientLn.Addr().String() }

// PeerAddr is the peer listener's address.
func (n *Node) PeerAddr() string { return n.peerLn.Addr().String() }

// Advertise is the address this node is known by on the ring.
func (n *Node) Advertise() string { return n.cluster.self }

// AdminAddr is the admin listener's address.
func (n *Node) AdminAddr() string { return n.adminLn.Addr().String() }

// Run serves until ctx ends, then stops taking requests, lets the responses
// in flight finish within ShutdownGrace, and returns.
func (n *Node) Run(ctx context.Context) error {
	go func() { n.serveErrors <- n.client.Serve(tlsListener(n.clientLn, n.tls.client)) }()
	go func() { n.serveErrors <- n.peer.Serve(tlsListener(n.peerLn, n.tls.peerServer)) }()
	go func() { n.serveErrors <- n.admin.Serve(n.adminLn) }()
	memberCtx, leave := context.WithCancel(n.baseCtx)
	defer leave()
	defer n.startStatus()()
	left := make(chan struct{})
	go func() {
		defer close(left)
		if err := n.cluster.run(memberCtx); err != nil {
			n.log.Error("membership source failed; keeping the last ring", "err", err)
		}
	}()
	n.ready.Store(true)
	n.log.Info("edge serving", "client", n.Addr(), "peer", n.PeerAddr(), "advertise", n.cluster.self,
		"admin", n.AdminAddr(), "origin", n.cfg.Origin, "cache_size", n.cfg.CacheSize, "chunk_size", n.cfg.ChunkSize,
		"data_shards", n.cfg.DataShards, "parity_shards", n.cfg.ParityShards,
		"client_tls", n.tls.client != nil, "peer_tls", n.tls.peerServer != nil)
	var err error
	select {
	case <-ctx.Done():
	case err = <-n.serveErrors:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	// Stop: fail readiness so that load balancers stop sending players,
	// leave the ring so that peers stop counting on this node, then let
	// the responses in flight finish within the grace period.
	n.ready.Store(false)
	n.log.Info("edge stopping: draining", "grace", n.cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownGrace)
	defer cancel()
	leave()
	select {
	case <-left:
	case <-sctx.Done():
	}
	if e := n.client.ShutdownWithContext(sctx); e != nil && err == nil && !n.closed.Load() {
		err = fmt.Errorf("draining client connections: %w", e)
	}
	_ = n.peer.ShutdownWithContext(sctx)
	_ = n.admin.Shutdown(sctx)
	n.Close()
	return err
}

// Close stops the node at once: listeners and every open connection are
// closed and fetches in flight are abandoned. Run returns soon after.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		n.ready.Store(false)
		n.stopBase()
		n.clientLn.Close()
		n.clientLn.closeConns()
		n.peerLn.Close()
		n.peerLn.closeConns()
		n.admin.Close()
		n.peers.hc.CloseIdleConnections() // do not hold peers' sockets either
		if c, ok := n.origin.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections() // do not hold the origin's sockets
		}
		if n.access != nil {
			n.access.close(n.cfg.ShutdownGrace) // after Run's drain, every response has its line
		}
	})
	return nil
}

func (n *Node) serveReady(w http.ResponseWriter, _ *http.Request) {
	switch {
	case !n.ready.Load():
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	case !n.cluster.synced.Load():
		http.Error(w, "not ready: waiting for the first member list", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// fasthttpLogger sends fasthttp's own messages to the node's logger.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "fasthttp")
}

// listenAll binds every listener or none.
func listenAll(addrs ...string) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, len(addrs))
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("listen %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
