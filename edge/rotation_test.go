package edge

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A rotation of the cluster secret is three rollouts (k8s/README.md): the
// new secret is first accepted by every member, then signs everywhere,
// then the old one is dropped. During each, members already rolled and
// members not yet rolled share one ring: they must keep peering (no
// request refused), serve every chunk from the ring after its one origin
// read, and take purges signed with either secret. Skipping the first
// rollout is shown to break peering, which is why it exists.
func TestClusterMidRotationKeepsPeering(t *testing.T) {
	oldS, newS := []byte("old-cluster-secret-0123456789"), []byte("new-cluster-secret-0123456789")
	type secrets struct{ sign, accept []byte }
	steps := []struct {
		name          string
		before, after secrets
		refused       bool
	}{
		{"1 accept the new secret", secrets{oldS, nil}, secrets{oldS, newS}, false},
		{"2 sign with the new secret", secrets{oldS, newS}, secrets{newS, oldS}, false},
		{"3 drop the old secret", secrets{newS, oldS}, secrets{newS, nil}, false},
		{"the first rollout skipped", secrets{oldS, nil}, secrets{newS, oldS}, true},
	}
	org := newTestOrigin(t)
	const chunks = 4
	for i, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			path := fmt.Sprintf("/rotation-%d.mp4", i)
			data := putMovie(org, path, chunks)
			// Members 0 and 2 are not rolled yet, 1 and 3 are.
			started := 0
			c := startCluster(t, org.URL(), 4, func(cfg *Config) {
				s := step.before
				if started%2 == 1 {
					s = step.after
				}
				started++
				cfg.ClusterSecret, cfg.ClusterSecretAccepted = s.sign, s.accept
			})
			for _, n := range c.nodes {
				for idx := range chunks {
					readChunk(t, n, path, data, idx)
				}
			}
			c.settle()
			refused := c.total(func(s Stats) int64 { return s.PeerRefused })
			gets, per := originChunkGets(org, path)
			if step.refused {
				if refused == 0 {
					t.Errorf("no request refused between a member holding only the old secret and one signing with the new: the test cannot tell a working rotation from a broken one")
				}
				t.Logf("%d peer requests refused; origin chunk reads %d for %d chunks", refused, gets, chunks)
				return
			}
			if refused != 0 {
				t.Errorf("%d peer requests refused mid-rotation", refused)
			}
			if gets != chunks {
				t.Errorf("origin chunk reads %d for %d chunks: %v; want each chunk read once for the ring", gets, chunks, per)
			}
			if peer := c.total(func(s Stats) int64 { return s.SentPeer }); peer == 0 {
				t.Error("no bytes were served from peers: the ring did not share its chunks")
			}
			// An operator's purge is signed with the first secret of the
			// operator's copy, which may be either side of the rollout.
			for _, s := range [][]byte{step.before.sign, step.after.sign} {
				if res, pr := adminPurge(t, c.nodes[1], path, s, time.Now()); res.status != http.StatusOK || !pr.AllConfirmed() {
					t.Errorf("purge signed with %q: %d %+v", s, res.status, pr)
				}
			}
		})
	}
}
