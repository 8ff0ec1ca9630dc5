package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/edgecache/edgecache/media"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

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

// The demo's default cache and chunk sizes. Chunks are small so that the
// 1.1 MB movie spans several of them, whose shards spread over the whole
// ring; the cache holds the media library many times over.
const (
	demoCacheSize = 64 << 20
	demoChunkSize = 256 << 10
)

// runDemo is the `edgecache demo` command: it serves until ctx ends, then
// stops the edges and the origin.
func runDemo(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoSynopsis, stdout)
	listen := fs.String("listen", "127.0.0.1:8080", "client address of the first edge, the one to open (port 0 picks a free port); the other listeners pick free loopback ports")
	edges := fs.Int("edges", 3, "edges in the ring, at most "+strconv.Itoa(maxDemoEdges))
	cacheSize, chunkSize := sizeValue(demoCacheSize), sizeValue(demoChunkSize)
	fs.Var(&cacheSize, "cache-size", "memory for cached chunks, per edge")
	fs.Var(&chunkSize, "chunk-size", "chunk size: the unit of caching and origin fetches")
	var logs logFlags
	logs.registerLevel(fs, "warn")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if err := checkListenAddr(*listen); err != nil {
		return usagef("edgecache demo: invalid value %q for --listen: %v", *listen, err)
	}
	if *edges < 1 || *edges > maxDemoEdges {
		return usagef("edgecache demo: --edges must be between 1 and %d, got %d", maxDemoEdges, *edges)
	}
	if cacheSize <= 0 || chunkSize <= 0 {
		return usagef("edgecache demo: --cache-size and --chunk-size must be positive")
	}
	log, err := logs.logger(stderr)
	if err != nil {
		return err
	}
	cluster, err := startDemoCluster(ctx, localClusterConfig{
		Edges:         *edges,
		CacheSize:     int64(cacheSize),
		ChunkSize:     int64(chunkSize),
		Listen:        *listen,
		ShutdownGrace: demoShutdownGrace,
		Logger:        log,
	})
	if errors.Is(err, syscall.EADDRINUSE) {
		// The one listener with a fixed address is --listen's: say so in
		// words a person can act on, not as a chain of bind errors.
		return fmt.Errorf("--listen %s: %w (is another demo or edge running? pick another address with --listen)", *listen, syscall.EADDRINUSE)
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

// startDemoCluster starts the demo's deployment, the media library behind
// a ring of edges, as cfg describes it but for the origin.
func startDemoCluster(ctx context.Context, cfg localClusterConfig) (*localCluster, error) {
	cfg.Origin = origin.ServerConfig{FS: media.Library()}
	return startLocalCluster(ctx, cfg)
}

// checkListenAddr refuses an address net.Listen could never bind, so that
// a typo is a usage error rather than a failure after startup.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// printDemo tells the person running the demo what to open.
func printDemo(w io.Writer, c *localCluster) {
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
	fmt.Fprintf(w, "Origin (requests it served: %s):\n  %s/\n\n", origin.StatsPath, c.OriginURL())
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
