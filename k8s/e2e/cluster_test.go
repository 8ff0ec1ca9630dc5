//go:build k8se2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The cluster's addresses. Three private ranges that Docker does not hand
// out by default (it uses 172.17.0.0/16 and up, and 192.168.0.0/16): the
// fabric every node and the control plane share, the pod CIDR (a /24 per
// node) and the Service CIDR. bringUp refuses to start if the host already
// routes any of them.
const (
	fabricNet   = "10.237.0.0/24"
	controlIP   = "10.237.0.1"   // API server, DNS, origin; the bridge in the control plane's namespace
	hostIP      = "10.237.0.254" // this test's own address on the fabric
	podNet      = "10.238.0.0/16"
	serviceNet  = "10.239.0.0/24"
	numNodes    = 3
	hostLink    = prefix + "-host" // the host's end of its link to the fabric
	controlNS   = prefix + "-cp"
	apiServer   = "https://" + controlIP + ":6443"
	originURL   = "http://" + controlIP + ":9000"
	clusterZone = "cluster.local"
)

// node is one Kubernetes node of the cluster: a network namespace with a
// kubelet, a containerd and a kube-proxy.
type node struct {
	i    int    // 1..numNodes
	name string // the Node object's name
	ns   string // network namespace
	ip   string // node address on the fabric
	cidr string // pod CIDR
	dir  string // under stateDir
	run  string // under runDir

	containerd, kubelet, proxy *proc
}

func newNode(i int) *node {
	return &node{
		i:    i,
		name: fmt.Sprintf("node-%d", i),
		ns:   fmt.Sprintf("%s-n%d", prefix, i),
		ip:   fmt.Sprintf("10.237.0.%d", 10+i),
		cidr: fmt.Sprintf("10.238.%d.0/24", i),
		dir:  filepath.Join(stateDir, fmt.Sprintf("n%d", i)),
		run:  filepath.Join(runDir, fmt.Sprintf("n%d", i)),
	}
}

// cluster is the running test cluster.
type cluster struct {
	t      *testing.T
	bins   string // the pinned Kubernetes components
	edge   string // the edgecache binary, for the reference origin
	images string // image archive: the edge (two tags), the pause and player image
	logs   string // every process's log, kept after the tear-down
	pki    *pki
	admin  string // the admin kubeconfig
	api    *http.Client
	procs  []*proc // control plane, in start order
	nodes  []*node
	dns    *dnsFeeder
}

// env returns the environment variable name or fails the test, saying how
// `make k8s-e2e` sets it.
func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the suite with `make k8s-e2e`, which builds what it names", name)
	}
	return v
}

// startCluster sweeps what an earlier run may have left, brings the
// cluster up, and registers its tear-down, which also runs on SIGINT or
// SIGTERM.
func startCluster(t *testing.T) *cluster {
	if os.Geteuid() != 0 {
		t.Fatal("the Kubernetes suite needs root (network namespaces, cgroups, mounts)")
	}
	c := &cluster{
		t:      t,
		bins:   env(t, "EDGECACHE_K8S_BIN"),
		edge:   env(t, "EDGECACHE_K8S_EDGECACHE"),
		images: env(t, "EDGECACHE_K8S_IMAGES"),
		logs:   env(t, "EDGECACHE_K8S_LOGS"),
	}
	if err := sweep(); err != nil {
		t.Fatalf("sweeping what an earlier run left: %v", err)
	}
	if err := os.RemoveAll(c.logs); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{c.logs, stateDir, runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkRanges(); err != nil {
		t.Fatal(err)
	}
	if err := saveHost(); err != nil {
		t.Fatal(err)
	}
	// The tear-down runs however the test ends: t.Cleanup for a failure or
	// a panic in the test, the signal handler for an interrupted run.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopSigs := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "k8s e2e: %v: tearing the cluster down\n", s)
			c.tearDown()
			os.Exit(1)
		case <-stopSigs:
		}
	}()
	t.Cleanup(func() {
		signal.Stop(sigs)
		close(stopSigs)
		c.tearDown()
	})
	for i := 1; i <= numNodes; i++ {
		c.nodes = append(c.nodes, newNode(i))
	}
	start := time.Now()
	c.step("network", c.network)
	c.step("control plane", c.controlPlane)
	for _, n := range c.nodes {
		c.step(n.name, func() error { return c.startNode(n) })
	}
	c.step("nodes ready", c.waitNodesReady)
	t.Logf("cluster up in %v: control plane at %s, nodes %s", time.Since(start).Round(time.Second), apiServer, c.nodeNames())
	return c
}

// step runs one bring-up step, failing the test with the step's name and
// the tails of the logs of whatever has exited.
func (c *cluster) step(name string, f func() error) {
	c.t.Helper()
	start := time.Now()
	if err := f(); err != nil {
		c.t.Fatalf("bring-up, %s: %v%s", name, err, c.exitedLogs())
	}
	c.t.Logf("bring-up, %s: %v", name, time.Since(start).Round(time.Millisecond))
}

// exitedLogs describes the processes that have exited, with their logs'
// last lines.
func (c *cluster) exitedLogs() string {
	var b strings.Builder
	for _, p := range c.allProcs() {
		if done, err := p.exited(); done {
			fmt.Fprintf(&b, "\n%s exited (%v); the end of %s:\n%s", p.name, err, p.log, p.tail(30))
		}
	}
	return b.String()
}

func (c *cluster) allProcs() []*proc {
	ps := append([]*proc(nil), c.procs...)
	for _, n := range c.nodes {
		for _, p := range []*proc{n.proxy, n.kubelet, n.containerd} {
			if p != nil {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

func (c *cluster) nodeNames() string {
	var names []string
	for _, n := range c.nodes {
		names = append(names, n.name+"="+n.ip)
	}
	return strings.Join(names, " ")
}

// checkRanges fails if the host already routes or holds an address in one
// of the suite's ranges: the suite must not shadow anybody's network.
func checkRanges() error {
	out, err := run("ip", "-4", "route", "show", "table", "all")
	if err != nil {
		return err
	}
	addrs, err := run("ip", "-4", "-o", "addr", "show")
	if err != nil {
		return err
	}
	for _, r := range []string{"10.237.", "10.238.", "10.239."} {
		if strings.Contains(out, r) || strings.Contains(addrs, r) {
			return fmt.Errorf("this host already uses %s0.0/16 (ip route / ip addr); the suite's ranges (%s, %s, %s) must be free",
				r, fabricNet, podNet, serviceNet)
		}
	}
	return nil
}

// network builds the fabric: the control plane's namespace holds a bridge;
// each node's namespace and the host are linked to it by a veth pair. Pod
// CIDRs are routed to their node's address; nothing has a default route.
func (c *cluster) network() error {
	cmds := [][]string{
		{"ip", "netns", "add", controlNS},
		{"ip", "-n", controlNS, "link", "set", "lo", "up"},
		{"ip", "-n", controlNS, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", controlNS, "addr", "add", controlIP + "/24", "dev", "br0"},
		{"ip", "-n", controlNS, "link", "set", "br0", "up"},
		{"ip", "link", "add", hostLink, "type", "veth", "peer", "name", "host", "netns", controlNS},
		{"ip", "-n", controlNS, "link", "set", "host", "master", "br0", "up"},
		{"ip", "addr", "add", hostIP + "/24", "dev", hostLink},
		{"ip", "link", "set", hostLink, "up"},
	}
	for _, n := range c.nodes {
		cmds = append(cmds,
			[]string{"ip", "netns", "add", n.ns},
			[]string{"ip", "-n", n.ns, "link", "set", "lo", "up"},
			[]string{"ip", "-n", controlNS, "link", "add", n.ns, "type", "veth", "peer", "name", "eth0", "netns", n.ns},
			[]string{"ip", "-n", controlNS, "link", "set", n.ns, "master", "br0", "up"},
			[]string{"ip", "-n", n.ns, "addr", "add", n.ip + "/24", "dev", "eth0"},
			[]string{"ip", "-n", n.ns, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", controlNS, "route", "add", n.cidr, "via", n.ip},
			[]string{"ip", "route", "add", n.cidr, "via", n.ip, "dev", hostLink},
		)
		for _, m := range c.nodes {
			if m != n {
				cmds = append(cmds, []string{"ip", "-n", n.ns, "route", "add", m.cidr, "via", m.ip})
			}
		}
	}
	for _, cmd := range cmds {
		if _, err := run(cmd[0], cmd[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// tearDown stops everything and removes every trace: the components in
// reverse order (so that nothing restarts what was just stopped), then the
// sweep. Errors are reported, never fatal: the rest must still be removed.
func (c *cluster) tearDown() {
	start := time.Now()
	if c.dns != nil {
		c.dns.stop()
	}
	for _, n := range c.nodes {
		for _, p := range []*proc{n.proxy, n.kubelet} {
			if p != nil {
				_ = p.stop(10 * time.Second)
			}
		}
	}
	for _, n := range c.nodes {
		if n.containerd != nil {
			c.removeContainers(n)
			_ = n.containerd.stop(10 * time.Second)
		}
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		_ = c.procs[i].stop(10 * time.Second)
	}
	if err := sweep(); err != nil {
		c.t.Errorf("tear-down: %v", err)
	}
	if err := checkClean(); err != nil {
		c.t.Errorf("tear-down left the host changed: %v", err)
	}
	c.t.Logf("tear-down: %v (logs kept in %s)", time.Since(start).Round(time.Millisecond), c.logs)
}

// removeContainers stops and deletes a node's containers through its
// containerd, so that their shims and mounts go the orderly way; the
// sweep kills and unmounts whatever is left.
func (c *cluster) removeContainers(n *node) {
	ctr := func(args ...string) (string, error) {
		return run("ctr", append([]string{"--address", n.sock(), "--namespace", "k8s.io"}, args...)...)
	}
	ids, err := ctr("containers", "list", "--quiet")
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for id := range strings.FieldsSeq(ids) {
		if ctx.Err() != nil {
			return
		}
		_, _ = ctr("tasks", "kill", "--signal", "SIGKILL", id)
		_, _ = ctr("tasks", "delete", "--force", id)
		_, _ = ctr("containers", "delete", id)
	}
}

// checkClean verifies that nothing of the suite is left on the host.
func checkClean() error {
	var left []string
	if m, _ := filepath.Glob("/run/netns/" + prefix + "-*"); len(m) > 0 {
		left = append(left, fmt.Sprintf("network namespaces %v", m))
	}
	if _, err := run("ip", "link", "show", hostLink); err == nil {
		left = append(left, "link "+hostLink)
	}
	if err := checkRanges(); err != nil {
		left = append(left, "routes or addresses in the suite's ranges")
	}
	for _, h := range hierarchies() {
		if _, err := os.Stat(filepath.Join(h, prefix)); err == nil {
			left = append(left, "cgroup "+filepath.Join(h, prefix))
		}
	}
	for _, d := range []string{stateDir, runDir, hostState} {
		if _, err := os.Stat(d); err == nil {
			left = append(left, d)
		}
	}
	if len(left) > 0 {
		return errors.New(strings.Join(left, "; "))
	}
	return nil
}
