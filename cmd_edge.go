package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/ring"
)

const edgeSynopsis = `Run an edge node: players stream through it with HTTP range requests; it
serves each chunk from memory or fetches it from the origin once.`

// runEdge is the `edgecache edge` command.
func runEdge(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("edge", edgeSynopsis, stdout)
	cfg := edge.DefaultConfig()
	def := edge.DefaultConfig()
	cacheSize, chunkSize := sizeValue(def.CacheSize), sizeValue(def.ChunkSize)
	var logs logFlags
	fs.StringVar(&cfg.Listen, "listen", def.Listen, "client listener address (players; GET and HEAD only)")
	fs.StringVar(&cfg.AdminListen, "admin-listen", def.AdminListen, "admin listener address (status page /, /status.json, POST /purge, /healthz, /readyz, /metrics)")
	fs.StringVar(&cfg.PeerListen, "peer-listen", def.PeerListen, "peer listener address (other edges only; authenticated)")
	fs.StringVar(&cfg.Advertise, "advertise", "", "peer address other edges reach this one at (default: the peer listener's)")
	peers := fs.String("peers", "", "static membership: comma-separated peer addresses host:port")
	peersDNS := fs.String("peers-dns", "", "DNS membership NAME:PORT: every A/AAAA record of NAME is a peer (a Kubernetes headless Service)")
	join := fs.String("join", "", "gossip membership: comma-separated gossip addresses of existing members")
	gossipListen := fs.String("gossip-listen", "0.0.0.0:7946", "gossip (memberlist) listener, with --join")
	secretFile := fs.String("cluster-secret-file", "", "file holding the cluster secret that authenticates peers (or set EDGECACHE_CLUSTER_SECRET)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate chain: the client listener speaks HTTPS only (with --tls-key)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.PeerTLSCertFile, "peer-tls-cert", "", "PEM certificate of this edge for mutual TLS between edges (with --peer-tls-key and --peer-tls-ca)")
	fs.StringVar(&cfg.PeerTLSKeyFile, "peer-tls-key", "", "PEM private key of --peer-tls-cert")
	fs.StringVar(&cfg.PeerTLSCAFile, "peer-tls-ca", "", "PEM CA of the cluster: peers must present a certificate it signed, and this edge's must be one")
	fs.IntVar(&cfg.DataShards, "data-shards", def.DataShards, "k: data shards per chunk")
	fs.IntVar(&cfg.ParityShards, "parity-shards", def.ParityShards, "m: parity shards per chunk; any m owners of a chunk may be lost")
	fs.DurationVar(&cfg.HedgeDelay, "hedge-delay", def.HedgeDelay, "how long a shard read waits on one slow owner (the last to answer, or one sending nothing) before asking every other owner")
	fs.DurationVar(&cfg.PeerTimeout, "peer-timeout", def.PeerTimeout, "timeout of a shard read or push")
	fs.StringVar(&cfg.Origin, "origin", "http://127.0.0.1:9000", "origin base URL")
	fs.Var(&cacheSize, "cache-size", "memory for cached chunks (e.g. 512MiB, 4GiB)")
	fs.Float64Var(&cfg.HotShare, "hot-share", def.HotShare, "share of --cache-size kept for whole chunks this edge serves even when its shards would fill the rest")
	fs.Var(&chunkSize, "chunk-size", "chunk size: the unit of caching and origin fetches")
	fs.IntVar(&cfg.Readahead, "readahead", def.Readahead, "chunks a response fetches ahead of the one it is sending")
	fs.IntVar(&cfg.PrefetchSegments, "prefetch-playlists", def.PrefetchSegments, "segments an HLS or DASH playlist names that are warmed when it first passes through (0: off)")
	fs.IntVar(&cfg.ReadaheadNext, "readahead-next", def.ReadaheadNext, "chunks past a sequential range request's end fetched for the player's next request (0: off)")
	fs.IntVar(&cfg.MaxRanges, "max-ranges", def.MaxRanges, "most ranges one request may ask for (more get 416)")
	fs.DurationVar(&cfg.DefaultTTL, "default-ttl", def.DefaultTTL, "freshness of responses whose origin gives no Cache-Control, Expires or Last-Modified")
	fs.DurationVar(&cfg.NegativeTTL, "negative-ttl", def.NegativeTTL, "how long an origin 404 is remembered")
	fs.DurationVar(&cfg.OriginTimeout, "origin-timeout", def.OriginTimeout, "timeout of one origin request attempt")
	fs.IntVar(&cfg.OriginRetries, "origin-retries", def.OriginRetries, "retries of a failed idempotent origin read")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", def.ShutdownGrace, "how long responses in flight may finish after SIGTERM")
	accessLog := fs.String("access-log", "", `access log: one JSON line per client request, appended to this file ("-": standard output; default: none)`)
	printConfig := fs.Bool("print-config", false, "print the effective configuration (command line, then environment, then defaults; secrets redacted) and exit")
	logs.register(fs)
	// Every problem is reported at once, one line each: an operator fixing
	// a manifest should not discover them one start at a time.
	p := problems{cmd: "edgecache edge"}
	given, err := parseCommandLine(fs, args, env, 0)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	p.add(err)
	if cacheSize <= 0 {
		p.addf("--cache-size must be positive")
	}
	if chunkSize <= 0 {
		p.addf("--chunk-size must be positive")
	}
	cfg.CacheSize, cfg.ChunkSize = int64(cacheSize), int64(chunkSize)
	log, err := logs.logger(stderr)
	p.add(err)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = log
	p.add(configureMembership(&cfg, *peers, *peersDNS, *join, *gossipListen, *secretFile, env, log))
	if cacheSize > 0 && chunkSize > 0 {
		p.add(cfg.Validate())
	}
	if err := p.err(); err != nil {
		return err
	}
	if *printConfig {
		return writeEffectiveConfig(stdout, fs, given, env, cfg, *secretFile)
	}
	if env("GOMEMLIMIT") == "" {
		// The cache is most of the heap: let the collector work harder as
		// the process nears the budget rather than grow past it.
		debug.SetMemoryLimit(memoryLimit(cfg.CacheSize))
	}
	switch *accessLog {
	case "":
	case "-":
		cfg.AccessLog = stdout
	default:
		// Appended to, so that a restart or logrotate's copytruncate
		// loses nothing; the edge writes it in blocks, never per request.
		f, err := os.OpenFile(*accessLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return usagef("edgecache edge: --access-log: %v", err)
		}
		defer f.Close()
		cfg.AccessLog = f
	}
	n, err := edge.New(cfg)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

// configureMembership sets the edge's membership source and cluster secret
// from the flags: at most one of --peers, --peers-dns and --join.
func configureMembership(cfg *edge.Config, peers, peersDNS, join, gossipListen, secretFile string, env func(string) string, log *slog.Logger) error {
	set := 0
	for _, v := range []string{peers, peersDNS, join} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return usagef("edgecache edge: give only one of --peers, --peers-dns and --join")
	}
	secret, err := clusterSecret(secretFile, env)
	if err != nil {
		return usagef("edgecache edge: %v", err)
	}
	if set == 0 {
		// A lone edge keeps a secret it is given: it authenticates purges.
		cfg.ClusterSecret = secret
		return nil
	}
	if len(secret) == 0 {
		return usagef("edgecache edge: a cluster secret of at least %d bytes is required with peers (--cluster-secret-file or EDGECACHE_CLUSTER_SECRET)", minSecretLen)
	}
	cfg.ClusterSecret = secret
	switch {
	case peers != "":
		cfg.Membership = ring.Static(splitList(peers))
	case peersDNS != "":
		cfg.Membership, err = ring.DNS(ring.DNSConfig{Name: peersDNS, Logger: log})
		if err != nil {
			return usagef("edgecache edge: --peers-dns: %v", err)
		}
	default:
		if cfg.Advertise == "" {
			return usagef("edgecache edge: --join needs --advertise (the peer address the others should use)")
		}
		key := sha256.Sum256(append([]byte("edgecache gossip key\x00"), secret...))
		cfg.Membership, err = ring.Gossip(ring.GossipConfig{
			BindAddr:  gossipListen,
			Advertise: cfg.Advertise,
			Join:      splitList(join),
			SecretKey: key[:],
			Logger:    log,
		})
		if err != nil {
			return usagef("edgecache edge: --join: %v", err)
		}
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// memoryOverhead is what an edge uses beyond its cache budget at most in
// the common case: object metadata, chunks in flight, connection buffers
// and the Go runtime (docs/design.md, "Memory").
const memoryOverhead = 256 << 20

// memoryLimit is the Go memory limit an edge sets for itself from its
// cache size when GOMEMLIMIT is not set: the budget, a quarter more for
// garbage not yet collected, and the fixed overhead.
func memoryLimit(cacheSize int64) int64 {
	return cacheSize + cacheSize/4 + memoryOverhead
}
