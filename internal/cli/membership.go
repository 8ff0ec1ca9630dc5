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
	secrets, err := clusterSecrets(e.secretFile)
	if err != nil {
		return err
	}
	// A lone edge keeps them too: they authenticate purges.
	cfg.ClusterSecret, cfg.ClusterSecretAccepted = nil, nil
	if len(secrets) > 0 {
		cfg.ClusterSecret = secrets[0]
	}
	if len(secrets) > 1 {
		cfg.ClusterSecretAccepted = secrets[1]
	}
	if set == 0 {
		return nil
	}
	if len(secrets) == 0 {
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
		cfg.Membership, err = gossip(cfg.Advertise, e, secrets, log)
	}
	return err
}

// gossip is the memberlist membership of --join. Its encryption key is
// derived from the first cluster secret, and the key of a second one is
// accepted too, so that the secret rotates as one for peers and gossip.
func gossip(advertise string, e edgeFlags, secrets [][]byte, log *slog.Logger) (ring.Source, error) {
	if advertise == "" {
		return nil, errors.New("--join needs --advertise (the peer address the others should use)")
	}
	src, err := ring.Gossip(gossipConfig(advertise, e, secrets, log))
	if err != nil {
		return nil, fmt.Errorf("--join: %w", err)
	}
	return src, nil
}

// gossipConfig is the memberlist configuration of --join.
func gossipConfig(advertise string, e edgeFlags, secrets [][]byte, log *slog.Logger) ring.GossipConfig {
	var accepted [][]byte
	for _, s := range secrets[1:] {
		accepted = append(accepted, gossipKey(s))
	}
	return ring.GossipConfig{
		BindAddr:     e.gossipListen,
		Advertise:    advertise,
		Join:         splitList(e.join),
		SecretKey:    gossipKey(secrets[0]),
		AcceptedKeys: accepted,
		Logger:       log,
	}
}

// gossipKey derives the 32-byte AES key of gossip from a cluster secret.
func gossipKey(secret []byte) []byte {
	key := sha256.Sum256(append([]byte("edgecache gossip key\x00"), secret...))
	return key[:]
}
