package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/edge"
)

// EDGECACHE_CLUSTER_SECRET is read by the edge command although it is not
// a flag's twin (secrets do not belong on command lines); a secret file
// wins over it.
func TestClusterSecretFromEnvironment(t *testing.T) {
	const secret = "a-test-secret-of-more-than-16-bytes"
	t.Setenv(SecretEnv, secret)
	var cfg edge.Config
	if err := configureMembership(&cfg, edgeFlags{peers: "127.0.0.1:8081"}, nil); err != nil {
		t.Fatalf("%s set: %v", SecretEnv, err)
	}
	if string(cfg.ClusterSecret) != secret || cfg.Membership == nil {
		t.Errorf("%s is not what the edge uses as its cluster secret", SecretEnv)
	}
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("  the-secret-from-the-file \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := configureMembership(&cfg, edgeFlags{secretFile: file}, nil); err != nil || string(cfg.ClusterSecret) != "the-secret-from-the-file" {
		t.Errorf("secret file: %v, secret %q", err, cfg.ClusterSecret)
	}
}

// Peers need a secret; one membership source at a time; gossip needs an
// address to advertise.
func TestMembershipProblems(t *testing.T) {
	for _, c := range []struct {
		e    edgeFlags
		want string
	}{
		{edgeFlags{peers: "127.0.0.1:8081"}, "a cluster secret of at least 16 bytes is required"},
		{edgeFlags{peers: "127.0.0.1:8081", join: "127.0.0.1:7946"}, "give only one of"},
	} {
		var cfg edge.Config
		if err := configureMembership(&cfg, c.e, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.e, err, c.want)
		}
	}
	t.Setenv(SecretEnv, "a-test-secret-of-more-than-16-bytes")
	var cfg edge.Config
	if err := configureMembership(&cfg, edgeFlags{join: "127.0.0.1:7946"}, nil); err == nil || !strings.Contains(err.Error(), "--join needs --advertise") {
		t.Errorf("gossip without --advertise: %v", err)
	}
}
