//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// The cluster's shape and sizes. The working set is small enough that every
// edge keeps all of it (its decoded chunks and its shards) within its
// cache, so that any origin read during a scenario is a refetch the fault
// caused, never an eviction.
const (
	numEdges  = 6
	peerAlias = "edgecache-peers" // the headless Service's name, as a network alias
	peerPort  = 8081
	cacheSize = "256MiB"
	// The container's memory limit: the edge's own Go memory limit for
	// this cache (256 MiB + 25% + 256 MiB = 576 MiB, see k8s/daemonset.yaml)
	// with room for what the Go runtime does not count.
	memoryLimit = "640m"
	// dnsInterval is ring.DNS's default re-resolve interval: how long an
	// edge may take to notice a member coming or going.
	dnsInterval = 5 * time.Second

	dockerTimeout = 90 * time.Second // any one docker command
	readyTimeout  = 30 * time.Second
	ringTimeout   = 30 * time.Second
)

// logLevel is the containers' --log-level: EDGECACHE_E2E_LOG_LEVEL, default
// info (debug shows every origin request, shard read failure and repair).
func logLevel() string {
	if v := os.Getenv("EDGECACHE_E2E_LOG_LEVEL"); v != "" {
		return v
	}
	return "info"
}

// image is the image under test.
func image() string {
	if v := os.Getenv("EDGECACHE_E2E_IMAGE"); v != "" {
		return v
	}
	return "edgecache:dev"
}

// docker runs one docker command, bounded by dockerTimeout, and returns its
// trimmed stdout; the error carries stderr.
func docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// node is one container of the cluster.
type node struct {
	name       string
	ip         string
	clientPort int // on 127.0.0.1 of the host: the client (or origin) port
	adminPort  int // on 127.0.0.1 of the host: the admin port (edges only)
	runArgs    []string
}

// url is the node's client base URL as the host reaches it.
func (n *node) url() string { return "http://127.0.0.1:" + strconv.Itoa(n.clientPort) }

// cluster is an origin and numEdges edges on their own Docker network.
type cluster struct {
	t       *testing.T
	id      string // unique per cluster: prefix of every name, value of the label
	network string
	prefix  string // the /24's first three octets
	origin  *node
	edges   []*node
}

// startCluster creates the network, the origin and the edges, and returns
// once every edge is ready and sees all the others. Everything is removed
// when the test ends, whatever happens.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	if _, err := docker("image", "inspect", "--format", "{{.Id}}", image()); err != nil {
		t.Fatalf("image %s is missing: run `make image` (or `make e2e`): %v", image(), err)
	}
	c := &cluster{t: t, id: "ece2e-" + randHex(4)}
	t.Cleanup(c.remove)

	// A private /24 of our own, so that every container has a fixed IP it
	// can advertise, as a pod advertises $(POD_IP). Another network may
	// hold the range we draw: try a few.
	for try := 0; ; try++ {
		third, _ := rand.Int(rand.Reader, big.NewInt(200))
		c.prefix = "172.28." + strconv.Itoa(int(third.Int64())+20)
		c.network = c.id
		_, err := docker("network", "create", "--driver", "bridge", "--subnet", c.prefix+".0/24",
			"--label", "edgecache-e2e="+c.id, c.network)
		if err == nil {
			break
		}
		if try == 7 || !strings.Contains(err.Error(), "overlap") {
			t.Fatalf("creating the network: %v", err)
		}
	}

	ports := freePorts(t, 1+2*numEdges)
	c.origin = &node{name: c.id + "-origin", ip: c.prefix + ".2", clientPort: ports[0]}
	c.origin.runArgs = []string{"-p", fmt.Sprintf("127.0.0.1:%d:9000", c.origin.clientPort),
		image(), "origin", "--synthetic", "--listen", ":9000", "--log-format", "json", "--log-level", logLevel()}
	c.run(c.origin)

	secret := randHex(24)
	for i := range numEdges {
		e := &node{
			name:       fmt.Sprintf("%s-edge%d", c.id, i+1),
			ip:         fmt.Sprintf("%s.%d", c.prefix, 11+i),
			clientPort: ports[1+2*i],
			adminPort:  ports[2+2*i],
		}
		e.runArgs = []string{
			"--network-alias", peerAlias,
			"-p", fmt.Sprintf("127.0.0.1:%d:8080", e.clientPort),
			"-p", fmt.Sprintf("127.0.0.1:%d:8082", e.adminPort),
			// The pod's hardening and memory budget, as in k8s/.
			"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
			"--memory", memoryLimit,
			"-e", "EDGECACHE_CLUSTER_SECRET=" + secret,
			image(), "edge",
			"--origin", "http://" + c.origin.ip + ":9000",
			"--peers-dns", fmt.Sprintf("%s:%d", peerAlias, peerPort),
			"--advertise", fmt.Sprintf("%s:%d", e.ip, peerPort),
			"--cache-size", cacheSize,
			"--shutdown-grace", "10s",
			"--log-format", "json", "--log-level", logLevel(),
		}
		c.edges = append(c.edges, e)
	}
	for _, e := range c.edges {
		c.run(e)
	}
	if err := waitHTTP(c.origin.url()+origin.StatsPath, readyTimeout); err != nil {
		t.Fatalf("origin: %v", err)
	}
	for _, e := range c.edges {
		if err := c.waitReady(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.waitRing(c.edges, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// run starts a node's container on the cluster network with its fixed IP.
func (c *cluster) run(n *node) {
	c.t.Helper()
	args := []string{"run", "-d", "--name", n.name, "--label", "edgecache-e2e=" + c.id,
		"--network", c.network, "--ip", n.ip}
	if _, err := docker(append(args, n.runArgs...)...); err != nil {
		c.t.Fatalf("starting %s: %v", n.name, err)
	}
}

// remove keeps the logs, then removes the containers and the network. It
// runs in t.Cleanup, also after a failure. A failed test prints the last
// lines of each container's log; with EDGECACHE_E2E_LOGS=DIR every test
// saves the whole logs in DIR/<test>/<container>.log.
func (c *cluster) remove() {
	dir := os.Getenv("EDGECACHE_E2E_LOGS")
	if dir != "" {
		dir = filepath.Join(dir, c.t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.t.Errorf("saving logs: %v", err)
			dir = ""
		}
	}
	for _, n := range append([]*node{c.origin}, c.edges...) {
		if n == nil {
			continue
		}
		if dir != "" {
			out, _ := exec.Command("docker", "logs", n.name).CombinedOutput()
			if err := os.WriteFile(filepath.Join(dir, strings.TrimPrefix(n.name, c.id+"-")+".log"), out, 0o644); err != nil {
				c.t.Errorf("saving logs: %v", err)
			}
		}
		if c.t.Failed() {
			out, _ := exec.Command("docker", "logs", "--tail", "15", n.name).CombinedOutput()
			c.t.Logf("last log lines of %s:\n%s", n.name, out)
		}
	}
	ids, err := docker("ps", "-aq", "--filter", "label=edgecache-e2e="+c.id)
	if err != nil {
		c.t.Errorf("cleanup: %v", err)
	}
	if ids != "" {
		if _, err := docker(append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...); err != nil {
			c.t.Errorf("cleanup: %v", err)
		}
	}
	if c.network != "" {
		if _, err := docker("network", "rm", c.network); err != nil && !strings.Contains(err.Error(), "not found") {
			c.t.Errorf("cleanup: %v", err)
		}
	}
}

// targets are the client URLs of the given edges, on the host's loopback.
func targets(edges ...*node) []string {
	var out []string
	for _, e := range edges {
		out = append(out, e.url())
	}
	return out
}

// waitReady waits for an edge's /readyz to answer 200.
func (c *cluster) waitReady(e *node) error {
	if err := waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/readyz", e.adminPort), readyTimeout); err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	return nil
}

// waitHTTP polls url until it answers 200, for at most timeout.
func waitHTTP(url string, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := hc.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("GET %s: not 200 within %v: %v", url, timeout, last)
}

// ringSize is the member count of the latest ring an edge logged between
// since and until (a zero time leaves that end open), and whether it logged
// one. It reads the edge's own JSON log line "ring: DNS peers changed"
// (on stderr, hence CombinedOutput).
func ringSize(e *node, since, until time.Time) (int, bool, error) {
	args := []string{"logs"}
	if !since.IsZero() {
		args = append(args, "--since", since.UTC().Format(time.RFC3339Nano))
	}
	if !until.IsZero() {
		args = append(args, "--until", until.UTC().Format(time.RFC3339Nano))
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", append(args, e.name)...).CombinedOutput()
	if err != nil {
		return 0, false, fmt.Errorf("docker logs %s: %w: %s", e.name, err, out)
	}
	n, found := lastRing(out)
	return n, found, nil
}

// lastRing finds the last "ring: DNS peers changed" line of a JSON log and
// returns its member count.
func lastRing(log []byte) (int, bool) {
	size, found := 0, false
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg   string `json:"msg"`
			Peers int    `json:"peers"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "ring: DNS peers changed" {
			size, found = line.Peers, true
		}
	}
	return size, found
}

// waitRing waits until every edge of edges has logged, after since, a ring
// of all numEdges members as its latest.
func (c *cluster) waitRing(edges []*node, since time.Time) error {
	deadline := time.Now().Add(ringTimeout)
	for {
		var behind []string
		for _, e := range edges {
			n, ok, err := ringSize(e, since, time.Time{})
			if err != nil {
				return err
			}
			if !ok || n != numEdges {
				behind = append(behind, fmt.Sprintf("%s (ring of %d, logged %v)", e.name, n, ok))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ring of %d not formed within %v: %s", numEdges, ringTimeout, strings.Join(behind, ", "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// originStats reads the origin's counters from the host.
func (c *cluster) originStats() (origin.ServerStats, error) {
	var st origin.ServerStats
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(c.origin.url() + origin.StatsPath)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("origin stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (c *cluster) mustOriginBytes() int64 {
	c.t.Helper()
	st, err := c.originStats()
	if err != nil {
		c.t.Fatal(err)
	}
	return st.BodyBytes
}

// freePorts returns n distinct free TCP ports of 127.0.0.1. Fixed ports,
// not Docker's ephemeral ones, because Docker gives a restarted container
// new ephemeral ports and the bench's targets must stay put. They are held
// together until all are chosen, so they are distinct; another process
// could take one before Docker binds it, which is unlikely enough.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
