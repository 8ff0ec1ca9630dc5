package systemtest

// Tests of the Kubernetes manifests in k8s/ at work: their configuration
// starts a real edge whose probes answer, the rollout and resources agree
// with the Dockerfile and the memory budget, and kustomize renders them
// (that test needs kubectl and is skipped without it).

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/cli"
)

// startProbeNode runs an edge on loopback for the test and returns its admin
// address once it is ready.
func startProbeNode(t *testing.T) string {
	t.Helper()
	cfg := edge.DefaultConfig()
	cfg.Origin, cfg.Listen, cfg.PeerListen, cfg.AdminListen = "http://127.0.0.1:9", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	n, err := edge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("edge Run: %v", err)
		}
	})
	return n.AdminAddr()
}

// getStatus GETs url and returns its status, retrying briefly while the
// node starts.
func getStatus(t *testing.T, url string) int {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for range 20 {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				return resp.StatusCode
			}
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: not answering: %v", url, last)
	return 0
}

// The container's whole configuration (its args, with $(VAR) expanded, and
// its environment) is accepted by the real edge command: a value such as
// EDGECACHE_CACHE_SIZE: "1 gigabyte" would fail here, not in a crash loop.
func TestManifestConfigurationStartsAnEdge(t *testing.T) {
	m := loadManifests(t)
	c := m.edgeContainer(t)
	env := containerEnv(t, m, c)
	var args []string
	for _, a := range c.Args {
		args = append(args, expandVars(a, env))
	}
	// Listen on loopback ports of the test's choosing; args win over env,
	// so these last ones override the manifest's listeners only.
	args = append(args, "--listen=127.0.0.1:0", "--peer-listen=127.0.0.1:0", "--admin-listen=127.0.0.1:0")
	// The disk tier's directories exist only in the pod, and its size is
	// a file allocated whole: the same number of directories of the
	// test's, of the smallest size the edge takes (16 chunks). The real
	// values are validated by TestManifestDiskTier.
	if cfg := edgeConfig(t, m); len(cfg.DiskPaths) > 0 {
		dirs := make([]string, len(cfg.DiskPaths))
		for i := range dirs {
			dirs[i] = t.TempDir()
		}
		args = append(args, "--disk-path="+strings.Join(dirs, ","), "--disk-size="+strconv.FormatInt(edge.MinDiskSize(cfg.ChunkSize, cfg.DiskChunkShare), 10))
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // start, then drain at once
	var stderr bytes.Buffer
	if code := cli.Run(ctx, args, io.Discard, &stderr); code != 0 {
		t.Fatalf("edgecache %s with the manifest's environment: exit %d:\n%s", strings.Join(args, " "), code, stderr.String())
	}
}

// The DaemonSet rolls out without losing what the ring holds, and its pod
// fits what the configuration asks for: a memory limit that covers the
// cache, its overhead and the disk tier's index and queue; a grace period
// that covers preStop and the drain; a non-root user with a read-only
// root file system, the image's own user and ports.
func TestManifestRolloutAndResources(t *testing.T) {
	m := loadManifests(t)
	ds := m.daemonSet
	c := m.edgeContainer(t)
	flags := commandFlags(t, "edge")
	args := parseArgs(t, c.Args[1:])
	env := containerEnv(t, m, c)

	// A rollout never takes down more owners of a chunk than it can lose.
	us := ds.Spec.UpdateStrategy
	if us.Type != appsv1.RollingUpdateDaemonSetStrategyType || us.RollingUpdate == nil || us.RollingUpdate.MaxUnavailable == nil {
		t.Fatalf("updateStrategy %+v: want RollingUpdate with maxUnavailable", us)
	}
	mu := us.RollingUpdate.MaxUnavailable
	if mu.Type != intstr.Int {
		t.Fatalf("maxUnavailable %s: want a number of pods; a percentage of nodes can exceed the parity shards", mu.String())
	}
	parity, err := strconv.Atoi(effective("parity-shards", args, env, flags))
	if err != nil {
		t.Fatal(err)
	}
	if mu.IntVal < 1 || int(mu.IntVal) > parity {
		t.Errorf("maxUnavailable %d, want 1..%d (the parity shards): more would lose cached chunks", mu.IntVal, parity)
	}

	// Memory: the limit covers the cache plus the documented overhead and
	// the disk tier, as the edge itself computes them (cli.MemoryLimit:
	// 25% of the cache + 256 MiB; cli.DiskMemory: per disk path, its queue
	// and index), from the ConfigMap's values; GOMEMLIMIT follows the limit.
	cfg := edgeConfig(t, m)
	limit, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		t.Fatal("no memory limit")
	}
	if need := edgeMemoryNeed(cfg); limit.Value() < need {
		t.Errorf("memory limit %s < cache %s + documented overhead + disk tier %s (%d × --disk-size %s) = %s", limit.String(),
			cli.FormatSize(cfg.CacheSize), mib(cli.DiskMemory(cfg)), len(cfg.DiskPaths), cli.FormatSize(cfg.DiskSize), mib(need))
	}
	if req, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok || req.Cmp(limit) != 0 {
		t.Errorf("memory request %v, want the limit %s: the cache is all used once warm", req.String(), limit.String())
	}
	var gomem *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "GOMEMLIMIT" {
			gomem = &c.Env[i]
		}
	}
	if gomem == nil || gomem.ValueFrom == nil || gomem.ValueFrom.ResourceFieldRef == nil ||
		gomem.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("GOMEMLIMIT: want it from resourceFieldRef limits.memory, got %+v", gomem)
	} else if d := gomem.ValueFrom.ResourceFieldRef.Divisor; !d.IsZero() && d.Value() != 1 {
		t.Errorf("GOMEMLIMIT divisor %s: want 1, GOMEMLIMIT without a unit is bytes", d.String())
	}

	// Termination: preStop, then the drain, fit in the grace period.
	grace, err := time.ParseDuration(effective("shutdown-grace", args, env, flags))
	if err != nil {
		t.Fatal(err)
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	tgp := ds.Spec.Template.Spec.TerminationGracePeriodSeconds
	if tgp == nil || time.Duration(*tgp)*time.Second < preStop+grace+2*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v < preStop %v + --shutdown-grace %v + margin: the kubelet would kill a draining edge", tgp, preStop, grace)
	}

	// Hardening, and the same user as the image.
	ps, sc := ds.Spec.Template.Spec.SecurityContext, c.SecurityContext
	if sc == nil || ps == nil {
		t.Fatal("missing securityContext")
	}
	uid := dockerfileUser(t)
	switch {
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot is not true")
	case sc.RunAsUser == nil || *sc.RunAsUser != uid:
		t.Errorf("runAsUser %v, want %d as in the Dockerfile", sc.RunAsUser, uid)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem is not true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v, want drop ALL and add none", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("seccompProfile is not RuntimeDefault")
	}
	if ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot {
		t.Error("pod securityContext: runAsNonRoot is not true")
	}
	if e := ds.Spec.Template.Spec.EnableServiceLinks; e == nil || *e {
		t.Error("enableServiceLinks is not false: Services named edgecache-* would inject EDGECACHE_* variables")
	}

	// The secret comes from the Secret the kustomization generates.
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		found := false
		for _, g := range m.kust.SecretGenerator {
			for _, kv := range append(slices.Clone(g.Literals), g.Files...) {
				k, _, _ := strings.Cut(kv, "=")
				found = found || (g.Name == ref.Name && k == ref.Key)
			}
		}
		if !found {
			t.Errorf("env %s: secret %s key %s is not generated by the kustomization", e.Name, ref.Name, ref.Key)
		}
	}

	// The image exposes what the pod uses.
	exposed := dockerfileExposed(t)
	for _, p := range c.Ports {
		if !exposed[p.ContainerPort] {
			t.Errorf("container port %s %d is not EXPOSEd by the Dockerfile", p.Name, p.ContainerPort)
		}
	}
}

func dockerfileLines(t *testing.T, instr string) [][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for line := range strings.SplitSeq(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.EqualFold(f[0], instr) {
			out = append(out, f[1:])
		}
	}
	return out
}

func dockerfileUser(t *testing.T) int64 {
	t.Helper()
	users := dockerfileLines(t, "USER")
	if len(users) != 1 || len(users[0]) != 1 {
		t.Fatalf("Dockerfile USER lines %q: want one", users)
	}
	uid, _, _ := strings.Cut(users[0][0], ":")
	n, err := strconv.ParseInt(uid, 10, 64)
	if err != nil || n == 0 {
		t.Fatalf("Dockerfile USER %q: want a numeric non-root uid", users[0][0])
	}
	return n
}

func dockerfileExposed(t *testing.T) map[int32]bool {
	t.Helper()
	out := map[int32]bool{}
	for _, ports := range dockerfileLines(t, "EXPOSE") {
		for _, p := range ports {
			n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
			if err != nil {
				t.Fatalf("EXPOSE %q", p)
			}
			out[int32(n)] = true
		}
	}
	return out
}

// `kubectl kustomize k8s/` renders, every rendered object decodes strictly,
// and the generated Secret is the one the DaemonSet refers to.
func TestKustomizeRenders(t *testing.T) {
	var ds *appsv1.DaemonSet
	secrets := map[string]*corev1.Secret{}
	kinds := map[string]int{}
	for key, obj := range kustomizeBuild(t, k8sDir) {
		switch o := obj.(type) {
		case *appsv1.DaemonSet:
			ds = o
		case *corev1.Secret:
			secrets[o.Name] = o
		}
		kind, _, _ := strings.Cut(key, "/")
		kinds[kind]++
		if ns := obj.(metav1.Object).GetNamespace(); kind != "Namespace" && ns != "edgecache" {
			t.Errorf("%s is in namespace %q, want edgecache", key, ns)
		}
	}
	for _, k := range []string{"Namespace", "ConfigMap", "Secret", "DaemonSet"} {
		if kinds[k] != 1 {
			t.Errorf("rendered %d %s, want 1", kinds[k], k)
		}
	}
	if kinds["Service"] != 2 {
		t.Errorf("rendered %d Services, want 2", kinds["Service"])
	}
	if kinds["NetworkPolicy"] != 3 {
		t.Errorf("rendered %d NetworkPolicies, want 3 (client, peer, admin)", kinds["NetworkPolicy"])
	}
	if ds == nil {
		t.Fatal("no DaemonSet rendered")
	}
	for _, e := range ds.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			s, ok := secrets[e.ValueFrom.SecretKeyRef.Name]
			if !ok {
				t.Errorf("env %s refers to Secret %s, which is not rendered (the generator's hash suffix was not applied)", e.Name, e.ValueFrom.SecretKeyRef.Name)
				continue
			}
			if v := s.Data[e.ValueFrom.SecretKeyRef.Key]; len(v) < 16 {
				t.Errorf("Secret %s key %s has %d bytes; the edge needs at least 16", s.Name, e.ValueFrom.SecretKeyRef.Key, len(v))
			}
		}
	}
	if img := ds.Spec.Template.Spec.Containers[0].Image; img != "edgecache:dev" {
		t.Errorf("rendered image %q, want edgecache:dev (make image)", img)
	}
}
