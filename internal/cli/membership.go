package cli

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/ring"
)

// configureMembership sets the edge's membership source and cluster secret
// from the flags: at most one of --peers, --peers-dns and --join.
func configureMembership(cfg *edge.Config, e edgeFlags, log *slog.Logger) error {
	set := 0
	for _, v := range []string{e.peers, e.peersDNS, e.join} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return errors.New("give only one of --peers, --peers-dns and --join")
	}
	secret, err := clusterSecret(e.secretFile)
	if err != nil {
		return err
	}
	cfg.ClusterSecret = secret // a lone edge keeps one too: it authenticates purges
	if set == 0 {
		return nil
	}
	if len(secret) == 0 {
		return fmt.Errorf("a cluster secret of at least %d bytes is required with peers (--cluster-secret-file or %s)", minSecretLen, SecretEnv)
	}
	switch {
	case e.peers != "":
		cfg.Membership = ring.Static(splitList(e.peers))
	case e.peersDNS != "":
		cfg.Membership, err = ring.DNS(ring.DNSConfig{Name: e.peersDNS, Logger: log})
		if err != nil {
			return fmt.Errorf("--peers-dns: %w", err)
		}
	default:
		cfg.Membership, err = gossip(cfg.Advertise, e, secret, log)
	}
	return err
}

// gossip is the memberlist membership of --join.
func gossip(advertise string, e edgeFlags, secret []byte, log *slog.Logger) (ring.Source, error) {
	if advertise == "" {
		return nil, errors.New("--join needs --advertise (the peer address the others should use)")
	}
	key := sha256.Sum256(append([]byte("edgecache gossip key\x00"), secret...))
	src, err := ring.Gossip(ring.GossipConfig{
		BindAddr:  e.gossipListen,
		Advertise: advertise,
		Join:      splitList(e.join),
		SecretKey: key[:],
		Logger:    log,
	})
	if err != nil {
		return nil, fmt.Errorf("--join: %w", err)
	}
	return src, nil
}
