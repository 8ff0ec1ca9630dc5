package edge

import (
	"strings"
	"testing"
)

func TestListenerConflicts(t *testing.T) {
	for _, c := range []struct {
		client, peer, admin string
		want                []string
	}{
		{":8080", ":8081", ":8082", nil},
		{":8080", ":8080", ":8082", []string{"the client listener (:8080) and the peer listener (:8080)"}},
		{":8080", ":8081", "0.0.0.0:8080", []string{"the client listener (:8080) and the admin listener (0.0.0.0:8080)"}},
		{"127.0.0.1:8080", ":8081", "[::]:8080", []string{"client listener (127.0.0.1:8080) and the admin listener ([::]:8080)"}},
		{"127.0.0.1:8080", "127.0.0.2:8080", ":8082", nil}, // two hosts, one port: both bind
		{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", nil}, // port 0 picks a new port each time
		{":9000", ":9000", ":9000", []string{"client listener (:9000) and the peer", "client listener (:9000) and the admin", "peer listener (:9000) and the admin"}},
	} {
		errs := listenerConflicts(c.client, c.peer, c.admin)
		if len(errs) != len(c.want) {
			t.Errorf("%s %s %s: %v, want %d problems", c.client, c.peer, c.admin, errs, len(c.want))
			continue
		}
		for i, e := range errs {
			if !strings.Contains(e.Error(), c.want[i]) || !strings.HasSuffix(e.Error(), "would bind the same port") {
				t.Errorf("%s %s %s: %q, want %q", c.client, c.peer, c.admin, e, c.want[i])
			}
		}
	}
}

// Validate reports every problem at once, the shard count against the
// codec's GF(2^8) limit among them.
func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Origin, cfg.Listen, cfg.AdminListen, cfg.PeerListen = "http://o", ":9000", ":9000", ":9001"
	cfg.DataShards, cfg.ParityShards, cfg.ChunkSize, cfg.CacheSize = 250, 10, 1<<20, 1<<20
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted three problems")
	}
	for _, want := range []string{
		"250 data + 10 parity shards = 260 shards, over the codec's limit of 256",
		"cache size 1048576 bytes is smaller than one chunk (1048576 bytes",
		"the client listener (:9000) and the admin listener (:9000) would bind the same port",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %q lacks %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("Validate gave %d lines, want 3:\n%s", n, err)
	}
}

// A secret accepted during a rotation needs the one the node signs with:
// a node that could verify peers but not sign would be refused by all.
func TestValidateAcceptedSecretNeedsTheSigningOne(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Origin, cfg.ClusterSecretAccepted = "http://o", []byte("accepted-secret-0123456789")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "an accepted cluster secret needs the cluster secret this node signs with") {
		t.Errorf("Validate: %v", err)
	}
	cfg.ClusterSecret = []byte("signing-secret-0123456789")
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate with both secrets: %v", err)
	}
}
