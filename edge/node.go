package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/edgecache/edgecache/origin"
	"github.com/edgecache/edgecache/ring"
)

// Config configures an edge node. The zero value of every field but Origin
// means its default.
type Config struct {
	// Listen is the client listener, for players: GET and HEAD only.
	// Default ":8080".
	Listen string
	// AdminListen serves the status page (/ and /status.json), purges
	// (POST /purge), /healthz, /readyz, /metrics, /stats and /debug/pprof:
	// operators only. Default ":8082".
	AdminListen string
	// PeerListen is the listener for other edges (shards, fills, metadata),
	// separate so that a player can never reach it. Default ":8081".
	PeerListen string
	// Advertise is the peer address other edges reach this node at: its
	// identity on the ring. Default: the peer listener's address.
	Advertise string
	// Membership reports the cluster's peer addresses as they change
	// (static list, DNS, gossip). Nil: a ring of this node alone.
	Membership ring.Source
	// ClusterSecret authenticates peer requests; required with Membership.
	ClusterSecret []byte
	// TLSCertFile and TLSKeyFile, both set, make the client listener speak
	// HTTPS only (TLS 1.2 or later, HTTP/1.1): a PEM certificate chain and
	// its private key, read when the node starts. One without the other is
	// an error. Default: plain HTTP.
	TLSCertFile, TLSKeyFile string
	// PeerTLSCertFile, PeerTLSKeyFile and PeerTLSCAFile, all three set,
	// make edges talk to each other over mutual TLS 1.3: the peer listener
	// speaks HTTPS only and requires a client certificate the CA signed,
	// and the peer client presents this node's certificate and accepts only
	// peers whose certificate the CA signed. Names and addresses in the
	// certificates are not checked (peers are addressed by IP), so the CA
	// must be the cluster's own; certificates need the serverAuth and
	// clientAuth usages. Requests are still signed with ClusterSecret.
	// Setting some but not all three is an error. Default: plain HTTP.
	PeerTLSCertFile, PeerTLSKeyFile, PeerTLSCAFile string
	// DataShards and ParityShards are k and m of the erasure code: a chunk
	// survives the loss of any m of its k+m owners. Defaults 4 and 2.
	DataShards, ParityShards int
	// HedgeDelay is how long a shard read waits on one slow owner (the
	// last of the first asked to answer, or one that sends nothing) before
	// asking all the others. Default 25 ms.
	HedgeDelay time.Duration
	// PeerTimeout bounds a shard read or push. Default 2 s.
	PeerTimeout time.Duration
	// PeerDialTimeout bounds connecting to a peer: a dead peer must cost
	// milliseconds. Default 200 ms.
	PeerDialTimeout time.Duration
	// SuspectFor is how long a peer that failed a request is skipped.
	// Default 5 s.
	SuspectFor time.Duration
	// Origin is the base URL of the origin, http or https. Required.
	Origin string
	// CacheSize bounds the bytes of chunks kept in memory. Default 512 MiB.
	CacheSize int64
	// HotShare is the share of CacheSize that decoded chunks this node
	// served (its hot set) keep even when the shards it owns would fill
	// the rest. Beyond it, decoded chunks use only what the shards leave:
	// they are copies the ring can rebuild, while a shard evicted is a
	// loss of redundancy and a repair. Default 0.125, as groupcache sizes
	// its hot cache; 1 lets decoded chunks take the whole budget.
	HotShare float64
	// ChunkSize is the unit of caching and of origin fetches. Default 1 MiB.
	ChunkSize int64
	// Readahead is how many chunks past the one being sent a response
	// fetches in the background. Default 4.
	Readahead int
	// ReadaheadNext is how many chunks past the end of a sequential range
	// request are fetched in the background for the player's next one, so
	// that it is a hit. A request is sequential when it starts the object
	// or the chunk before its first is in memory (someone just read it);
	// a seek elsewhere fetches nothing extra. Default 4; negative: off.
	ReadaheadNext int
	// PrefetchSegments is how many segments (and init segments, or variant
	// playlists) an HLS or DASH playlist names are warmed when it passes
	// through this edge for the first time, so that a player starting the
	// stream finds them cached. Only references on this edge's origin are
	// followed. Default 3; negative: off.
	PrefetchSegments int
	// MaxRanges caps the ranges of one request; more is refused with 416.
	// Default 64.
	MaxRanges int
	// MetaEntries caps the objects whose metadata is kept. Default 65536.
	MetaEntries int
	// DefaultTTL is the freshness of a response whose origin says nothing
	// about it and gives no Last-Modified. Default 1 minute.
	DefaultTTL time.Duration
	// NegativeTTL is how long an origin 404 is remembered. Default 10 s.
	NegativeTTL time.Duration
	// FillTimeout bounds one chunk fill, retries included. Default 30 s.
	FillTimeout time.Duration
	// OriginTimeout bounds one origin request attempt. Default 10 s.
	OriginTimeout time.Duration
	// OriginRetries is how many times an idempotent origin read is
	// retried. Default 2.
	OriginRetries int
	// ReadTimeout bounds reading a request's headers, so that a slowloris
	// client cannot hold a connection. Default 10 s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Default 5 minutes: a
	// paced player reads a large range slowly.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default
	// 2 minutes.
	IdleTimeout time.Duration
	// MaxConns caps concurrent client connections. Default 16384.
	MaxConns int
	// MaxHeaderBytes caps a request's headers; larger ones get 431.
	// Default 8 KiB.
	MaxHeaderBytes int
	// WriteBufferSize is the response write buffer of a connection while
	// it writes (pooled, not held by idle connections). The headers and
	// the first bytes of the body leave in one write of this size: with
	// fasthttp's 4 KiB default, a 1 MiB response went out as a 4 KiB write
	// and a large one, and the client received 25-40% less per CPU second
	// (measured with the anchors' wrk runs). Default 64 KiB.
	WriteBufferSize int
	// ShutdownGrace bounds how long Run waits for responses in flight
	// after its context ends. Default 20 s.
	ShutdownGrace time.Duration
	// StatusInterval is how often the status page's traffic history
	// samples the node's counters; it keeps 60 samples (five minutes at
	// the default). Default 5 s.
	StatusInterval time.Duration
	// Logger receives the node's logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the node's metrics (README, "Metrics"). Default:
	// a registry of the node's own (never the global one), with the Go
	// runtime and process collectors. Several nodes in one process can
	// share one registry through prometheus.WrapRegistererWith and a label
	// per node.
	Registerer prometheus.Registerer
	// Gatherer is what the admin listener's /metrics serves. Default:
	// Registerer, which must then be a Gatherer too (a
	// *prometheus.Registry is both).
	Gatherer prometheus.Gatherer
	// DisableMetrics keeps no metrics at all: nothing is registered,
	// /metrics answers 404 and requests skip every observation. For
	// measuring what the metrics cost, and for hosts that measure the node
	// by other means. Default false.
	DisableMetrics bool
	// AccessLog, if set, receives one JSON line per client request
	// (README, "Access log"). Requests only append their line to a buffer;
	// the node writes the buffer from its own goroutine every
	// AccessLogFlush, sooner when 64 KiB are waiting, and when it stops,
	// so a slow writer never holds a response. Lines that find 4 MiB
	// already waiting are dropped and counted
	// (edgecache_access_log_dropped_total). The node never closes it.
	// Default: no access log.
	AccessLog io.Writer
	// AccessLogFlush is how often buffered access log lines are written.
	// Default 1 s.
	AccessLogFlush time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) applyDefaults() {
	setDefault(&c.Listen, ":8080")
	setDefault(&c.AdminListen, ":8082")
	setDefault(&c.PeerListen, ":8081")
	setDefault(&c.DataShards, 4)
	setDefault(&c.ParityShards, 2)
	setDefault(&c.HedgeDelay, 25*time.Millisecond)
	setDefault(&c.PeerTimeout, 2*time.Second)
	setDefault(&c.PeerDialTimeout, 200*time.Millisecond)
	setDefault(&c.SuspectFor, 5*time.Second)
	setDefault(&c.CacheSize, 512<<20)
	setDefault(&c.ChunkSize, 1<<20)
	setDefault(&c.HotShare, 0.125)
	setDefault(&c.Readahead, 4)
	setDefault(&c.ReadaheadNext, 4)
	setDefault(&c.PrefetchSegments, 3)
	setDefault(&c.MaxRanges, 64)
	setDefault(&c.MetaEntries, 65536)
	setDefault(&c.DefaultTTL, time.Minute)
	setDefault(&c.NegativeTTL, 10*time.Second)
	setDefault(&c.FillTimeout, 30*time.Second)
	setDefault(&c.OriginTimeout, 10*time.Second)
	setDefault(&c.OriginRetries, 2)
	setDefault(&c.ReadTimeout, 10*time.Second)
	setDefault(&c.WriteTimeout, 5*time.Minute)
	setDefault(&c.IdleTimeout, 2*time.Minute)
	setDefault(&c.MaxConns, 16384)
	setDefault(&c.MaxHeaderBytes, 8<<10)
	setDefault(&c.WriteBufferSize, 64<<10)
	setDefault(&c.ShutdownGrace, 20*time.Second)
	setDefault(&c.AccessLogFlush, time.Second)
	setDefault(&c.StatusInterval, 5*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports every problem of a configuration, after defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.Origin == "" {
		errs = append(errs, errors.New("an origin URL is required"))
	}
	if c.ChunkSize < 4<<10 || c.ChunkSize > 64<<20 {
		errs = append(errs, fmt.Errorf("chunk size %d is outside 4 KiB..64 MiB", c.ChunkSize))
	}
	if c.CacheSize < c.ChunkSize+chunk.EntryOverhead {
		errs = append(errs, fmt.Errorf("cache size %d bytes is smaller than one chunk (%d bytes, plus %d of bookkeeping)", c.CacheSize, c.ChunkSize, chunk.EntryOverhead))
	}
	if !(c.HotShare > 0 && c.HotShare <= 1) {
		errs = append(errs, fmt.Errorf("hot share %v is outside (0, 1]", c.HotShare))
	}
	if c.Readahead < 0 || c.Readahead > 64 {
		errs = append(errs, fmt.Errorf("readahead %d is outside 0..64", c.Readahead))
	}
	if c.PrefetchSegments > 64 {
		errs = append(errs, fmt.Errorf("prefetch-playlists %d is over 64", c.PrefetchSegments))
	}
	if c.ReadaheadNext > 64 {
		errs = append(errs, fmt.Errorf("readahead-next %d is over 64", c.ReadaheadNext))
	}
	if c.MaxRanges < 1 {
		errs = append(errs, fmt.Errorf("max ranges %d must be at least 1", c.MaxRanges))
	}
	errs = append(errs, listenerConflicts(c.Listen, c.PeerListen, c.AdminListen)...)
	if total := c.DataShards + c.ParityShards; total > chunk.MaxShards {
		errs = append(errs, fmt.Errorf("%d data + %d parity shards = %d shards, over the codec's limit of %d (Reed-Solomon over GF(2^8))",
			c.DataShards, c.ParityShards, total, chunk.MaxShards))
	} else if _, err := chunk.NewCodec(c.DataShards, c.ParityShards); err != nil {
		errs = append(errs, fmt.Errorf("%d data + %d parity shards: %w", c.DataShards, c.ParityShards, err))
	}
	if c.Membership != nil && len(c.ClusterSecret) == 0 {
		errs = append(errs, errors.New("a cluster secret is required to talk to peers"))
	}
	switch _, gathers := c.Registerer.(prometheus.Gatherer); {
	case c.DisableMetrics && (c.Registerer != nil || c.Gatherer != nil):
		errs = append(errs, errors.New("metrics are disabled, yet a metrics Registerer or Gatherer is set"))
	case c.Gatherer != nil && c.Registerer == nil:
		errs = append(errs, errors.New("a metrics Gatherer needs the Registerer it gathers from"))
	case c.Registerer != nil && c.Gatherer == nil && !gathers:
		errs = append(errs, errors.New("the metrics Registerer is not a Gatherer: set Gatherer to serve /metrics"))
	}
	errs = append(errs, c.validateTLS()...)
	if c.AccessLogFlush < 0 {
		errs = append(errs, fmt.Errorf("access log flush period %v is negative", c.AccessLogFlush))
	}
	return errors.Join(errs...)
}

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
	auth       *peerAuth
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
	adminAuth   *peerAuth // checks operators' signed admin requests
}

// New builds a node and binds its listeners, so that ":0" ports are known
// (Addr, AdminAddr) before Run.
func New(cfg Config) (*Node, error) {
	cfg.applyDefaults()
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
	n.auth = newPeerAuth(cfg.ClusterSecret, cfg.ChunkSize, cfg.DataShards, cfg.ParityShards, time.Minute, cfg.Now)
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
