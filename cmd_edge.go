package main

import (
	"context"
	"io"
	"time"

	"github.com/edgecache/edgecache/edge"
)

const edgeSynopsis = `Run an edge node: players stream through it with HTTP range requests; it
serves each chunk from memory or fetches it from the origin once.`

// runEdge is the `edgecache edge` command.
func runEdge(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("edge", edgeSynopsis, stdout)
	var cfg edge.Config
	cacheSize, chunkSize := sizeValue(512<<20), sizeValue(1<<20)
	var logs logFlags
	fs.StringVar(&cfg.Listen, "listen", ":8080", "client listener address (players; GET and HEAD only)")
	fs.StringVar(&cfg.AdminListen, "admin-listen", ":8082", "admin listener address (/healthz, /readyz)")
	fs.StringVar(&cfg.Origin, "origin", "http://127.0.0.1:9000", "origin base URL")
	fs.Var(&cacheSize, "cache-size", "memory for cached chunks (e.g. 512MiB, 4GiB)")
	fs.Var(&chunkSize, "chunk-size", "chunk size: the unit of caching and origin fetches")
	fs.IntVar(&cfg.Readahead, "readahead", 4, "chunks a response fetches ahead of the one it is sending")
	fs.IntVar(&cfg.MaxRanges, "max-ranges", 64, "most ranges one request may ask for (more get 416)")
	fs.DurationVar(&cfg.DefaultTTL, "default-ttl", time.Minute, "freshness of responses whose origin gives no Cache-Control, Expires or Last-Modified")
	fs.DurationVar(&cfg.NegativeTTL, "negative-ttl", 10*time.Second, "how long an origin 404 is remembered")
	fs.DurationVar(&cfg.OriginTimeout, "origin-timeout", 10*time.Second, "timeout of one origin request attempt")
	fs.IntVar(&cfg.OriginRetries, "origin-retries", 2, "retries of a failed idempotent origin read")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 20*time.Second, "how long responses in flight may finish after SIGTERM")
	logs.register(fs)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if cacheSize <= 0 {
		return usagef("edgecache edge: --cache-size must be positive")
	}
	if chunkSize <= 0 {
		return usagef("edgecache edge: --chunk-size must be positive")
	}
	cfg.CacheSize, cfg.ChunkSize = int64(cacheSize), int64(chunkSize)
	log, err := logs.logger(stderr)
	if err != nil {
		return err
	}
	cfg.Logger = log
	n, err := edge.New(cfg)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}
