//go:build k8se2e

package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestKubernetes deploys k8s/ as k8s/README.md says and checks, one step
// after the other, what a user relies on. A step that fails ends the test
// (the later ones build on it); the cluster is torn down either way.
func TestKubernetes(t *testing.T) {
	c := startCluster(t)
	o, err := newOverlay(filepath.Join(stateDir, "overlay"), edgeTag, c.nodes)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{c: c, o: o}
	for _, step := range []struct {
		name string
		f    func(t *testing.T)
	}{
		{"server-side dry run", s.dryRun},
		{"client-side then server-side apply", s.apply},
		{"re-apply and diff are clean", s.reapply},
		{"one edge pod running per node", s.edgePerNode},
		{"the edges form one ring through the headless Service", s.ring},
		{"every edge Ready", s.allReady},
		{"metrics and status page on the admin port", s.admin},
		{"players read from their own node's edge", s.playersReadLocally},
		{"an edge pod deleted under load", s.deletePod},
		{"a kubelet stopped under load", s.stopKubelet},
		{"a rollout of a new image tag under load", s.rollout},
	} {
		if !t.Run(step.name, step.f) {
			t.Fatalf("step %q failed: the steps after it build on it and were not run", step.name)
		}
	}
}

// suite is the state the steps share.
type suite struct {
	c    *cluster
	o    *overlay
	pods map[string]corev1.Pod // the edge pods by node, as last waited for
}

func (s *suite) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.c.kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dryRun: the namespace first (a server-side dry run creates nothing, so
// the namespaced objects would find no namespace), then the whole
// deployment, client-side and server-side apply, validated by the server
// and persisting nothing.
func (s *suite) dryRun(t *testing.T) {
	s.kubectl(t, "apply", "-f", filepath.Join(s.o.dir, s.o.base, "namespace.yaml"))
	s.kubectl(t, "apply", "-k", s.o.dir, "--dry-run=server")
	s.kubectl(t, "apply", "--server-side", "-k", s.o.dir, "--dry-run=server")
	if out, err := s.c.kubectl("-n", edgeNS, "get", "daemonset", "edgecache"); err == nil {
		t.Fatalf("a dry run created the DaemonSet: %s", out)
	}
}

// apply: the README's client-side apply, then a server-side apply over
// it, which conflicts on any field the server defaults and the manifests
// leave out inside an atomic structure (a fieldRef without apiVersion).
// Every apply that reaches the DaemonSet warns exactly once, of the
// hostPath volume the node-disk component brings (its documented cost):
// any other warning is a deviation from the restricted Pod Security level.
func (s *suite) apply(t *testing.T) {
	for _, args := range [][]string{{"apply", "-k", s.o.dir}, {"apply", "--server-side", "-k", s.o.dir}} {
		out := s.kubectl(t, args...)
		t.Log(out)
		if n := strings.Count(out, hostPathWarning); n != 1 {
			t.Errorf("kubectl %s: the node-disk component's warning %d times, want once", strings.Join(args, " "), n)
		}
		if rest := withoutHostPathWarning(out); strings.Contains(rest, "Warning:") {
			t.Errorf("kubectl %s: a warning besides the node-disk component's:\n%s", strings.Join(args, " "), rest)
		}
	}
}

// hostPathWarning is what Pod Security, enforcing privileged but warning
// at restricted (k8s/components/node-disk), says of the disk volume.
const hostPathWarning = `Warning: would violate PodSecurity "restricted:latest": restricted volume types (volume "disk" uses restricted volume type "hostPath")`

// withoutHostPathWarning returns kubectl's output without the lines of
// hostPathWarning.
func withoutHostPathWarning(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if strings.TrimSpace(line) != hostPathWarning {
			b.WriteString(line)
		}
	}
	return b.String()
}

// reapply: applying again changes nothing. The first client-side apply
// after a server-side one may report "configured" (it takes the fields
// back into its own last-applied record); the second must find every
// object unchanged. No apply may change the DaemonSet's spec (its
// generation), which would roll every edge; and kubectl diff, client- and
// server-side, finds nothing to change (the server-side diff's dry run
// warns of the hostPath volume, as every apply does).
func (s *suite) reapply(t *testing.T) {
	gen := s.dsGeneration(t)
	s.kubectl(t, "apply", "-k", s.o.dir)
	for line := range strings.Lines(s.kubectl(t, "apply", "-k", s.o.dir)) {
		if !strings.HasSuffix(strings.TrimSpace(line), " unchanged") {
			t.Errorf("kubectl apply -k, applied twice: the second changed something: %q", line)
		}
	}
	s.kubectl(t, "apply", "--server-side", "-k", s.o.dir)
	for _, args := range [][]string{{"diff", "-k", s.o.dir}, {"diff", "--server-side", "-k", s.o.dir}} {
		if out, err := s.c.kubectl(args...); err != nil || withoutHostPathWarning(out) != "" {
			t.Errorf("kubectl %s after apply: want no difference, got %v:\n%s", strings.Join(args, " "), err, out)
		}
	}
	if g := s.dsGeneration(t); g != gen {
		t.Errorf("re-applying the same manifests changed the DaemonSet's spec (generation %d, was %d)", g, gen)
	}
}

// dsGeneration reads the DaemonSet's metadata.generation.
func (s *suite) dsGeneration(t *testing.T) int {
	t.Helper()
	out := s.kubectl(t, "-n", edgeNS, "get", "daemonset", "edgecache", "-o", "jsonpath={.metadata.generation}")
	var g int
	if _, err := fmt.Sscan(out, &g); err != nil {
		t.Fatalf("generation %q: %v", out, err)
	}
	return g
}

// edgePerNode: the DaemonSet runs one edge on each node.
func (s *suite) edgePerNode(t *testing.T) {
	var pods map[string]corev1.Pod
	err := poll(3*time.Minute, time.Second, func() (bool, error) {
		var err error
		if pods, err = s.c.edgePods(); err != nil {
			return false, err
		}
		for _, n := range s.c.nodes {
			p, ok := pods[n.name]
			if !ok || p.Status.PodIP == "" || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
				return false, fmt.Errorf("no running edge on %s", n.name)
			}
		}
		return true, nil
	}, "an edge running on every node")
	if err != nil {
		t.Fatalf("%v%s", err, s.c.exitedLogs())
	}
	s.pods = pods
	for node, p := range pods {
		t.Logf("%s: edge %s at %s", node, p.Name, p.Status.PodIP)
	}
}

// ring: each edge lists the three edges (pod IP and peer port) as its
// ring. An edge is Ready only once it has a member list, so this comes
// first: a broken discovery fails here, saying so, rather than as a
// rollout that never completes.
func (s *suite) ring(t *testing.T) {
	if err := s.c.waitRing(s.pods, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// allReady: the rollout completes with every edge Ready.
func (s *suite) allReady(t *testing.T) {
	if _, err := s.c.kubectl("-n", edgeNS, "rollout", "status", "daemonset/edgecache", "--timeout=3m"); err != nil {
		t.Fatalf("%v%s", err, s.c.exitedLogs())
	}
	pods, err := s.c.waitEdges(edgeTag, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s.pods = pods
}

// admin: each edge answers its metrics, status page and status JSON on
// the admin port.
func (s *suite) admin(t *testing.T) {
	for node, p := range s.pods {
		base := "http://" + p.Status.PodIP + ":" + adminPort
		metrics, hdr, err := httpGet(base + "/metrics")
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		if !strings.Contains(string(metrics), "edgecache_") || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: /metrics (%s) has no edgecache_ metric", node, hdr.Get("Content-Type"))
		}
		page, hdr, err := httpGet(base + "/")
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		if !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(string(page), p.Status.PodIP+":"+peerPort) {
			t.Errorf("%s: the status page (%s) does not name the edge %s", node, hdr.Get("Content-Type"), p.Status.PodIP)
		}
		st, err := edgeStatus(p.Status.PodIP)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Ready || st.Node != p.Status.PodIP+":"+peerPort {
			t.Errorf("%s: status.json says node %q ready %v", node, st.Node, st.Ready)
		}
	}
}

// requestTotals reads every edge's client request counter, by node.
func (s *suite) requestTotals(t *testing.T) map[string]int64 {
	t.Helper()
	totals := map[string]int64{}
	for node, p := range s.pods {
		st, err := edgeStatus(p.Status.PodIP)
		if err != nil {
			t.Fatal(err)
		}
		totals[node] = st.Totals.Requests
	}
	return totals
}

// playersReadLocally: a player on each node in turn reads the working set
// whole through the client Service. Only its own node's edge counts the
// requests (internalTrafficPolicy: Local), every byte is right, and the
// origin sends the working set once for the whole cluster.
func (s *suite) playersReadLocally(t *testing.T) {
	if err := s.c.playerNamespace(); err != nil {
		t.Fatal(err)
	}
	before, err := originStats()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.c.nodes {
		totals := s.requestTotals(t)
		name := "read-" + n.name
		if err := s.c.startPlayer(name, n, wholeArgs()); err != nil {
			t.Fatal(err)
		}
		sum, err := s.c.playerResult(name, 3*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("player on %s: %v", n.name, sum)
		if sum.OK != objects || sum.Failed != 0 || sum.Bytes != workingSet {
			t.Errorf("player on %s: want %d whole objects read, every byte right; got %v", n.name, objects, sum)
		}
		after := s.requestTotals(t)
		for node := range after {
			want := int64(0)
			if node == n.name {
				want = objects
			}
			if got := after[node] - totals[node]; got != want {
				t.Errorf("the player on %s: the edge on %s counted %d client requests, want %d (internalTrafficPolicy: Local)", n.name, node, got, want)
			}
		}
	}
	after, err := originStats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("origin: %d requests, %d bytes for 3 reads of the %d-byte working set", after.Requests-before.Requests, after.BodyBytes-before.BodyBytes, workingSet)
	if got := after.BodyBytes - before.BodyBytes; got != workingSet {
		t.Errorf("the origin sent %d bytes for three players reading the %d-byte working set: each chunk should leave it once for the cluster", got, workingSet)
	}
}

// checkPlayers waits for players and fails on any request lost beyond the
// README's retry, or any wrong byte.
func (s *suite) checkPlayers(t *testing.T, names []string, timeout time.Duration) {
	t.Helper()
	for _, name := range names {
		sum, err := s.c.playerResult(name, timeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v", name, sum)
		if sum.Failed != 0 || sum.Mismatches != 0 || sum.OK == 0 {
			t.Errorf("%s: %d requests failed (%d with wrong bytes) of %d: want none beyond retried connections; %v",
				name, sum.Failed, sum.Mismatches, sum.Requests, sum.Errors)
		}
	}
}

// originDelta returns what the origin sent since before.
func originDelta(t *testing.T, before int64) int64 {
	t.Helper()
	st, err := originStats()
	if err != nil {
		t.Fatal(err)
	}
	return st.BodyBytes - before
}

func originBytes(t *testing.T) int64 {
	t.Helper()
	return originDelta(t, 0)
}

// deletePod: under load on every node, one node's edge pod is deleted.
// The DaemonSet replaces it; its players retry while the node has no
// edge; the others notice nothing; and no cached chunk is lost: the
// origin sends nothing, also when the new edge then serves the whole set.
func (s *suite) deletePod(t *testing.T) {
	const load = 45 * time.Second
	victim := s.c.nodes[1]
	before := originBytes(t)
	names, err := s.c.runPlayers("delete", func(n *node) []string { return loadArgs(load, n.i) })
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.kubectl(t, "-n", edgeNS, "delete", "pod", s.pods[victim.name].Name, "--wait=false")
	pods, err := s.c.waitEdges(edgeTag, load)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.c.waitRing(pods, time.Minute); err != nil {
		t.Fatal(err)
	}
	back := time.Since(start)
	t.Logf("%s's edge replaced by %s (%s) and on every ring %v after the delete",
		victim.name, pods[victim.name].Name, pods[victim.name].Status.PodIP, back.Round(time.Second))
	if back > load-5*time.Second {
		t.Errorf("the replacement took %v, longer than the load (%v) it is checked under", back.Round(time.Second), load)
	}
	s.pods = pods
	s.checkPlayers(t, names, load+2*time.Minute)
	if got := originDelta(t, before); got != 0 {
		t.Errorf("the origin sent %d bytes while an edge pod was replaced under load: cached chunks were lost", got)
	}
	// The new edge serves the whole set from its disk and its peers' shards.
	mid := originBytes(t)
	if err := s.c.startPlayer("after-delete", victim, wholeArgs()); err != nil {
		t.Fatal(err)
	}
	sum, err := s.c.playerResult("after-delete", 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != objects || sum.Failed != 0 {
		t.Errorf("the new edge on %s: %v", victim.name, sum)
	}
	if got := originDelta(t, mid); got != 0 {
		t.Errorf("the new edge on %s read the working set with %d origin bytes, want 0 (from its disk and its peers)", victim.name, got)
	}
}

// stopKubelet: under load, one node's kubelet stops until the control
// plane marks the node NotReady, then starts again. Its edge keeps running
// (same pod, no restart, its cache intact) and stays on every ring
// (publishNotReadyAddresses); its players retry while the node's edge is
// marked not ready; nothing is refetched.
func (s *suite) stopKubelet(t *testing.T) {
	const load = 70 * time.Second
	victim := s.c.nodes[2]
	pod := s.pods[victim.name]
	st0, err := edgeStatus(pod.Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	before := originBytes(t)
	names, err := s.c.runPlayers("kubelet", func(n *node) []string { return loadArgs(load, 10+n.i) })
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := victim.kubelet.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := poll(2*time.Minute, time.Second, func() (bool, error) {
		var n corev1.Node
		if err := s.c.get("/api/v1/nodes/"+victim.name, &n); err != nil {
			return false, err
		}
		return !nodeReady(&n), nil
	}, victim.name+" to be marked NotReady"); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s NotReady %v after its kubelet stopped", victim.name, time.Since(start).Round(time.Second))
	// The controller marks the node's pods not ready, and the client
	// Service loses the node's edge although it still runs: from then on
	// the node's players are refused, and retry, until the kubelet is back.
	if err := poll(time.Minute, time.Second, func() (bool, error) {
		ready, err := s.c.endpointReady("edgecache", victim.name)
		return err == nil && !ready, err
	}, "the client Service to drop "+victim.name+"'s edge"); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s's edge out of the client Service %v after its kubelet stopped", victim.name, time.Since(start).Round(time.Second))
	// A peer's view: the edge whose kubelet is gone is still on the ring.
	if err := s.c.waitRing(s.pods, 30*time.Second); err != nil {
		t.Errorf("while %s's kubelet was stopped: %v", victim.name, err)
	}
	if err := victim.kubelet.start(); err != nil {
		t.Fatal(err)
	}
	pods, err := s.c.waitEdges(edgeTag, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	back := time.Since(start)
	t.Logf("%s's edge Ready again %v after its kubelet stopped", victim.name, back.Round(time.Second))
	if back > load-5*time.Second {
		t.Errorf("the kubelet was away %v, longer than the load (%v) it is checked under", back.Round(time.Second), load)
	}
	s.checkPlayers(t, names, load+2*time.Minute)
	if p := pods[victim.name]; p.UID != pod.UID || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("%s's edge was replaced or restarted (pod %s, restarts %d), want the same pod %s running on",
			victim.name, p.UID, p.Status.ContainerStatuses[0].RestartCount, pod.UID)
	}
	if st, err := edgeStatus(pod.Status.PodIP); err != nil {
		t.Error(err)
	} else if !st.Started.Equal(st0.Started) {
		t.Errorf("%s's edge restarted (started %v, was %v): its cache is gone", victim.name, st.Started, st0.Started)
	}
	if got := originDelta(t, before); got != 0 {
		t.Errorf("the origin sent %d bytes while a kubelet was stopped: cached chunks were lost", got)
	}
}

// rollout: under load on every node, the image tag changes and the
// DaemonSet replaces the edges one node at a time: each new edge had been
// Ready for minReadySeconds before the next was started. No player loses
// a request beyond the retry, no byte is wrong, and the origin is not
// asked again: every new edge starts on its node's disk tier.
func (s *suite) rollout(t *testing.T) {
	const load = 110 * time.Second
	before := originBytes(t)
	names, err := s.c.runPlayers("rollout", func(n *node) []string { return loadArgs(load, 20+n.i) })
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.o.setTag(rolloutTag); err != nil {
		t.Fatal(err)
	}
	s.kubectl(t, "apply", "-k", s.o.dir)
	if _, err := s.c.kubectl("-n", edgeNS, "rollout", "status", "daemonset/edgecache", "--timeout=5m"); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	pods, err := s.c.waitEdges(rolloutTag, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rollout to %s: %v", rolloutTag, took.Round(time.Second))
	if took > load-10*time.Second {
		t.Errorf("the rollout took %v, longer than the load (%v) it is checked under", took.Round(time.Second), load)
	}
	checkOneAtATime(t, pods, minReadySeconds(t, s))
	s.checkPlayers(t, names, load+2*time.Minute)
	if err := s.c.waitRing(pods, time.Minute); err != nil {
		t.Error(err)
	}
	// Each new edge finds its node's disk tier as the old one left it
	// (k8s/components/node-disk), and serves its shards at once: the
	// ring holds the whole working set throughout.
	if got := originDelta(t, before); got != 0 {
		t.Errorf("the origin sent %d bytes during the rollout, want 0: a new edge should find its node's disk as the old one left it", got)
	}
}

// minReadySeconds reads the DaemonSet's minReadySeconds.
func minReadySeconds(t *testing.T, s *suite) time.Duration {
	t.Helper()
	out := s.kubectl(t, "-n", edgeNS, "get", "daemonset", "edgecache", "-o", "jsonpath={.spec.minReadySeconds}")
	var n int
	if _, err := fmt.Sscan(out, &n); err != nil {
		t.Fatalf("minReadySeconds %q: %v", out, err)
	}
	return time.Duration(n) * time.Second
}

// checkOneAtATime checks from the new pods' own timestamps that each was
// created only after the one before had been Ready for minReady.
// Timestamps have whole seconds: a second of slack.
func checkOneAtATime(t *testing.T, pods map[string]corev1.Pod, minReady time.Duration) {
	t.Helper()
	list := make([]corev1.Pod, 0, len(pods))
	for _, p := range pods {
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, b corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	for i := 1; i < len(list); i++ {
		_, readyAt := podReady(&list[i-1])
		if created := list[i].CreationTimestamp.Time; created.Before(readyAt.Add(minReady - time.Second)) {
			t.Errorf("%s (%s) was created at %v, before %s (%s) had been Ready for %v (Ready at %v): the rollout was not one node at a time",
				list[i].Name, list[i].Spec.NodeName, created, list[i-1].Name, list[i-1].Spec.NodeName, minReady, readyAt)
		}
	}
	var order []string
	for _, p := range list {
		order = append(order, p.Spec.NodeName)
	}
	t.Logf("rollout order: %s", strings.Join(order, ", "))
}
