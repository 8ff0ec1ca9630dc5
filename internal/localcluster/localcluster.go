package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/origin"
)

// localCluster is a reference origin and N edge nodes in this process,
// each on its own loopback ports, forming one ring: the deployment
// `edgecache bench --local N` measures (synthetic origin) and the one
// `edgecache demo` plays media through (the embedded media library). It
// lives here, in the command, so that the bench package stays a client of
// any CDN and never imports edge.
type localCluster struct {
	origin    *origin.Server
	originURL string
	originSrv *http.Server

	nodes  []*edge.Node
	killed []bool
	cancel context.CancelFunc
	runs   sync.WaitGroup
	errs   []error // Run's error per node, read after runs.Wait
}

// localClusterConfig describes a local cluster. Zero fields but Edges and
// Origin take the edges' own defaults.
type localClusterConfig struct {
	// Edges is how many edges form the ring; at least 1.
	Edges int
	// CacheSize and ChunkSize are every edge's cache budget and chunk size.
	CacheSize, ChunkSize int64
	// ReadaheadNext is every edge's edge.Config.ReadaheadNext: 0 its
	// default, negative off.
	ReadaheadNext int
	// Origin is what the reference origin serves (synthetic objects, a
	// directory or an fs.FS); its Logger is set from Logger.
	Origin origin.ServerConfig
	// Listen is the first edge's client address, the one a person is told
	// to open. Default "127.0.0.1:0", like every other listener.
	Listen string
	// ShutdownGrace bounds how long each edge lets responses in flight
	// finish at Close. Default: the edge's (20 s).
	ShutdownGrace time.Duration
	// Logger receives the origin's and the edges' logs. Default: discard.
	Logger *slog.Logger
}

// startLocalCluster starts the origin on 127.0.0.1:0 and cfg.Edges edges in
// front of it. The edges run until Close, or until ctx ends. An error
// binding an edge's listener wraps the net.Listen error, so a caller can
// tell an address in use (syscall.EADDRINUSE) from other failures.
func startLocalCluster(ctx context.Context, cfg localClusterConfig) (*localCluster, error) {
	n := cfg.Edges
	if n < 1 {
		return nil, fmt.Errorf("local cluster: need at least one edge, got %d", n)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ocfg := cfg.Origin
	ocfg.Logger = logger.With("node", "origin")
	osrv, err := origin.NewServer(ocfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = osrv.Close()
		return nil, fmt.Errorf("local origin: %w", err)
	}
	c := &localCluster{
		origin:    osrv,
		originURL: "http://" + ln.Addr().String(),
		originSrv: &http.Server{Handler: osrv, ReadHeaderTimeout: 5 * time.Second},
		errs:      make([]error, n),
		killed:    make([]bool, n),
	}
	go func() { _ = c.originSrv.Serve(ln) }() // returns ErrServerClosed at Close

	runCtx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		_ = c.Close()
		return nil, err
	}
	members := make(chan []string, n)
	for i := range n {
		listen := "127.0.0.1:0"
		if i == 0 && cfg.Listen != "" {
			listen = cfg.Listen
		}
		ec := edge.DefaultConfig()
		ec.Listen, ec.AdminListen, ec.PeerListen = listen, "127.0.0.1:0", "127.0.0.1:0"
		ec.Origin, ec.Membership, ec.ClusterSecret = c.originURL, lateStatic(members), secret
		ec.Logger = logger.With("node", fmt.Sprintf("edge%d", i+1))
		ec.CacheSize = cmp.Or(cfg.CacheSize, ec.CacheSize)
		ec.ChunkSize = cmp.Or(cfg.ChunkSize, ec.ChunkSize)
		ec.ShutdownGrace = cmp.Or(cfg.ShutdownGrace, ec.ShutdownGrace)
		if cfg.ReadaheadNext != 0 {
			ec.ReadaheadNext = max(cfg.ReadaheadNext, 0)
		}
		node, err := edge.New(ec)
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("local edge %d: %w", i+1, err)
		}
		c.nodes = append(c.nodes, node)
		c.runs.Add(1)
		go func() {
			defer c.runs.Done()
			c.errs[i] = node.Run(runCtx)
		}()
	}
	// Every edge bound its peer port in New: now the member list is known.
	var addrs []string
	for _, node := range c.nodes {
		addrs = append(addrs, node.Advertise())
	}
	for range n {
		members <- addrs
	}
	return c, nil
}

// lateStatic is a static member list that becomes known after the edges
// bound their ports: each edge's Run takes it once from the channel.
type lateStatic chan []string

func (l lateStatic) Run(ctx context.Context, updates chan<- []string) error {
	select {
	case m := <-l:
		select {
		case updates <- m:
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	<-ctx.Done()
	return nil
}

// Targets are the edges' client URLs, in node order.
func (c *localCluster) Targets() []string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = "http://" + n.Addr()
	}
	return urls
}

// AdminURLs are the edges' admin base URLs (status page, /metrics), in
// node order.
func (c *localCluster) AdminURLs() []string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = "http://" + n.AdminAddr() + "/"
	}
	return urls
}

// OriginURL is the origin's base URL; its counters are at origin.StatsPath.
func (c *localCluster) OriginURL() string { return c.originURL }

// Kill stops edge i (0-based) abruptly, as a crash or a lost machine would:
// its listeners and connections close and its fetches are abandoned.
func (c *localCluster) Kill(i int) error {
	if i < 0 || i >= len(c.nodes) {
		return fmt.Errorf("no edge %d in a cluster of %d", i+1, len(c.nodes))
	}
	c.killed[i] = true
	return c.nodes[i].Close()
}

// Close stops the edges gracefully (a killed one is already stopped), then
// the origin, and reports what went wrong with an edge that was not killed.
// Kill and Close are called from one goroutine, the command's.
func (c *localCluster) Close() error {
	if c.cancel != nil {
		c.cancel()
	}
	c.runs.Wait()
	var errs []error
	for i, err := range c.errs {
		if err != nil && !c.killed[i] {
			errs = append(errs, fmt.Errorf("edge %d: %w", i+1, err))
		}
	}
	errs = append(errs, c.originSrv.Close(), c.origin.Close())
	return errors.Join(errs...)
}
