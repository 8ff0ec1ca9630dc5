package edge

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/ring"
)

// Config configures an edge node. Start from DefaultConfig, the one source
// of the defaults (the edge command's flags read theirs from it), and set
// Origin: New takes the fields as they are, so a zero duration or size is
// an error, not a default.
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
	// NodeName names this node for people: the status page and
	// /status.json show it beside the peer address, which is what
	// identifies the node on the ring. Empty shows the peer address alone.
	// Default: the host name.
	NodeName string
	// Membership reports the cluster's peer addresses as they change
	// (static list, DNS, gossip). Nil: a ring of this node alone.
	Membership ring.Source
	// ClusterSecret authenticates peer requests; required with Membership.
	// The node signs its peer requests with it and accepts requests signed
	// with it.
	ClusterSecret []byte
	// ClusterSecretAccepted, when set, is a second secret the node accepts
	// on peer and admin requests but never signs with: the other secret
	// of a rotation, so that members on either side of it keep peering
	// (docs/design.md, "Rotating the cluster secret"). Default: none.
	ClusterSecretAccepted []byte
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
	// DiskPaths are directories, one per local device, for the disk tier
	// behind the memory store: the shards this node owns and the chunks
	// it serves are written through to them, read from them after a
	// memory miss, and still there after a restart (see docs/design.md,
	// "The disk tier"). Each holds one file of DiskSize bytes; a key's
	// device is chosen by its hash. None: memory only. Default none.
	DiskPaths []string
	// DiskSize is the bytes each of DiskPaths may take, the stores'
	// metadata included: at least MinDiskSize. Required with DiskPaths.
	DiskSize int64
	// DiskChunkShare is the share of each DiskSize that keeps the decoded
	// chunks this node served, in a store of their own; the rest keeps
	// the shards it owns and its objects. The disk evicts oldest first,
	// so one store for both would let the copies each member writes of
	// what it serves push out the shards, the ring's only copy. Default
	// 0.25; strictly between 0 and 1.
	DiskChunkShare float64
	// diskFS opens the disk tier's files; nil is the operating system's.
	// Tests give chunk/disk/disktest's FS, whose devices fail on demand.
	diskFS disk.FS
	// Readahead is how many chunks past the one being sent a response
	// fetches in the background. Default 4.
	Readahead int
	// ReadaheadNext is how many chunks past the end of a sequential range
	// request are fetched in the background for the player's next one, so
	// that it is a hit. A request is sequential when it starts the object,
	// or starts where the same connection's previous range of the object
	// ended; a seek elsewhere fetches nothing extra. Default 4; 0: off.
	ReadaheadNext int
	// PrefetchSegments is how many segments (and init segments, or variant
	// playlists) an HLS or DASH playlist names are warmed when it passes
	// through this edge for the first time, so that a player starting the
	// stream finds them cached. Only references on this edge's origin are
	// followed. Default 3; 0: off.
	PrefetchSegments int
	// MaxRanges caps the ranges of one request; more is refused with 416.
	// Default 64.
	MaxRanges int
	// MetaEntries caps the objects whose metadata is kept. Default 65536.
	MetaEntries int
	// DefaultTTL is the heuristic freshness (RFC 9111 §4.2.2) of a
	// heuristically cacheable 2xx or 3xx response that gives neither
	// explicit freshness nor Last-Modified. Default 0: none, so that such
	// a response is stored only if it can be revalidated, and revalidated
	// on every use.
	DefaultTTL time.Duration
	// NegativeTTL is the same for a 4xx or 5xx response (404, 410...): how
	// long an origin's "not found" that says nothing of its freshness is
	// remembered. Default 10 s.
	NegativeTTL time.Duration
	// ShareSetCookie stores responses that set cookies and serves them to
	// everyone. Default false: a cookie is usually one user's, so such
	// responses pass to the client that caused them.
	ShareSetCookie bool
	// RefuseMethods are the request methods answered with 405 instead of
	// being relayed to the origin. Default CONNECT and TRACE.
	RefuseMethods []string
	// MaxBodySize caps the body of a relayed request (a POST, a PUT):
	// more is refused with 413. Default 64 MiB.
	MaxBodySize int64
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
	// Logger receives the node's logs. Nil: discard.
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
	// Now is the clock. Nil: time.Now.
	Now func() time.Time

	// wrapDisk, if set, stands between the engine and the disk tier, so
	// that a test can make a real disk misbehave.
	wrapDisk func(engine.Disk) engine.Disk
}

// DefaultConfig returns the configuration an edge runs with unless told
// otherwise: every default documented on Config, and no Origin.
func DefaultConfig() Config {
	return Config{
		Listen:           ":8080",
		AdminListen:      ":8082",
		PeerListen:       ":8081",
		NodeName:         hostname(),
		DataShards:       4,
		ParityShards:     2,
		HedgeDelay:       25 * time.Millisecond,
		PeerTimeout:      2 * time.Second,
		PeerDialTimeout:  200 * time.Millisecond,
		SuspectFor:       5 * time.Second,
		CacheSize:        512 << 20,
		HotShare:         0.125,
		DiskChunkShare:   0.25,
		ChunkSize:        1 << 20,
		Readahead:        4,
		ReadaheadNext:    4,
		PrefetchSegments: 3,
		MaxRanges:        64,
		MetaEntries:      65536,
		NegativeTTL:      10 * time.Second,
		RefuseMethods:    []string{"CONNECT", "TRACE"},
		MaxBodySize:      64 << 20,
		FillTimeout:      30 * time.Second,
		OriginTimeout:    10 * time.Second,
		OriginRetries:    2,
		ReadTimeout:      10 * time.Second,
		WriteTimeout:     5 * time.Minute,
		IdleTimeout:      2 * time.Minute,
		MaxConns:         16384,
		MaxHeaderBytes:   8 << 10,
		WriteBufferSize:  64 << 10,
		ShutdownGrace:    20 * time.Second,
		StatusInterval:   5 * time.Second,
		AccessLogFlush:   time.Second,
	}
}

// acceptedSecrets are the secrets the node accepts besides ClusterSecret.
func (c *Config) acceptedSecrets() [][]byte {
	if len(c.ClusterSecretAccepted) == 0 {
		return nil
	}
	return [][]byte{c.ClusterSecretAccepted}
}

// hostname is the host's name, or "" when the system does not say.
func hostname() string {
	h, _ := os.Hostname()
	return h
}

// Validate reports every problem of a configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Origin == "" {
		errs = append(errs, errors.New("an origin URL is required"))
	}
	errs = append(errs, c.positive()...)
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
	errs = append(errs, refusable(c.RefuseMethods)...)
	errs = append(errs, c.validateDisk()...)
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
	if len(c.ClusterSecretAccepted) > 0 && len(c.ClusterSecret) == 0 {
		errs = append(errs, errors.New("an accepted cluster secret needs the cluster secret this node signs with"))
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
	return errors.Join(errs...)
}

// positive reports the fields that must be above zero and are not: a
// Config built by hand rather than from DefaultConfig leaves them zero.
func (c *Config) positive() []error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"hedge delay", int64(c.HedgeDelay)}, {"peer timeout", int64(c.PeerTimeout)},
		{"peer dial timeout", int64(c.PeerDialTimeout)}, {"suspect period", int64(c.SuspectFor)},
		{"meta entries", int64(c.MetaEntries)}, {"max body size", c.MaxBodySize},
		{"fill timeout", int64(c.FillTimeout)},
		{"origin timeout", int64(c.OriginTimeout)}, {"read timeout", int64(c.ReadTimeout)},
		{"write timeout", int64(c.WriteTimeout)}, {"idle timeout", int64(c.IdleTimeout)},
		{"max conns", int64(c.MaxConns)}, {"max header bytes", int64(c.MaxHeaderBytes)},
		{"write buffer size", int64(c.WriteBufferSize)}, {"shutdown grace", int64(c.ShutdownGrace)},
		{"status interval", int64(c.StatusInterval)}, {"access log flush period", int64(c.AccessLogFlush)},
		{"data shards", int64(c.DataShards)},
	} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive (start from DefaultConfig)", f.name))
		}
	}
	if c.ParityShards < 0 || c.OriginRetries < 0 || c.ReadaheadNext < 0 || c.PrefetchSegments < 0 ||
		c.DefaultTTL < 0 || c.NegativeTTL < 0 {
		errs = append(errs, errors.New("parity shards, origin retries, readahead-next, prefetch-playlists, default TTL and negative TTL may not be negative"))
	}
	return errs
}

// listenerConflicts reports every pair of the client, peer and admin
// listeners that would bind the same port: the same address however it is
// spelled (":8080", "0.0.0.0:8080"), or a wildcard host and any host on one
// port. Port 0 picks a free port each time, so it never conflicts.
func listenerConflicts(client, peer, admin string) []error {
	ls := [...]struct{ name, addr string }{{"client", client}, {"peer", peer}, {"admin", admin}}
	var errs []error
	for i := range ls {
		for j := i + 1; j < len(ls); j++ {
			if sameListener(ls[i].addr, ls[j].addr) {
				errs = append(errs, fmt.Errorf("the %s listener (%s) and the %s listener (%s) would bind the same port",
					ls[i].name, ls[i].addr, ls[j].name, ls[j].addr))
			}
		}
	}
	return errs
}

func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return a == b && a != "" // not addresses; listening says why
	}
	if pa != pb || pa == "0" || pa == "" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return wild(ha) || wild(hb) || strings.EqualFold(ha, hb)
}

// refusable reports the RefuseMethods entries that cannot be refused: a
// method is a token (RFC 9110 §9.1), and GET and HEAD are what the cache
// serves, so refusing them would leave nothing to cache.
func refusable(methods []string) []error {
	var errs []error
	for _, m := range methods {
		switch {
		case m == "GET" || m == "HEAD":
			errs = append(errs, fmt.Errorf("refused method %s: GET and HEAD are what the cache serves", m))
		case !httpcache.IsToken(m):
			errs = append(errs, fmt.Errorf("refused method %q is not an HTTP method token", m))
		}
	}
	return errs
}

// minDiskBytes is the smallest disk store Validate accepts: the store's
// regions are an eighth of a store under 128 MiB and must be 64 KiB at
// least (chunk/disk's Config).
const minDiskBytes = 512 << 10

// MinDiskSize is the smallest DiskSize Validate accepts with chunks of
// chunkSize bytes and a DiskChunkShare of share: one whose both stores
// hold 16 chunks and 512 KiB, so that a region (an eighth of a small
// store) holds a whole chunk. 0 for a share outside (0, 1).
func MinDiskSize(chunkSize int64, share float64) int64 {
	if !(share > 0 && share < 1) {
		return 0
	}
	least := float64(max(minDiskBytes, 16*chunkSize))
	return int64(math.Ceil(least / min(share, 1-share)))
}

// diskSplit returns the bytes of a DiskSize of size that keep decoded
// chunks and those that keep the rest.
func diskSplit(size int64, share float64) (chunks, owned int64) {
	chunks = int64(float64(size) * share)
	return chunks, size - chunks
}

// validateDisk checks the disk tier's settings: a size that holds whole
// chunks, and paths that are directories (or not yet there), so that a
// typo fails at start, not at the first write.
func (c *Config) validateDisk() []error {
	if len(c.DiskPaths) == 0 {
		return nil
	}
	var errs []error
	if !(c.DiskChunkShare > 0 && c.DiskChunkShare < 1) {
		errs = append(errs, fmt.Errorf("disk chunk share %v is outside (0, 1)", c.DiskChunkShare))
	} else if need := MinDiskSize(c.ChunkSize, c.DiskChunkShare); c.DiskSize < need {
		errs = append(errs, fmt.Errorf("disk size %d bytes is under %d (16 chunks, and at least 512 KiB, for decoded chunks and for shards)", c.DiskSize, need))
	}
	seen := map[string]bool{}
	for _, p := range c.DiskPaths {
		switch fi, err := os.Stat(p); {
		case p == "":
			errs = append(errs, errors.New("a disk path is empty"))
		case seen[filepath.Clean(p)]:
			errs = append(errs, fmt.Errorf("disk path %s is given twice", p))
		case err == nil && !fi.IsDir():
			errs = append(errs, fmt.Errorf("disk path %s is not a directory", p))
		}
		seen[filepath.Clean(p)] = true
	}
	return errs
}
