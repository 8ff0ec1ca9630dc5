package cli

import (
	"bytes"
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

// During a rotation the secret file (or EDGECACHE_CLUSTER_SECRET) holds
// two secrets, one per line: the first signs, the second is accepted, for
// peer and admin requests and, through the keys derived from them, for
// gossip. White space around a line and empty lines do not count, so a
// file and a variable holding the same text give the same secrets.
func TestClusterSecretsOnePerLine(t *testing.T) {
	const first, second = "the-secret-that-signs-0123", "the-secret-also-accepted-4567"
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("\n  "+first+" \r\n\n"+second+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg edge.Config
	if err := configureMembership(&cfg, edgeFlags{peers: "127.0.0.1:8081", secretFile: file}, nil); err != nil {
		t.Fatal(err)
	}
	if string(cfg.ClusterSecret) != first || string(cfg.ClusterSecretAccepted) != second {
		t.Errorf("two lines: signs with %q, accepts %q", cfg.ClusterSecret, cfg.ClusterSecretAccepted)
	}

	t.Setenv(SecretEnv, first+"\n")
	if err := configureMembership(&cfg, edgeFlags{peers: "127.0.0.1:8081"}, nil); err != nil {
		t.Fatal(err)
	}
	if string(cfg.ClusterSecret) != first || cfg.ClusterSecretAccepted != nil {
		t.Errorf("%s with a final newline: signs with %q, accepts %q", SecretEnv, cfg.ClusterSecret, cfg.ClusterSecretAccepted)
	}

	gc := gossipConfig("127.0.0.1:8081", edgeFlags{join: "127.0.0.1:7946"}, [][]byte{[]byte(first), []byte(second)}, nil)
	if !bytes.Equal(gc.SecretKey, gossipKey([]byte(first))) || len(gc.AcceptedKeys) != 1 ||
		!bytes.Equal(gc.AcceptedKeys[0], gossipKey([]byte(second))) || bytes.Equal(gc.SecretKey, gc.AcceptedKeys[0]) {
		t.Errorf("gossip keys: encrypts with %x, accepts %x; want the keys of the first and the second secret", gc.SecretKey, gc.AcceptedKeys)
	}

	for content, want := range map[string]string{
		first + "\n" + second + "\n" + first + "-third": "holds 3 cluster secrets",
		first + "\nshort": "line 2 of --cluster-secret-file is 5 bytes",
	} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		err := configureMembership(&cfg, edgeFlags{peers: "127.0.0.1:8081", secretFile: file}, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
}
