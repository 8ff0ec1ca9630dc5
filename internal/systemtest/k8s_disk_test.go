package systemtest

// Tests of the disk tier in k8s/: the ConfigMap's EDGECACHE_DISK_PATH is
// a writable volume of the edge container, big enough for
// EDGECACHE_DISK_SIZE, counted in the container's ephemeral storage and
// memory; the base stays within the restricted Pod Security Standard; and
// the node-disk component swaps that volume for a node directory and
// nothing else but the namespace's enforced level.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/cli"
)

const (
	// diskVolumeMargin is what a disk volume's sizeLimit must hold beyond
	// EDGECACHE_DISK_SIZE: the store's file is exactly that size, its
	// metadata included, and the kubelet, which measures the volume as du
	// does, also counts the file's extent blocks and the directory
	// (kilobytes). daemonset.yaml gives exactly this margin; less would
	// be an edit that forgot the volume when it raised the disk size.
	diskVolumeMargin = 64 << 20
	// containerLogBytes is what the container's logs may take on the
	// node's disk: the kubelet's defaults keep containerLogMaxFiles (5)
	// files of containerLogMaxSize (10 MiB).
	containerLogBytes = 5 * 10 << 20
	// nodeDiskPath is the node directory k8s/components/node-disk mounts,
	// as k8s/README.md tells operators to prepare it.
	nodeDiskPath = "/var/lib/edgecache"
)

// nodeDiskComponent is the kustomize Component that puts the disk tier
// on a node directory.
var nodeDiskComponent = filepath.Join(k8sDir, "components", "node-disk")

// restrictedVolumeTypes are the volume sources the restricted Pod Security
// Standard allows; namespace.yaml enforces it.
var restrictedVolumeTypes = map[string]bool{
	"configMap": true, "csi": true, "downwardAPI": true, "emptyDir": true,
	"ephemeral": true, "persistentVolumeClaim": true, "projected": true, "secret": true,
}

// edgeConfig returns the settings of the edge container that its memory
// and disk budgets depend on, as the edge would parse them from its args
// and environment (the ConfigMap), defaults otherwise.
func edgeConfig(t *testing.T, m *manifests) edge.Config {
	t.Helper()
	c := m.edgeContainer(t)
	flags := commandFlags(t, "edge")
	args := parseArgs(t, c.Args[1:])
	env := containerEnv(t, m, c)
	size := func(name string) int64 {
		n, err := cli.ParseSize(effective(name, args, env, flags))
		if err != nil {
			t.Fatalf("--%s: %v", name, err)
		}
		return n
	}
	cfg := edge.DefaultConfig()
	cfg.CacheSize, cfg.ChunkSize, cfg.DiskSize = size("cache-size"), size("chunk-size"), size("disk-size")
	k, err := strconv.Atoi(effective("data-shards", args, env, flags))
	if err != nil {
		t.Fatalf("--data-shards: %v", err)
	}
	cfg.DataShards = k
	cfg.DiskPaths = nil
	// As the edge splits its --disk-path list: commas, blanks trimmed.
	for p := range strings.SplitSeq(effective("disk-path", args, env, flags), ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.DiskPaths = append(cfg.DiskPaths, p)
		}
	}
	return cfg
}

// edgeMemoryNeed is the memory the edge budgets for itself with cfg: what
// the container's memory limit must cover.
func edgeMemoryNeed(cfg edge.Config) int64 {
	return cli.MemoryLimit(cfg.CacheSize) + cli.DiskMemory(cfg)
}

// mib formats bytes for a failure message: exact where the manifests are
// (MiB), to a tenth where the formulas are not.
func mib(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}

// The ConfigMap's disk paths are the edge container's writable volumes,
// each an emptyDir on the node's disk large enough for the store, and the
// container's ephemeral storage counts them (its memory limit, checked by
// TestManifestRolloutAndResources, counts their index and queues).
func TestManifestDiskTier(t *testing.T) {
	m := loadManifests(t)
	c := m.edgeContainer(t)
	pod := m.daemonSet.Spec.Template.Spec
	cfg := edgeConfig(t, m)
	if len(cfg.DiskPaths) == 0 {
		t.Fatal("the ConfigMap sets no EDGECACHE_DISK_PATH: the edges would run on memory alone")
	}
	if cli.DiskMemory(cfg) == 0 {
		t.Fatalf("cli.DiskMemory is 0 with disk paths %q, chunk size %d, %d data shards: the memory limit's check would not count the disk tier",
			cfg.DiskPaths, cfg.ChunkSize, cfg.DataShards)
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	need := map[string]int64{} // volume name -> bytes of stores on it
	for _, p := range cfg.DiskPaths {
		var mount *corev1.VolumeMount
		for i := range c.VolumeMounts {
			if filepath.Clean(c.VolumeMounts[i].MountPath) == filepath.Clean(p) {
				mount = &c.VolumeMounts[i]
			}
		}
		if mount == nil {
			t.Errorf("disk path %s is not where the edge container mounts a volume: the store would be on the read-only root filesystem, and the edge would not start", p)
			continue
		}
		if mount.ReadOnly || mount.SubPath != "" || mount.SubPathExpr != "" {
			t.Errorf("volumeMount %s at %s: readOnly %v, subPath %q: want the whole volume, writable", mount.Name, p, mount.ReadOnly, mount.SubPath+mount.SubPathExpr)
		}
		v, ok := volumes[mount.Name]
		if !ok {
			t.Errorf("volumeMount %s names no volume of the pod", mount.Name)
			continue
		}
		switch {
		case v.EmptyDir == nil:
			t.Errorf("volume %s of disk path %s is not an emptyDir: the restricted Pod Security Standard of the namespace allows no hostPath (k8s/components/node-disk is how to put it on the node)", v.Name, p)
		case v.EmptyDir.Medium == corev1.StorageMediumMemory:
			t.Errorf("volume %s is medium Memory: the disk tier would be RAM, charged to the pod's memory limit", v.Name)
		case v.EmptyDir.SizeLimit == nil:
			t.Errorf("volume %s has no sizeLimit: nothing would bound what it takes of the node's disk", v.Name)
		}
		need[v.Name] += cfg.DiskSize
	}
	var volumeBytes int64 // the sizeLimits of the disk volumes, for ephemeral storage
	for name, stores := range need {
		ed := volumes[name].EmptyDir
		if ed == nil || ed.SizeLimit == nil {
			continue
		}
		if ed.SizeLimit.Value() < stores+diskVolumeMargin {
			t.Errorf("volume %s sizeLimit %s < its disk stores %s + %s for the filesystem: the kubelet would evict the edge for its own store",
				name, ed.SizeLimit.String(), mib(stores), mib(diskVolumeMargin))
		}
		volumeBytes += ed.SizeLimit.Value()
	}

	// Ephemeral storage: the scheduler reserves the request on the node,
	// and the kubelet evicts a pod whose volumes and logs exceed the limit.
	limit, ok := c.Resources.Limits[corev1.ResourceEphemeralStorage]
	if !ok {
		t.Fatal("no ephemeral-storage limit: the disk volume would be charged to the node with nothing reserved for it")
	}
	if limit.Value() < volumeBytes+containerLogBytes {
		t.Errorf("ephemeral-storage limit %s < the disk volumes' sizeLimits %s + %s of container logs", limit.String(), mib(volumeBytes), mib(containerLogBytes))
	}
	if req, ok := c.Resources.Requests[corev1.ResourceEphemeralStorage]; !ok || req.Cmp(limit) != 0 {
		t.Errorf("ephemeral-storage request %v, want the limit %s: the store allocates its whole file at start", req.String(), limit.String())
	}

	// The base stays within the namespace's restricted level.
	for _, v := range pod.Volumes {
		for _, src := range volumeSources(t, v) {
			if !restrictedVolumeTypes[src] {
				t.Errorf("volume %s is a %s: the restricted Pod Security Standard refuses it, and namespace.yaml enforces that level", v.Name, src)
			}
		}
	}
	for _, ns := range m.namespaces {
		if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
			t.Errorf("namespace %s enforces Pod Security %q, want restricted", ns.Name, got)
		}
	}

	// The edge itself accepts the disk settings as they are (size, paths):
	// --print-config validates the whole configuration without opening
	// the store, which only exists in the pod.
	var args []string
	env := containerEnv(t, m, c)
	for _, a := range c.Args {
		args = append(args, expandVars(a, env))
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, stderr bytes.Buffer
	if code := cli.Run(context.Background(), append(args, "--print-config"), &out, &stderr); code != 0 {
		t.Fatalf("edgecache edge --print-config with the manifest's environment: exit %d:\n%s", code, stderr.String())
	}
	if want := "--disk-path=" + strings.Join(cfg.DiskPaths, ","); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `\s`).MatchString(out.String()) {
		t.Errorf("--print-config does not show %s:\n%s", want, out.String())
	}
}

// volumeSources returns the source types a volume names (its JSON keys
// other than its name): one for a valid volume.
func volumeSources(t *testing.T, v corev1.Volume) []string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range fields {
		if k != "name" {
			out = append(out, k)
		}
	}
	return out
}

// kustomizeBuild renders the kustomization in dir with kubectl, skipping
// the test without it, and decodes every object strictly, by kind/name.
func kustomizeBuild(t *testing.T, dir string) map[string]any {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	objs := map[string]any{}
	for i, doc := range splitDocs(out) {
		obj, err := decodeObject(doc)
		if err != nil {
			t.Fatalf("%s: rendered document %d: %v\n%s", dir, i+1, err, doc)
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		key := meta.Kind + "/" + meta.Metadata.Name
		if _, dup := objs[key]; dup {
			t.Fatalf("%s: %s rendered twice", dir, key)
		}
		objs[key] = obj
	}
	return objs
}

// The node-disk component, added to an overlay as k8s/README.md says,
// replaces the disk volume by the node directory and lowers the enforced
// Pod Security level, keeping restricted for warnings and audit; the
// rest, the edge's hardening first, is the base's.
func TestKustomizeNodeDiskComponent(t *testing.T) {
	overlay := t.TempDir()
	rel := func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := filepath.Rel(overlay, abs)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + rel(k8sDir) +
		"\ncomponents:\n  - " + rel(nodeDiskComponent) + "\n"
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	base, withDisk := kustomizeBuild(t, k8sDir), kustomizeBuild(t, overlay)
	if len(base) != len(withDisk) {
		t.Errorf("the component renders %d objects, the base %d", len(withDisk), len(base))
	}
	var baseNS, diskNS *corev1.Namespace
	var baseDS, diskDS *appsv1.DaemonSet
	for key, b := range base {
		d, ok := withDisk[key]
		if !ok {
			t.Errorf("%s is not rendered with the component", key)
			continue
		}
		switch b := b.(type) {
		case *corev1.Namespace:
			baseNS, diskNS = b, d.(*corev1.Namespace)
		case *appsv1.DaemonSet:
			baseDS, diskDS = b, d.(*appsv1.DaemonSet)
		default:
			if !apiequality.Semantic.DeepEqual(b, d) {
				t.Errorf("the component changes %s:\n%s", key, lineDiff(t, b, d))
			}
		}
	}
	if baseNS == nil || baseDS == nil {
		t.Fatal("no Namespace or no DaemonSet rendered")
	}

	// Pod Security: enforcement off, because the restricted and baseline
	// standards both refuse hostPath; every other deviation from
	// restricted still reported.
	psa := "pod-security.kubernetes.io/"
	want := map[string]string{
		psa + "enforce": "privileged",
		psa + "warn":    "restricted", psa + "warn-version": "latest",
		psa + "audit": "restricted", psa + "audit-version": "latest",
	}
	for l, v := range want {
		if got := diskNS.Labels[l]; got != v {
			t.Errorf("with the component, namespace label %s is %q, want %q", l, got, v)
		}
	}
	ns := baseNS.DeepCopy()
	for l, v := range want {
		ns.Labels[l] = v
	}
	if !apiequality.Semantic.DeepEqual(ns, diskNS) {
		t.Errorf("the component changes the namespace beyond its Pod Security labels:\n%s", lineDiff(t, ns, diskNS))
	}

	// The disk volume, and nothing else of the DaemonSet.
	m := loadManifests(t)
	c := m.edgeContainer(t)
	cfg := edgeConfig(t, m)
	var diskVolume string
	for _, vm := range c.VolumeMounts {
		for _, p := range cfg.DiskPaths {
			if filepath.Clean(vm.MountPath) == filepath.Clean(p) {
				diskVolume = vm.Name
			}
		}
	}
	if diskVolume == "" {
		t.Fatal("no volume is mounted at the disk path (TestManifestDiskTier says more)")
	}
	ds := baseDS.DeepCopy()
	hostPaths := 0
	for i, v := range diskDS.Spec.Template.Spec.Volumes {
		if v.HostPath != nil {
			hostPaths++
		}
		if v.Name != diskVolume {
			continue
		}
		hp := v.HostPath
		if hp == nil || v.EmptyDir != nil || len(volumeSources(t, v)) != 1 {
			t.Fatalf("with the component, volume %s is %+v: want a hostPath only", v.Name, v.VolumeSource)
		}
		if hp.Path != nodeDiskPath {
			t.Errorf("hostPath %s, want %s (the directory k8s/README.md tells operators to prepare)", hp.Path, nodeDiskPath)
		}
		if hp.Type == nil || *hp.Type != corev1.HostPathDirectory {
			typ := "unset"
			if hp.Type != nil {
				typ = string(*hp.Type)
			}
			t.Errorf("hostPath type %s, want Directory: DirectoryOrCreate would make a root-owned directory the edge cannot write, and hide an unprepared node", typ)
		}
		if i < len(ds.Spec.Template.Spec.Volumes) {
			ds.Spec.Template.Spec.Volumes[i] = v
		}
	}
	if hostPaths != 1 {
		t.Errorf("with the component, %d hostPath volumes, want 1 (the disk tier's)", hostPaths)
	}
	if !apiequality.Semantic.DeepEqual(ds, diskDS) {
		t.Errorf("the component changes the DaemonSet beyond the disk volume's source:\n%s", lineDiff(t, ds, diskDS))
	}
	dc := diskDS.Spec.Template.Spec.Containers
	if len(dc) != 1 || len(diskDS.Spec.Template.Spec.InitContainers) != 0 {
		t.Fatalf("with the component, %d containers and %d init containers, want the edge alone", len(dc), len(diskDS.Spec.Template.Spec.InitContainers))
	}
	sc := dc[0].SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Privileged != nil && *sc.Privileged ||
		sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("with the component, the edge's securityContext is %+v: want non-root, a read-only root filesystem, all capabilities dropped", sc)
	}

	// The node directory's preparation, as documented, is for the
	// image's user.
	uid := dockerfileUser(t)
	prep := "install -d -o " + strconv.FormatInt(uid, 10) + " -g " + strconv.FormatInt(uid, 10) + " -m 0750 " + nodeDiskPath
	for _, f := range []string{filepath.Join(nodeDiskComponent, "kustomization.yaml"), filepath.Join(k8sDir, "README.md")} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte(prep)) {
			t.Errorf("%s does not tell how to prepare the node directory for the edge's user: %q", f, prep)
		}
	}
}

// lineDiff shows how got differs from want, as the lines of their YAML
// that only one of them has ("-" want's, "+" got's): enough to see what a
// patch changed, without a diff library.
func lineDiff(t *testing.T, want, got any) string {
	t.Helper()
	lines := func(v any) []string {
		raw, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(raw)), "\n")
	}
	w, g := lines(want), lines(got)
	count := map[string]int{}
	for _, l := range w {
		count[l]++
	}
	for _, l := range g {
		count[l]--
	}
	var out []string
	for _, l := range w {
		if count[l] > 0 {
			out = append(out, "-"+l)
			count[l]--
		}
	}
	for _, l := range g {
		if count[l] < 0 {
			out = append(out, "+"+l)
			count[l]++
		}
	}
	return strings.Join(out, "\n")
}
