package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/localcluster"
	"github.com/edgecache/edgecache/media"
	"github.com/edgecache/edgecache/origin"
)

const demoSynopsis = `Watch the cache at work: a reference origin serving a built-in media
library (a 24 s MP4 and its HLS rendition) and a ring of edges on this
machine. Open the printed player page in a browser, or the printed URLs in
ffplay or VLC: the first edge serves them, rebuilding chunks from the other
edges' shards and asking the origin only for what the ring does not hold.
Runs until Ctrl-C. --log-level debug shows every request the origin gets.`

// demoShutdownGrace bounds how long the demo's edges let responses in
// flight finish after Ctrl-C: a paused browser tab holding a response open
// must not make the demo hang for the edges' default 20 s.
const demoShutdownGrace = 2 * time.Second

// maxDemoEdges caps --edges: the demo runs every edge in this process.
const maxDemoEdges = 16

// demoFlags are the flags of `edgecache demo`.
type demoFlags struct {
	listen               string
	edges                int
	cacheSize, chunkSize int64
	logs                 logFlags
}

// defaultDemo is the demo unless its flags say otherwise. Chunks are small
// so that the 1.1 MB movie spans several of them, whose shards spread over
// the whole ring; the cache holds the media library many times over.
func defaultDemo() demoFlags {
	return demoFlags{listen: "127.0.0.1:8080", edges: 3, cacheSize: 64 << 20, chunkSize: 256 << 10}
}

// cluster is the deployment d describes: the media library behind a ring
// of d.edges edges, the first listening on d.listen.
func (d demoFlags) cluster() localcluster.Config {
	return localcluster.Config{
		Edges:  d.edges,
		Origin: origin.ServerConfig{FS: media.Library(), Index: true},
		Edge: func(i int, cfg *edge.Config) {
			cfg.CacheSize, cfg.ChunkSize = d.cacheSize, d.chunkSize
			cfg.ShutdownGrace = demoShutdownGrace
			if i == 0 {
				cfg.Listen = d.listen
			}
		},
	}
}

// DemoConfig is the deployment `edgecache demo` runs by default, its
// first edge listening on listen.
func DemoConfig(listen string) localcluster.Config {
	d := defaultDemo()
	d.listen = listen
	return d.cluster()
}

// runDemo is the `edgecache demo` command: it serves until ctx ends, then
// stops the edges and the origin.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("demo", demoSynopsis, stdout)
	d := defaultDemo()
	f.Addr(&d.listen, "listen", "client address of the first edge, the one to open (port 0 picks a free port); the other listeners pick free loopback ports")
	f.Int(&d.edges, "edges", "edges in the ring, at most "+strconv.Itoa(maxDemoEdges))
	f.Size(&d.cacheSize, "cache-size", "memory for cached chunks, per edge")
	f.Size(&d.chunkSize, "chunk-size", "chunk size: the unit of caching and origin fetches")
	d.logs.register(f, "warn")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	f.require("listen", d.listen, "127.0.0.1:8080")
	if d.edges < 1 || d.edges > maxDemoEdges {
		f.p.addf("--edges must be between 1 and %d, got %d", maxDemoEdges, d.edges)
	}
	if d.cacheSize <= 0 || d.chunkSize <= 0 {
		f.p.addf("--cache-size and --chunk-size must be positive")
	}
	log, err := d.logs.logger(stderr)
	f.p.add(err)
	if err := f.problems(); err != nil {
		return err
	}
	cfg := d.cluster()
	cfg.Logger = log
	return serveDemo(ctx, cfg, d.listen, stdout)
}

// serveDemo runs the demo's cluster until ctx ends.
func serveDemo(ctx context.Context, cfg localcluster.Config, listen string, stdout io.Writer) error {
	cluster, err := localcluster.Start(ctx, cfg)
	if errors.Is(err, syscall.EADDRINUSE) {
		// The one listener with a fixed address is --listen's: say so in
		// words a person can act on, not as a chain of bind errors.
		return fmt.Errorf("--listen %s: %w (is another demo or edge running? pick another address with --listen)", listen, syscall.EADDRINUSE)
	}
	if err != nil {
		return err
	}
	printDemo(stdout, cluster)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	if err := cluster.Close(); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	return nil
}

// printDemo tells the person running the demo what to open.
func printDemo(w io.Writer, c *localcluster.Cluster) {
	edges, admins := c.Targets(), c.AdminURLs()
	first := browsable(edges[0])
	fmt.Fprintf(w, "edgecache demo: a reference origin and %d edges on this machine, forming one ring.\n\n", len(edges))
	fmt.Fprintf(w, "Watch through edge 1:\n")
	fmt.Fprintf(w, "  browser  %s%s\n", first, media.PlayerPath)
	fmt.Fprintf(w, "  ffplay   ffplay %s%s\n", first, media.MoviePath)
	fmt.Fprintf(w, "  VLC      vlc %s%s\n\n", first, media.HLSPath)
	fmt.Fprintf(w, "Edges (client URL; admin URL: status page, /metrics):\n")
	for i := range edges {
		fmt.Fprintf(w, "  edge %d  %s  admin %s\n", i+1, browsable(edges[i]), admins[i])
	}
	fmt.Fprintf(w, "Origin (its media and the requests it served):\n  %s/\n\n", c.OriginURL())
	fmt.Fprintf(w, "Press Ctrl-C to stop.\n")
}

// browsable turns a listener's URL into one a browser on this machine can
// open: a wildcard host (--listen :8080 binds [::]) becomes 127.0.0.1.
func browsable(u string) string {
	const scheme = "http://"
	host, port, err := net.SplitHostPort(u[len(scheme):])
	if err != nil {
		return u
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + net.JoinHostPort(host, port)
}
