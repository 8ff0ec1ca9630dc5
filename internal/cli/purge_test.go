package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/localcluster"
	"github.com/edgecache/edgecache/internal/localcluster/clustertest"
	"github.com/edgecache/edgecache/internal/testutil"
	"github.com/edgecache/edgecache/origin"
)

const purgeTestSecret = "purge-command-test-secret-0123456789"

// `edgecache purge` signs, reports every member, and exits non-zero when
// one did not confirm or the edge refused the signature.
func TestPurgeCommand(t *testing.T) {
	cluster := clustertest.Start(t, localcluster.Config{
		Edges:  3,
		Origin: origin.ServerConfig{Synthetic: true},
		Edge: func(_ int, cfg *edge.Config) {
			cfg.CacheSize, cfg.ChunkSize, cfg.ClusterSecret = 32<<20, 64<<10, []byte(purgeTestSecret)
		},
	})
	nodes := cluster.Nodes()
	path := origin.SyntheticPath(200<<10, "cmd/purge.mp4") + "?v=1"
	if res, _ := testutil.Get(t, "http://"+nodes[1].Addr()+path, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, res.Status)
	}
	admin := "http://" + nodes[0].AdminAddr()
	env := map[string]string{"EDGECACHE_CLUSTER_SECRET": purgeTestSecret}

	code, out, errs := runCmd(t, []string{"purge", "--admin", admin, path}, env)
	if code != 0 || !strings.Contains(out, "3 of 3 members confirmed") || !strings.Contains(out, "object key "+path) {
		t.Fatalf("purge: exit %d\n%s%s", code, out, errs)
	}
	for _, n := range nodes {
		if !regexp.MustCompile(`(?m)^  confirmed +` + regexp.QuoteMeta(n.Advertise())).MatchString(out) {
			t.Errorf("the output does not report %s as confirmed:\n%s", n.Advertise(), out)
		}
	}
	if strings.Count(out, "metadata,") == 0 || strings.Contains(out, purgeTestSecret) {
		t.Errorf("no member reports dropping the metadata (or the secret leaked):\n%s", out)
	}

	// The secret from a file wins over the environment; a wrong one is
	// refused by the edge with its reason.
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("a-different-secret-of-enough-bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCmd(t, []string{"purge", "--admin", admin, "--cluster-secret-file", file, path}, env)
	if code != 1 || !strings.Contains(errs, "401") || !strings.Contains(errs, "bad signature") {
		t.Errorf("wrong secret: exit %d\n%s%s", code, out, errs)
	}

	nodes[2].Close()
	code, out, errs = runCmd(t, []string{"purge", "--admin", admin, path}, env)
	if code != 1 || !regexp.MustCompile(`(?m)^  FAILED +`+regexp.QuoteMeta(nodes[2].Advertise())+" ").MatchString(out) || !strings.Contains(out, "2 of 3 members confirmed") ||
		!strings.Contains(errs, "1 of 3 members did not confirm") {
		t.Errorf("purge with a member down: exit %d\n%s%s", code, out, errs)
	}

	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"purge", "--admin", admin}, env, "give the PATH"},
		{[]string{"purge", "--admin", admin, path}, nil, "a cluster secret is required"},
		{[]string{"purge", "--admin", admin, "relative.mp4"}, env, "must start with /"},
		{[]string{"purge", "--admin", "ftp://x", path}, env, "invalid value \"ftp://x\" for --admin"},
	} {
		code, _, errs := runCmd(t, c.args, c.env)
		if code != 2 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, errs, c.want)
		}
	}
}
