package ring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"
)

// Resolver looks up the addresses of a host. *net.Resolver satisfies it;
// tests pass a fake.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// DNSConfig configures a DNS membership source (--peers-dns NAME:PORT).
type DNSConfig struct {
	// Name is "host:port": every A and AAAA record of host is a peer
	// listening on port. In Kubernetes, host is a headless Service, whose
	// records are the ready pods. Required.
	Name string
	// Interval is how often Name is re-resolved. Each lookup is also
	// given at most Interval to answer. Default 5s.
	Interval time.Duration
	// Resolver answers the lookups. Default net.DefaultResolver.
	Resolver Resolver
	// Logger receives lookup failures and member changes. Default: none.
	Logger *slog.Logger
}

// dnsDefaultInterval is DNSConfig.Interval's default.
const dnsDefaultInterval = 5 * time.Second

// errNoRecords stands for a lookup that succeeded with no address: it is
// treated as a failure, because a cluster of zero peers is far more likely
// a DNS blip than the truth, and dropping every peer at once would send all
// reads to the origin.
var errNoRecords = errors.New("no A or AAAA records")

// DNS returns a Source that resolves cfg.Name at once and then every
// Interval, and sends the peer set when it differs from the last one sent.
//
// A failed lookup (an error, a timeout, or an empty answer) keeps the last
// known set: a DNS blip must not empty the ring. Failures are logged once
// per run of failures, and the recovery once. Until the first lookup
// succeeds nothing is sent.
//
// The set contains this edge only if DNS lists it (a headless Service lists
// ready pods only); the caller adds its own address if it must be on the
// ring. DNS returns an error if Name is not host:port or Interval is
// negative.
func DNS(cfg DNSConfig) (Source, error) {
	host, port, err := net.SplitHostPort(cfg.Name)
	if err == nil {
		err = checkAddr(cfg.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("ring: DNS name: %w", err)
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("ring: DNS interval %v is negative", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = dnsDefaultInterval
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	return &dnsSource{cfg: cfg, host: host, port: port, log: orDiscard(cfg.Logger)}, nil
}

type dnsSource struct {
	cfg        DNSConfig
	host, port string
	log        *slog.Logger
}

func (d *dnsSource) Run(ctx context.Context, updates chan<- []string) error {
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()

	var last []string // nil until the first successful lookup
	failures := 0
	for {
		peers, err := d.lookup(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if failures++; failures == 1 {
				d.log.Warn("ring: DNS lookup failed, keeping the last known peers",
					"name", d.cfg.Name, "err", err, "peers", len(last))
			}
		default:
			if failures > 0 {
				d.log.Info("ring: DNS lookup recovered", "name", d.cfg.Name, "failed_lookups", failures)
				failures = 0
			}
			if last == nil || !slices.Equal(peers, last) {
				if !send(ctx, updates, slices.Clone(peers)) {
					return nil
				}
				d.log.Info("ring: DNS peers changed", "name", d.cfg.Name, "peers", len(peers))
				last = peers
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// lookup resolves the host once and returns its peers, normalized.
func (d *dnsSource) lookup(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Interval)
	defer cancel()
	ips, err := d.cfg.Resolver.LookupIPAddr(ctx, d.host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, errNoRecords
	}
	peers := make([]string, len(ips))
	for i, ip := range ips {
		peers[i] = net.JoinHostPort(ip.String(), d.port)
	}
	return normalize(peers), nil
}
