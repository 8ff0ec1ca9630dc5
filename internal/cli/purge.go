package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgecache/edgecache/edge"
)

const purgeSynopsis = `edgecache purge [flags] PATH

Purge an object from a whole cluster: ask one edge's admin listener to
drop every version of PATH (its metadata, chunks and shards) on every member
of its ring, and print what each member did. PATH is the object's path as
players ask for it, query included (quote it for the shell); give it after
the flags. The request is signed with the cluster secret, read from
--cluster-secret-file or EDGECACHE_CLUSTER_SECRET as the edge reads it.
Exits 0 only if every member confirmed; a purge may be repeated.

  edgecache purge --admin http://edge-1:8082 '/videos/intro.mp4?v=2'`

// runPurge is the `edgecache purge` command.
func runPurge(ctx context.Context, args []string, stdout, _ io.Writer) error {
	f := newFlagSet("purge", purgeSynopsis, stdout)
	admin, secretFile, timeout := "http://127.0.0.1:8082", "", 30*time.Second
	f.URL(&admin, "admin", "admin URL of any edge of the cluster")
	f.String(&secretFile, "cluster-secret-file", "file holding the cluster secret (or set "+SecretEnv+"); of two lines, the first signs")
	f.Duration(&timeout, "timeout", "bound on the whole purge, every member included")
	if err := f.parse(args, 1); err != nil {
		return err
	}
	path := ""
	switch {
	case len(f.args) == 0:
		f.p.addf("give the PATH of the object to purge, e.g. /videos/intro.mp4")
	case !strings.HasPrefix(f.args[0], "/"):
		f.p.addf("PATH %q must start with /", f.args[0])
	default:
		path = f.args[0]
	}
	f.require("admin", admin, "http://127.0.0.1:8082")
	if timeout <= 0 {
		f.p.addf("--timeout must be positive")
	}
	secrets, serr := clusterSecrets(secretFile)
	switch {
	case serr != nil:
		f.p.addf("%v", serr)
	case secrets == nil:
		f.p.addf("a cluster secret is required to sign the purge (--cluster-secret-file or %s)", SecretEnv)
	}
	if err := f.problems(); err != nil {
		return err
	}
	target, err := url.Parse(admin)
	if err != nil {
		return err // checked as a flag value already
	}
	target.Path = strings.TrimSuffix(target.Path, "/") + "/purge"
	target.RawQuery = "path=" + url.QueryEscape(path)
	res, err := purgeRequest(ctx, target.String(), secrets[0], timeout, time.Now) // the first secret signs
	if err != nil {
		return err
	}
	printPurge(stdout, res)
	if !res.AllConfirmed() {
		return fmt.Errorf("%d of %d members did not confirm the purge of %s; run it again once they are back", res.Failed, len(res.Members), res.Key)
	}
	return nil
}

// purgeRequest sends one signed POST to target and decodes the edge's
// answer. A 200 or a 502 carries a PurgeResult; anything else is an error
// with the edge's reason (401: the signature; 403: no secret on the edge).
func purgeRequest(ctx context.Context, target string, secret []byte, timeout time.Duration, now func() time.Time) (edge.PurgeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return edge.PurgeResult{}, err
	}
	edge.SignAdminRequest(req, nil, secret, now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return edge.PurgeResult{}, fmt.Errorf("POST %s: %w", target, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return edge.PurgeResult{}, fmt.Errorf("POST %s: reading the answer: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadGateway {
		return edge.PurgeResult{}, fmt.Errorf("POST %s: %s: %s", target, resp.Status, oneLine(string(body)))
	}
	var res edge.PurgeResult
	if err := json.Unmarshal(body, &res); err != nil {
		return edge.PurgeResult{}, fmt.Errorf("POST %s: %s with an answer that is not a purge result: %w", target, resp.Status, err)
	}
	return res, nil
}

// printPurge writes one line per member: whether it confirmed, and what it
// dropped or why it failed.
func printPurge(w io.Writer, res edge.PurgeResult) {
	fmt.Fprintf(w, "purge of %s (object key %s): %d of %d members confirmed\n", res.Path, res.Key, res.Confirmed, len(res.Members))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, m := range res.Members {
		self := ""
		if m.Self {
			self = " (asked)"
		}
		if !m.Confirmed {
			fmt.Fprintf(tw, "  FAILED\t%s%s\t%s\n", m.Addr, self, m.Error)
			continue
		}
		meta := "no metadata"
		if m.Metadata {
			meta = "metadata"
		}
		fmt.Fprintf(tw, "  confirmed\t%s%s\t%s, %d chunks and shards dropped\n", m.Addr, self, meta, m.Entries)
	}
	_ = tw.Flush()
}
