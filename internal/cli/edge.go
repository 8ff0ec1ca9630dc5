package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/edge"
)

const edgeSynopsis = `Run an edge node: players stream through it with HTTP range requests; it
serves each chunk from memory or fetches it from the origin once.`

// edgeFlags are the flags of `edgecache edge` that are not fields of
// edge.Config, or not in the form the Config takes them.
type edgeFlags struct {
	peers, peersDNS, join, gossipListen string
	secretFile                          string
	accessLog                           string
	printConfig                         bool
	logs                                logFlags
}

// register points the flags at cfg, whose values are the defaults.
func (e *edgeFlags) register(f *flagSet, cfg *edge.Config) {
	f.URL(&cfg.Origin, "origin", "origin base URL, e.g. http://origin.example:9000 (required)")
	f.Addr(&cfg.Listen, "listen", "client listener address (players and browsers; GET and HEAD are cached, other methods relayed)")
	f.Addr(&cfg.AdminListen, "admin-listen", "admin listener address (status page /, /status.json, POST /purge, /healthz, /readyz, /metrics)")
	f.Addr(&cfg.PeerListen, "peer-listen", "peer listener address (other edges only; authenticated)")
	f.Addr(&cfg.Advertise, "advertise", "peer address other edges reach this one at (default: the peer listener's)")
	f.String(&cfg.NodeName, "node-name", "name of this edge on its status page and in its logs")
	f.AddrList(&e.peers, "peers", "static membership: comma-separated peer addresses host:port")
	f.Addr(&e.peersDNS, "peers-dns", "DNS membership NAME:PORT: every A/AAAA record of NAME is a peer (a Kubernetes headless Service)")
	f.String(&e.join, "join", "gossip membership: comma-separated gossip addresses of existing members")
	e.gossipListen = "0.0.0.0:7946"
	f.Addr(&e.gossipListen, "gossip-listen", "gossip (memberlist) listener, with --join")
	f.String(&e.secretFile, "cluster-secret-file", "file holding the cluster secret that authenticates peers (or set "+SecretEnv+"); during a rotation, two lines: the first signs, either is accepted")
	f.String(&cfg.TLSCertFile, "tls-cert", "PEM certificate chain: the client listener speaks HTTPS only (with --tls-key)")
	f.String(&cfg.TLSKeyFile, "tls-key", "PEM private key of --tls-cert")
	f.String(&cfg.PeerTLSCertFile, "peer-tls-cert", "PEM certificate of this edge for mutual TLS between edges (with --peer-tls-key and --peer-tls-ca)")
	f.String(&cfg.PeerTLSKeyFile, "peer-tls-key", "PEM private key of --peer-tls-cert")
	f.String(&cfg.PeerTLSCAFile, "peer-tls-ca", "PEM CA of the cluster: peers must present a certificate it signed, and this edge's must be one")
	f.Int(&cfg.DataShards, "data-shards", "k: data shards per chunk")
	f.Int(&cfg.ParityShards, "parity-shards", "m: parity shards per chunk; any m owners of a chunk may be lost")
	f.Duration(&cfg.HedgeDelay, "hedge-delay", "how long a shard read waits on one slow owner (the last to answer, or one sending nothing) before asking every other owner")
	f.Duration(&cfg.PeerTimeout, "peer-timeout", "timeout of a shard read or push")
	f.Size(&cfg.CacheSize, "cache-size", "memory for cached chunks (e.g. 512MiB, 4GiB)")
	f.Float64(&cfg.HotShare, "hot-share", "share of --cache-size kept for whole chunks this edge serves even when its shards would fill the rest")
	f.Size(&cfg.ChunkSize, "chunk-size", "chunk size: the unit of caching and origin fetches")
	f.List(&cfg.DiskPaths, "disk-path", "comma-separated directories, one per local device, for the disk tier: the shards this edge owns and the chunks it serves, kept across restarts (default: none, memory only)")
	f.Size(&cfg.DiskSize, "disk-size", "bytes of each --disk-path the disk tier may take, its metadata included (e.g. 100GiB)")
	f.Float64(&cfg.DiskChunkShare, "disk-chunk-share", "share of --disk-size for the whole chunks this edge serves; the rest keeps the shards it owns, which those chunks can then never push out")
	f.Int(&cfg.Readahead, "readahead", "chunks a response fetches ahead of the one it is sending")
	f.Int(&cfg.PrefetchSegments, "prefetch-playlists", "segments an HLS or DASH playlist names that are warmed when it first passes through (0: off)")
	f.Int(&cfg.ReadaheadNext, "readahead-next", "chunks past a sequential range request's end fetched for the player's next request (0: off)")
	f.Int(&cfg.MaxRanges, "max-ranges", "most ranges one request may ask for (more get 416)")
	f.Duration(&cfg.DefaultTTL, "default-ttl", "freshness of 2xx/3xx responses whose origin gives no Cache-Control, Expires or Last-Modified (0: stored only if they can be revalidated, and revalidated on each use)")
	f.Duration(&cfg.NegativeTTL, "negative-ttl", "freshness of 4xx/5xx responses whose origin says nothing of it (a 404, a 410)")
	f.Bool(&cfg.ShareSetCookie, "share-set-cookie", "store responses that set cookies and serve them to every client, instead of passing them to the client that caused them")
	f.List(&cfg.RefuseMethods, "refuse-methods", "comma-separated request methods answered 405 instead of relayed to the origin (GET and HEAD are always served)")
	f.Size(&cfg.MaxBodySize, "max-body-size", "largest request body relayed to the origin (a POST, a PUT); larger is 413")
	f.Duration(&cfg.OriginTimeout, "origin-timeout", "timeout of one origin request attempt")
	f.Int(&cfg.OriginRetries, "origin-retries", "retries of a failed idempotent origin read")
	f.Duration(&cfg.ShutdownGrace, "shutdown-grace", "how long responses in flight may finish after SIGTERM")
	f.String(&e.accessLog, "access-log", `access log: one JSON line per client request, appended to this file ("-": standard output; default: none)`)
	f.Bool(&e.printConfig, "print-config", "print the effective configuration (command line, then environment, then defaults; secrets redacted) and exit")
	e.logs.register(f, "info")
}

// runEdge is the `edgecache edge` command.
func runEdge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("edge", edgeSynopsis, stdout)
	cfg := edge.DefaultConfig()
	var e edgeFlags
	e.register(f, &cfg)
	if err := f.parse(args, 0); err != nil {
		return err
	}
	// Every problem is reported at once, one line each: an operator fixing
	// a manifest should not discover them one start at a time.
	f.require("listen", cfg.Listen, ":8080")
	f.require("peer-listen", cfg.PeerListen, ":8081")
	f.require("admin-listen", cfg.AdminListen, ":8082")
	log, err := e.logs.logger(stderr)
	f.p.add(err)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = log.With("node", cfg.NodeName)
	f.p.add(configureMembership(&cfg, e, cfg.Logger))
	f.p.add(validateEdge(cfg, f.bad["origin"]))
	if err := f.problems(); err != nil {
		return err
	}
	if e.printConfig {
		return writeEffectiveConfig(stdout, f, cfg, e.secretFile)
	}
	setGoMemoryLimit(cfg)
	closeLog, err := openAccessLog(&cfg, e.accessLog, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	n, err := edge.New(cfg)
	var diskErr *edge.DiskError
	if errors.As(err, &diskErr) {
		// A path the edge cannot use is the operator's to fix, like a bad
		// flag, and nothing was served yet.
		return usagef("edgecache edge: --disk-path: %v", err)
	}
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

// validateEdge reports the problems of cfg, the missing origin first,
// unless badOrigin says --origin was given a value it refused.
func validateEdge(cfg edge.Config, badOrigin bool) error {
	if cfg.Origin != "" {
		return cfg.Validate()
	}
	// Said once, naming the flag, rather than also as the Config's
	// "origin URL is required": the rest is judged with a stand-in.
	cfg.Origin = "http://origin.invalid"
	if badOrigin {
		return cfg.Validate()
	}
	return errors.Join(fmt.Errorf("--origin is required: the base URL of the origin, e.g. --origin http://origin.example:9000 (or %s)", EnvName("origin")), cfg.Validate())
}

// openAccessLog points cfg.AccessLog at the --access-log destination, and
// returns what closes it.
func openAccessLog(cfg *edge.Config, path string, stdout io.Writer) (func(), error) {
	switch path {
	case "":
		return func() {}, nil
	case "-":
		cfg.AccessLog = stdout
		return func() {}, nil
	}
	// Appended to, so that a restart or logrotate's copytruncate loses
	// nothing; the edge writes it in blocks, never per request.
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, usagef("edgecache edge: --access-log: %v", err)
	}
	cfg.AccessLog = file
	return func() { _ = file.Close() }, nil
}

// memoryOverhead is what an edge uses beyond its cache budget at most in
// the common case: object metadata, chunks in flight, connection buffers
// and the Go runtime (docs/design.md, "Memory").
const memoryOverhead = 256 << 20

// MemoryLimit is the Go memory limit an edge sets for itself from its
// cache size when GOMEMLIMIT is not set: the budget, a quarter more for
// garbage not yet collected, and the fixed overhead.
func MemoryLimit(cacheSize int64) int64 {
	return cacheSize + cacheSize/4 + memoryOverhead
}

// DiskMemory is what the disk tier of cfg adds to an edge's memory: per
// path, its write queues and its indexes, disk.IndexEntryBytes per entry,
// counting an entry per shard's worth (ChunkSize/DataShards) of
// DiskSize: shards are the tier's smallest common entries; and once, its
// I/O buffers in huge pages (OffHeapMemory). 0 without a disk tier.
func DiskMemory(cfg edge.Config) int64 {
	if len(cfg.DiskPaths) == 0 || cfg.ChunkSize <= 0 || cfg.DataShards <= 0 {
		return 0
	}
	entries := cfg.DiskSize / max(1, cfg.ChunkSize/int64(cfg.DataShards))
	return int64(len(cfg.DiskPaths))*(edge.DiskQueueBytes+entries*disk.IndexEntryBytes) + OffHeapMemory(cfg)
}

// OffHeapMemory is the part of an edge's memory that Go's memory limit
// does not see: the disk tier's I/O buffers, mapped apart from the heap
// in huge pages (disk.IOBufferBytes). 0 without a disk tier.
func OffHeapMemory(cfg edge.Config) int64 {
	if len(cfg.DiskPaths) == 0 {
		return 0
	}
	return disk.IOBufferBytes
}

// setGoMemoryLimit gives Go's collector the edge's memory budget, less
// what lies outside Go's heap: the budget is GOMEMLIMIT when the operator
// set it (in Kubernetes, the container's limit), else the cache's and the
// disk tier's (MemoryLimit, DiskMemory). The cache is most of the heap:
// the collector works harder as the process nears the budget rather than
// grow past it.
func setGoMemoryLimit(cfg edge.Config) {
	budget := MemoryLimit(cfg.CacheSize) + DiskMemory(cfg)
	if os.Getenv("GOMEMLIMIT") != "" {
		if OffHeapMemory(cfg) == 0 {
			return // the operator's, as the runtime read it
		}
		budget = debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(max(budget-OffHeapMemory(cfg), 0))
}
