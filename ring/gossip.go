package ring

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// GossipConfig configures a gossip membership source (--join ADDR), for
// clusters outside Kubernetes.
type GossipConfig struct {
	// BindAddr is the host:port memberlist listens on, TCP and UDP. Port 0
	// picks a free port (tests). Default "0.0.0.0:7946".
	BindAddr string
	// Advertise is the PEER address (host:port of the peer listener) this
	// edge announces, carried in its memberlist node metadata. It is what
	// the other edges put on their rings, distinct from the gossip port.
	// Required; at most 512 bytes.
	Advertise string
	// GossipAdvertise is the IP:port other members should use to reach
	// this edge's gossip port, when that is not BindAddr (behind NAT, or
	// bound to all interfaces). Default: memberlist's choice, the bind
	// address or, for 0.0.0.0, a private address of the host.
	GossipAdvertise string
	// Join lists gossip addresses (host:port, or host for port 7946) of
	// existing members. Empty starts a new cluster. Joining is retried
	// every JoinRetry for as long as this edge sees no other member, so
	// edges that start together, in any order, find each other.
	Join []string
	// JoinRetry is the wait between join attempts. Default 2s.
	JoinRetry time.Duration
	// Name is this edge's unique memberlist node name. Default Advertise.
	Name string
	// SecretKey, when set (16, 24 or 32 bytes), encrypts and
	// authenticates gossip with AES-GCM, so a host without the key can
	// neither read the member list nor add itself to it, which would put
	// it on every ring. The edge can derive it from the cluster secret.
	// Default: none (plain gossip).
	SecretKey []byte
	// AcceptedKeys are further keys (16, 24 or 32 bytes each) that other
	// members' gossip may be encrypted with; this member encrypts with
	// SecretKey alone. A rotation of the key needs them: members that
	// encrypt with the old key and members that encrypt with the new one
	// must both be understood by those holding both. Requires SecretKey.
	// Default: none.
	AcceptedKeys [][]byte
	// LeaveTimeout bounds how long Run waits, when its context ends, for
	// the leave message to go out before shutting down. Default 1s.
	LeaveTimeout time.Duration
	// Logger receives memberlist's logs, at their levels, and this
	// source's. Default: none.
	Logger *slog.Logger

	// tune adjusts memberlist's configuration after the defaults (tests
	// use short intervals).
	tune func(*memberlist.Config)
	// started is called with the gossip address once memberlist listens
	// (tests join it).
	started func(gossipAddr string)
}

// Gossip returns a Source whose members are the Advertise addresses of the
// alive (and suspect) nodes of a hashicorp/memberlist cluster, this edge
// included. Its Run creates the memberlist (binding BindAddr), joins, sends
// the member list after the first join attempt and then on every change,
// and, when its context ends, leaves gracefully (within LeaveTimeout) and
// shuts memberlist down. Memberlist uses its LAN preset (DefaultLANConfig).
//
// Run may take longer than LeaveTimeout to return if a join attempt is in
// flight: memberlist cannot cancel one, so Run waits for it (at most its
// TCP timeout, 10s in the LAN preset, and only for a Join address that
// does not answer).
//
// Gossip returns an error if Advertise is missing or not host:port, or
// another field is malformed; binding errors come from Run.
func Gossip(cfg GossipConfig) (Source, error) {
	if cfg.Advertise == "" {
		return nil, fmt.Errorf("ring: gossip: Advertise is required")
	}
	if err := checkAddr(cfg.Advertise); err != nil {
		return nil, fmt.Errorf("ring: gossip advertise: %w", err)
	}
	if len(cfg.Advertise) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("ring: gossip advertise %q is longer than %d bytes", cfg.Advertise, memberlist.MetaMaxSize)
	}
	if cfg.BindAddr == "" {
		cfg.BindAddr = "0.0.0.0:7946"
	}
	if _, _, err := splitPort(cfg.BindAddr); err != nil {
		return nil, fmt.Errorf("ring: gossip bind address: %w", err)
	}
	if cfg.GossipAdvertise != "" {
		host, _, err := splitPort(cfg.GossipAdvertise)
		if err == nil && net.ParseIP(host) == nil {
			err = fmt.Errorf("%q is not an IP address", host)
		}
		if err != nil {
			return nil, fmt.Errorf("ring: gossip advertise address: %w", err)
		}
	}
	if err := checkKeys(cfg.SecretKey, cfg.AcceptedKeys); err != nil {
		return nil, err
	}
	if cfg.JoinRetry < 0 || cfg.LeaveTimeout < 0 {
		return nil, fmt.Errorf("ring: gossip durations must not be negative")
	}
	if cfg.JoinRetry == 0 {
		cfg.JoinRetry = 2 * time.Second
	}
	if cfg.LeaveTimeout == 0 {
		cfg.LeaveTimeout = time.Second
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Advertise
	}
	cfg.Join = slices.Clone(cfg.Join)
	cfg.SecretKey = slices.Clone(cfg.SecretKey)
	cfg.AcceptedKeys = slices.Clone(cfg.AcceptedKeys)
	return &gossipSource{cfg: cfg, log: orDiscard(cfg.Logger)}, nil
}

// checkKeys checks the sizes of the gossip keys: AES-128, -192 or -256.
func checkKeys(primary []byte, accepted [][]byte) error {
	if len(accepted) > 0 && len(primary) == 0 {
		return fmt.Errorf("ring: gossip accepted keys need a secret key to encrypt with")
	}
	for i, k := range append([][]byte{primary}, accepted...) {
		switch len(k) {
		case 16, 24, 32:
		case 0:
			if i > 0 {
				return fmt.Errorf("ring: gossip accepted key %d is empty", i)
			}
		default:
			return fmt.Errorf("ring: gossip secret key is %d bytes, want 16, 24 or 32", len(k))
		}
	}
	return nil
}

type gossipSource struct {
	cfg GossipConfig
	log *slog.Logger
}

// splitPort splits host:port and parses the port (0 allowed).
func splitPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", port, err)
	}
	return host, int(p), nil
}

func (g *gossipSource) Run(ctx context.Context, updates chan<- []string) error {
	// changed holds at most one pending "membership changed": memberlist
	// must never block on us, and one re-read covers any number of events.
	changed := make(chan struct{}, 1)
	events := &memberEvents{self: g.cfg.Name, changed: changed, peers: map[string]string{}}

	conf := memberlist.DefaultLANConfig()
	conf.Name = g.cfg.Name
	conf.BindAddr, conf.BindPort, _ = splitPort(g.cfg.BindAddr)
	conf.AdvertisePort = conf.BindPort
	if g.cfg.GossipAdvertise != "" {
		conf.AdvertiseAddr, conf.AdvertisePort, _ = splitPort(g.cfg.GossipAdvertise)
	}
	if len(g.cfg.SecretKey) > 0 {
		// Encrypts with the secret key, decrypts with any of the keys.
		keyring, err := memberlist.NewKeyring(g.cfg.AcceptedKeys, g.cfg.SecretKey)
		if err != nil {
			return fmt.Errorf("ring: gossip keys: %w", err)
		}
		conf.Keyring = keyring
	}
	conf.Delegate = metaDelegate(g.cfg.Advertise)
	conf.Events = events
	conf.Logger = log.New(logWriter{g.log}, "", 0)
	if g.cfg.tune != nil {
		g.cfg.tune(conf)
	}

	ml, err := memberlist.Create(conf)
	if err != nil {
		return fmt.Errorf("ring: gossip: %w", err)
	}
	// Create announced this node to itself, so events knows its address.
	gossipAddr := events.selfGossip()
	g.log.Info("ring: gossip started", "gossip", gossipAddr, "advertise", g.cfg.Advertise, "name", g.cfg.Name)
	if g.cfg.started != nil {
		g.cfg.started(gossipAddr)
	}

	firstJoin := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { g.joinLoop(ctx, ml, changed, firstJoin) })
	defer func() {
		wg.Wait() // no Join may run during or after Shutdown
		if err := ml.Leave(g.cfg.LeaveTimeout); err != nil {
			g.log.Warn("ring: gossip leave", "err", err)
		}
		if err := ml.Shutdown(); err != nil {
			g.log.Warn("ring: gossip shutdown", "err", err)
		}
		g.log.Info("ring: gossip stopped", "gossip", gossipAddr)
	}()

	// The first list goes out after the first join attempt: before it,
	// this edge knows only itself, and a ring of one would send every
	// fill to the origin for nothing.
	select {
	case <-firstJoin:
	case <-ctx.Done():
		return nil
	}
	var last []string
	for {
		if members := events.members(); last == nil || !slices.Equal(members, last) {
			if !send(ctx, updates, slices.Clone(members)) {
				return nil
			}
			last = members
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// joinLoop joins the cluster at once, closes firstJoin, and then retries
// every JoinRetry while this edge sees no other member, until ctx ends.
func (g *gossipSource) joinLoop(ctx context.Context, ml *memberlist.Memberlist, changed chan<- struct{}, firstJoin chan<- struct{}) {
	if len(g.cfg.Join) == 0 {
		close(firstJoin)
		return
	}
	retry := time.NewTimer(0)
	defer retry.Stop()
	failures := 0
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			if first {
				close(firstJoin)
			}
			return
		case <-retry.C:
		}
		if ml.NumMembers() <= 1 {
			n, err := ml.Join(g.cfg.Join)
			switch {
			case err != nil:
				// Warn once per run of failures: an edge waiting for its
				// seeds would otherwise log every JoinRetry.
				level := slog.LevelDebug
				if failures++; failures == 1 {
					level = slog.LevelWarn
				}
				g.log.Log(ctx, level, "ring: gossip join failed, will retry while alone",
					"join", g.cfg.Join, "err", err, "retry", g.cfg.JoinRetry)
			default:
				failures = 0
				g.log.Info("ring: gossip joined", "contacted", n, "members", ml.NumMembers())
			}
		}
		if first {
			close(firstJoin)
		}
		signal(changed)
		retry.Reset(g.cfg.JoinRetry)
	}
}

// signal records a change without blocking.
func signal(changed chan<- struct{}) {
	select {
	case changed <- struct{}{}:
	default:
	}
}

// memberEvents keeps the member list from memberlist's join, leave and
// update events, and signals each change on a channel without blocking.
//
// It keeps its own copy because memberlist's Members() returns pointers
// into state that memberlist keeps mutating under its own lock (a data
// race on Node.Meta); events are delivered under that lock, one at a time,
// so reading the Node there is safe.
type memberEvents struct {
	self    string // this node's name
	changed chan<- struct{}

	mu     sync.Mutex
	peers  map[string]string // node name -> peer address, alive and suspect nodes
	gossip string            // this node's gossip address
}

func (e *memberEvents) NotifyJoin(n *memberlist.Node)   { e.set(n) }
func (e *memberEvents) NotifyUpdate(n *memberlist.Node) { e.set(n) }

func (e *memberEvents) NotifyLeave(n *memberlist.Node) {
	e.mu.Lock()
	delete(e.peers, n.Name)
	e.mu.Unlock()
	signal(e.changed)
}

// set records n's peer address. A node whose metadata is not a peer
// address (another program on the gossip port) is left out.
func (e *memberEvents) set(n *memberlist.Node) {
	addr := string(n.Meta) // copies: memberlist may reuse Meta
	e.mu.Lock()
	if checkAddr(addr) == nil {
		e.peers[n.Name] = addr
	} else {
		delete(e.peers, n.Name)
	}
	if n.Name == e.self {
		e.gossip = n.Address()
	}
	e.mu.Unlock()
	signal(e.changed)
}

// members returns the peer addresses of the alive and suspect nodes,
// normalized.
func (e *memberEvents) members() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.peers))
	for _, a := range e.peers {
		out = append(out, a)
	}
	return normalize(out)
}

func (e *memberEvents) selfGossip() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gossip
}

// metaDelegate announces this edge's peer address as its node metadata and
// takes no part in memberlist's user messages or state exchange.
type metaDelegate string

func (d metaDelegate) NodeMeta(limit int) []byte {
	if len(d) > limit {
		return nil // Gossip checked the length; never send a truncated address
	}
	return []byte(d)
}
func (metaDelegate) NotifyMsg([]byte)                           {}
func (metaDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (metaDelegate) LocalState(join bool) []byte                { return nil }
func (metaDelegate) MergeRemoteState(buf []byte, join bool)     {}

// logWriter carries memberlist's log lines ("[WARN] memberlist: ...") to a
// slog.Logger at the level of their prefix.
type logWriter struct{ l *slog.Logger }

var logLevels = []struct {
	prefix string
	level  slog.Level
}{
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

func (w logWriter) Write(p []byte) (int, error) {
	msg, level := strings.TrimSpace(string(p)), slog.LevelInfo
	for _, l := range logLevels {
		if rest, ok := strings.CutPrefix(msg, l.prefix); ok {
			msg, level = strings.TrimSpace(rest), l.level
			break
		}
	}
	w.l.Log(context.Background(), level, msg, "component", "memberlist")
	return len(p), nil
}
