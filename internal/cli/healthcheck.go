package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const healthcheckSynopsis = `Probe an edge's admin endpoint and exit 0 if it answers 2xx, else print
one line saying why and exit 1. It is the container's HEALTHCHECK: the
image is FROM scratch, with no shell and no curl.

Without --url (or EDGECACHE_URL), the port is taken from
EDGECACHE_ADMIN_LISTEN when that is set, so that a container whose admin
listener was moved is still probed where it listens.`

// defaultHealthURL is the admin listener's liveness endpoint at its default
// port (edge --admin-listen :8082).
const defaultHealthURL = "http://127.0.0.1:8082/healthz"

// runHealthcheck is the `edgecache healthcheck` command.
func runHealthcheck(ctx context.Context, args []string, stdout, _ io.Writer) error {
	f := newFlagSet("healthcheck", healthcheckSynopsis, stdout)
	target, timeout := defaultHealthURL, 2*time.Second
	f.URL(&target, "url", "URL to GET; any 2xx answer is healthy")
	f.Duration(&timeout, "timeout", "bound on the whole probe, connect to last byte")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	if !f.given["url"] && !f.fromEnv("url") {
		target = healthURLFor(os.Getenv(EnvName("admin-listen")))
	}
	if timeout <= 0 {
		f.p.addf("--timeout must be positive")
	}
	f.require("url", target, defaultHealthURL)
	if err := f.problems(); err != nil {
		return err
	}
	return probe(ctx, target, timeout)
}

// healthURLFor returns the liveness URL on loopback for an admin listener
// address such as ":8082" or "0.0.0.0:9090"; the default URL when the
// address is empty or has no port.
func healthURLFor(adminListen string) string {
	if adminListen == "" {
		return defaultHealthURL
	}
	_, port, err := net.SplitHostPort(adminListen)
	if err != nil || port == "" || port == "0" {
		return defaultHealthURL
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz"
}

// probe GETs target once within timeout and returns nil for a 2xx answer.
// It uses its own transport: no proxy from the environment (a probe of
// loopback must never leave the container) and no kept-alive connection
// (the process exits right after).
func probe(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		// A redirect from a health endpoint is a misconfiguration, not
		// health: report it instead of following it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: no answer within %v", target, timeout)
		}
		return fmt.Errorf("GET %s: %w", target, unwrapURLError(err))
	}
	defer resp.Body.Close()
	// Read a little of the body: it names the reason ("not ready"), and
	// draining it lets the server finish its response cleanly.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		reason := oneLine(string(body))
		if reason == "" {
			return fmt.Errorf("GET %s: %s", target, resp.Status)
		}
		return fmt.Errorf("GET %s: %s: %s", target, resp.Status, reason)
	}
	return nil
}

// unwrapURLError drops the *url.Error wrapper, which repeats the method and
// URL the caller already prints.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// oneLine squeezes a response body into a short single line, so that the
// reason is one line on stderr whatever the server sent.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}
