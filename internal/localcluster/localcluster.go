// Package localcluster runs a reference origin and a ring of edges in one
// process, each on its own loopback ports: the deployment `edgecache bench
// --local N` measures (synthetic origin), the one `edgecache demo` plays
// media through (the embedded library), and the one the system tests
// drive. It lives outside the bench package so that bench stays a client
// of any CDN and never imports edge.
//
// What it must never do: listen beyond loopback unless its caller sets an
// edge's address, or leave a goroutine running after Close.
package localcluster

import (
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

// Config describes a local cluster.
type Config struct {
	// Edges is how many edges form the ring; at least 1.
	Edges int
	// Origin is what the reference origin serves (synthetic objects, a
	// directory or an fs.FS); its Logger is set from Logger.
	Origin origin.ServerConfig
	// Edge, if set, tunes edge i's configuration (0-based) before New
	// takes it. It starts as edge.DefaultConfig with loopback listeners on
	// free ports, the origin, the ring's membership and secret, the name
	// "edge <i+1>" and a logger from Logger carrying that name.
	Edge func(i int, cfg *edge.Config)
	// Logger receives the origin's and the edges' logs. Nil: discard.
	Logger *slog.Logger
}

// Cluster is a running local cluster.
type Cluster struct {
	origin    *origin.Server
	originURL string
	originSrv *http.Server

	nodes  []*edge.Node
	killed []bool
	cancel context.CancelFunc
	runs   sync.WaitGroup
	errs   []error // Run's error per node, read after runs.Wait
}

// Start starts the origin on 127.0.0.1:0 and cfg.Edges edges in front of
// it. The edges run until Close, or until ctx ends. An error binding an
// edge's listener wraps the net.Listen error, so a caller can tell an
// address in use (syscall.EADDRINUSE) from other failures.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Edges < 1 {
		return nil, fmt.Errorf("local cluster: need at least one edge, got %d", cfg.Edges)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := startOrigin(cfg)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	if err := c.startEdges(runCtx, cfg); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// startOrigin starts the cluster's origin.
func startOrigin(cfg Config) (*Cluster, error) {
	ocfg := cfg.Origin
	ocfg.Logger = cfg.Logger.With("node", "origin")
	osrv, err := origin.NewServer(ocfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("local origin: %w", err), osrv.Close())
	}
	c := &Cluster{
		origin:    osrv,
		originURL: "http://" + ln.Addr().String(),
		originSrv: &http.Server{Handler: osrv, ReadHeaderTimeout: 5 * time.Second},
		errs:      make([]error, cfg.Edges),
		killed:    make([]bool, cfg.Edges),
	}
	go func() { _ = c.originSrv.Serve(ln) }() // returns ErrServerClosed at Close
	return c, nil
}

// startEdges builds every edge, then tells them the ring: each learns the
// others' peer addresses only once all of them bound their ports.
func (c *Cluster) startEdges(ctx context.Context, cfg Config) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	members := make(chan []string, cfg.Edges)
	for i := range cfg.Edges {
		ec := edge.DefaultConfig()
		ec.Listen, ec.AdminListen, ec.PeerListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		ec.Origin, ec.Membership, ec.ClusterSecret = c.originURL, lateStatic(members), secret
		ec.NodeName = fmt.Sprintf("edge %d", i+1)
		ec.Logger = cfg.Logger.With("node", ec.NodeName)
		if cfg.Edge != nil {
			cfg.Edge(i, &ec)
		}
		node, err := edge.New(ec)
		if err != nil {
			return fmt.Errorf("local edge %d: %w", i+1, err)
		}
		c.nodes = append(c.nodes, node)
		c.runs.Go(func() { c.errs[i] = node.Run(ctx) })
	}
	addrs := make([]string, len(c.nodes))
	for i, node := range c.nodes {
		addrs[i] = node.Advertise()
	}
	for range cfg.Edges {
		members <- addrs
	}
	return nil
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

// Nodes are the edges, in order: Nodes()[0] is "edge 1".
func (c *Cluster) Nodes() []*edge.Node { return c.nodes }

// Targets are the edges' client URLs, in node order.
func (c *Cluster) Targets() []string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = "http://" + n.Addr()
	}
	return urls
}

// AdminURLs are the edges' admin base URLs (status page, /metrics), in
// node order.
func (c *Cluster) AdminURLs() []string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = "http://" + n.AdminAddr() + "/"
	}
	return urls
}

// OriginURL is the origin's base URL; its counters are at origin.StatsPath.
func (c *Cluster) OriginURL() string { return c.originURL }

// OriginStats are the origin's counters.
func (c *Cluster) OriginStats() origin.ServerStats { return c.origin.Stats() }

// Kill stops edge i (0-based) abruptly, as a crash or a lost machine would:
// its listeners and connections close and its fetches are abandoned.
func (c *Cluster) Kill(i int) error {
	if i < 0 || i >= len(c.nodes) {
		return fmt.Errorf("no edge %d in a cluster of %d", i+1, len(c.nodes))
	}
	c.killed[i] = true
	return c.nodes[i].Close()
}

// Close stops the edges gracefully (a killed one is already stopped), then
// the origin, and reports what went wrong with an edge that was not killed.
// Kill and Close are called from one goroutine, the caller's.
func (c *Cluster) Close() error {
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
