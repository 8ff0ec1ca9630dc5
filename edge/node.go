package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/edge/internal/peerhttp"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
	"github.com/edgecache/edgecache/origin"
)

// Node is one edge: a client listener in front of a cache engine in front
// of the origin and the other members, a peer listener for those members,
// and an admin listener for operators.
type Node struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	// The cache, and the paths to the origin and the peers.
	eng       *engine.Engine
	disks     diskTier // empty without DiskPaths
	cluster   *engine.Cluster
	origin    *originMeter     // the one wrapper of the origin: every origin request is counted there
	peers     *peerhttp.Client // the engine's Peers, and purges
	auth      *peerwire.Auth   // signs and checks peer requests
	adminAuth *peerwire.Auth   // checks operators' signed admin requests

	// What the node records.
	stats   counters
	metrics *metrics   // nil with DisableMetrics
	access  *accessLog // nil without an access log
	status  *statusState

	// Background work a response starts and does not wait for.
	ahead    *readahead
	prefetch *prefetcher

	// What every answer says of the node: Via's name and value, and the
	// methods it relays (Allow of a 405).
	viaName, via, allowed string
	// base is a response header as the client listener makes it, the
	// starting point of answers that replay fields (render.go).
	base     fasthttp.ResponseHeader
	baseOnce sync.Once

	// Listeners and lifecycle.
	servers
	baseCtx     context.Context // ends when the node stops; readahead and prefetches run under it
	stopBase    context.CancelFunc
	ready       atomic.Bool
	closed      atomic.Bool
	closeOnce   sync.Once
	serveErrors chan error
}

// servers are the node's three listeners and what serves them.
type servers struct {
	client   *fasthttp.Server
	clientLn *trackingListener
	peer     *fasthttp.Server
	peerLn   *trackingListener
	tls      nodeTLS
	admin    *http.Server
	adminLn  net.Listener
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

// newNode builds a node over the origin or, binding its listeners last
// but one and registering its metrics last, so that a node that fails to
// start leaves no listener open and the registry as it was.
func newNode(cfg Config, or originClient) (*Node, error) {
	// serveErrors has room for the Serve result of every listener, so
	// that none blocks once Run has returned (with two, the third leaked).
	n := &Node{cfg: cfg, log: cfg.Logger, now: cfg.Now, serveErrors: make(chan error, 3),
		origin: newOriginMeter(or, cfg.Now), ahead: newReadahead(), prefetch: newPrefetcher(),
		status:    &statusState{started: cfg.Now(), every: cfg.StatusInterval},
		adminAuth: newAdminAuth(cfg.ClusterSecret, cfg.Now, cfg.acceptedSecrets()...),
		auth: peerwire.NewAuth(cfg.ClusterSecret, peerwire.ClusterParams(cfg.ChunkSize, cfg.DataShards, cfg.ParityShards),
			time.Minute, cfg.Now, cfg.acceptedSecrets()...),
	}
	n.baseCtx, n.stopBase = context.WithCancel(context.Background())
	n.viaName = "edgecache"
	n.via = "1.1 " + n.viaName
	n.allowed = allowedMethods(cfg.RefuseMethods)
	var err error
	n.tls, err = loadTLS(&cfg, func(remote string, why error) {
		n.stats.peerRefused.Add(1)
		n.log.Warn("peer connection refused", "remote", remote, "err", why)
	})
	if err != nil {
		return nil, err
	}
	reg, gatherer, collectors := n.buildMetrics()
	if n.disks, err = openDisks(cfg); err != nil {
		return nil, err
	}
	lns, err := listenAll(cfg.Listen, cfg.PeerListen, cfg.AdminListen)
	if err == nil {
		n.clientLn, n.peerLn, n.adminLn = newTrackingListener(lns[0]), newTrackingListener(lns[1]), lns[2]
		err = n.buildEngine()
	}
	if err == nil && n.metrics != nil {
		err = register(reg, collectors)
	}
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		n.disks.close(context.Background())
		return nil, err
	}
	if cfg.AccessLog != nil {
		n.access = newAccessLog(cfg.AccessLog, cfg.AccessLogFlush, n.log)
	}
	n.client, n.peer = n.clientServer(), n.peerServer()
	n.admin = n.adminServer(gatherer)
	return n, nil
}

// buildMetrics makes the node's metrics, unless they are disabled, and
// returns where they go, what serves them and what to register.
func (n *Node) buildMetrics() (prometheus.Registerer, prometheus.Gatherer, []prometheus.Collector) {
	cfg := n.cfg
	if cfg.DisableMetrics {
		return nil, nil, nil
	}
	reg, gatherer := cfg.Registerer, cfg.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = r
	}
	if gatherer == nil {
		gatherer = reg.(prometheus.Gatherer) // checked by Validate
	}
	var cs []prometheus.Collector
	n.metrics, cs = newMetrics(n)
	n.origin.metrics = n.metrics
	return reg, gatherer, cs
}

// buildEngine makes the node's view of its cluster, its peer client and
// its cache engine; the peer listener must be bound, as it names this node
// on the ring unless Advertise does.
func (n *Node) buildEngine() error {
	cfg := n.cfg
	self := cfg.Advertise
	if self == "" {
		self = n.peerLn.Addr().String()
	}
	n.cluster = engine.NewCluster(engine.ClusterConfig{
		Self: self, Source: cfg.Membership, Now: cfg.Now, SuspectFor: cfg.SuspectFor,
		Suspected: func(member string, why error) {
			n.log.Warn("peer failed; reads ask it last for a while", "peer", member, "for", cfg.SuspectFor, "err", why)
		},
		Changed: func(members int) {
			n.log.Info("ring changed", "members", members)
			if n.metrics != nil {
				n.metrics.ringChanges.Inc()
			}
		},
	})
	codec, err := chunk.NewCodec(cfg.DataShards, cfg.ParityShards)
	if err != nil {
		return err
	}
	pc := peerhttp.ClientConfig{
		Self: self, Auth: n.auth, DialTimeout: cfg.PeerDialTimeout, Timeout: cfg.PeerTimeout,
		FillTimeout: cfg.FillTimeout, PingTimeout: pingTimeout(cfg.HedgeDelay),
		MaxResponse: peerhttp.MaxResponse(cfg.ChunkSize, codec), TLS: n.tls.peerClient,
	}
	if n.metrics != nil {
		pc.Observe, pc.Failed = n.metrics.peerRequest, n.metrics.peerError
	}
	n.peers = peerhttp.NewClient(pc)
	var owned, chunks engine.Disk
	var objects engine.ObjectCodec
	if n.disks.on() {
		owned, chunks, objects = n.disks.owned, n.disks.chunks, peerhttp.ObjectCodec{}
		if cfg.wrapDisk != nil {
			owned, chunks = cfg.wrapDisk(owned), cfg.wrapDisk(chunks)
		}
	}
	n.eng, err = engine.New(engine.Config{
		ChunkSize: cfg.ChunkSize, DataShards: cfg.DataShards, ParityShards: cfg.ParityShards,
		CacheSize: cfg.CacheSize, HotShare: cfg.HotShare, MetaEntries: cfg.MetaEntries,
		FillTimeout: cfg.FillTimeout, PeerTimeout: cfg.PeerTimeout,
		HedgeDelay: cfg.HedgeDelay, PurgeMemory: cfg.WriteTimeout + cfg.FillTimeout,
		Policy: httpcache.Policy{DefaultTTL: cfg.DefaultTTL, NegativeTTL: cfg.NegativeTTL,
			MaxHeuristic: maxHeuristic, ShareSetCookie: cfg.ShareSetCookie},
		Via: n.viaName, Now: cfg.Now, Logger: n.log, Disk: owned, ChunkDisk: chunks, Objects: objects,
	}, n.origin, n.peers, n.cluster)
	return err
}

// maxHeuristic caps the freshness guessed from Last-Modified when the
// origin gives none, as RFC 9111 §4.2.2 suggests (10% of the age, bounded).
const maxHeuristic = 24 * time.Hour

// allowedMethods lists, for the Allow field of a 405, the common methods
// the edge answers or relays.
func allowedMethods(refused []string) string {
	var out []string
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if !slices.Contains(refused, m) {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// refused reports whether the operator refuses method m.
func (n *Node) refused(m []byte) bool {
	for _, r := range n.cfg.RefuseMethods {
		if string(m) == r {
			return true
		}
	}
	return false
}

// pingTimeout is how long a slow leader gets to answer a ping before it
// counts as dead: more than a hedge delay, because a leader that is merely
// busy (a saturated CPU answers in tens of milliseconds) must not be
// abandoned: that would fetch the chunk from the origin twice.
func pingTimeout(hedge time.Duration) time.Duration { return max(hedge, time.Second) }

// peerServer is the peer listener's server: other edges only.
func (n *Node) peerServer() *fasthttp.Server {
	cfg := n.cfg
	ps := &peerhttp.Server{Engine: n.eng, Context: n.baseCtx, Auth: n.auth, Log: n.log, Refused: func() { n.stats.peerRefused.Add(1) }}
	return &fasthttp.Server{
		Handler:                      ps.Serve,
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
}

// clientServer is the client listener's server: players.
func (n *Node) clientServer() *fasthttp.Server {
	cfg := n.cfg
	return &fasthttp.Server{
		Handler:         n.serveClient,
		ErrorHandler:    n.clientRequestError,
		Name:            "edgecache",
		ReadTimeout:     cfg.ReadTimeout,
		WriteTimeout:    cfg.WriteTimeout,
		IdleTimeout:     cfg.IdleTimeout,
		Concurrency:     cfg.MaxConns,
		ReadBufferSize:  cfg.MaxHeaderBytes,
		WriteBufferSize: cfg.WriteBufferSize,
		// Relayed requests (POST, PUT...) stream their bodies to the
		// origin: fasthttp buffers up to this much and streams beyond it;
		// Config.MaxBodySize is enforced as the body is read. Streaming
		// keeps a connection's 8 KiB read buffer between its requests.
		StreamRequestBody:            true,
		MaxRequestBodySize:           64 << 10,
		DisablePreParseMultipartForm: true,
		NoDefaultContentType:         true,
		// Stored responses keep their Date (see render.go).
		NoDefaultDate:                 true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{n.log},
		// Idle keep-alive players hold no buffers: without this fasthttp
		// keeps each connection's read and write buffers between requests,
		// 72 KiB per idle player with our 64 KiB write buffer (measured:
		// 1,000 idle connections held 95 MiB of heap after a GC).
		ReduceMemoryUsage: true,
	}
}

// Addr is the client listener's address.
func (n *Node) Addr() string { return n.clientLn.Addr().String() }

// PeerAddr is the peer listener's address.
func (n *Node) PeerAddr() string { return n.peerLn.Addr().String() }

// Advertise is the address this node is known by on the ring.
func (n *Node) Advertise() string { return n.cluster.Self() }

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
		if err := n.cluster.Run(memberCtx); err != nil {
			n.log.Error("membership source failed; keeping the last ring", "err", err)
		}
	}()
	n.ready.Store(true)
	n.log.Info("edge serving", "client", n.Addr(), "peer", n.PeerAddr(), "advertise", n.cluster.Self(),
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
		n.eng.Close()
		n.peers.CloseIdleConnections()  // do not hold peers' sockets either
		n.origin.CloseIdleConnections() // nor the origin's
		if n.access != nil {
			n.access.close(n.cfg.ShutdownGrace) // after Run's drain, every response has its line
		}
		// What is queued for the disk is written within the grace: a
		// restart then finds it.
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownGrace)
		defer cancel()
		if err := n.disks.close(ctx); err != nil {
			n.log.Warn("closing the disk tier", "err", err)
		}
	})
	return nil
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
