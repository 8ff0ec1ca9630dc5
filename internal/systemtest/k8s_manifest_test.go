package systemtest

// Tests of the Kubernetes manifests in k8s/ against the binary they deploy:
// every manifest decodes strictly into the k8s.io/api types, and every
// flag, environment variable, port and probe path they name is one the
// edge really has. They need no cluster and no Docker.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/edgecache/edgecache/internal/cli"
)

// k8sDir holds the manifests, from this package's directory.
var k8sDir = filepath.Join(root, "k8s")

// envOnly are the EDGECACHE_* variables the edge reads that are not the twin
// of a flag; the command's TestClusterSecretFromEnvironment proves it reads
// them.
var envOnly = map[string]bool{cli.SecretEnv: true}

// notResources are the YAML files in k8s/ that are not Kubernetes objects
// to apply, and what they are instead.
var notResources = map[string]string{
	"prometheus-rules.yaml": "a Prometheus rule file, loaded by Prometheus (prometheus_rules_test.go)",
}

// envPrefix starts every variable the edge reads.
const envPrefix = "EDGECACHE_"

// decodeStrict decodes one YAML document into obj as the API server would
// refuse it: an unknown field, a field in the wrong case (encoding/json,
// and so sigs.k8s.io/yaml's UnmarshalStrict, would match "containerport"
// to containerPort) and a duplicate key are all errors.
func decodeStrict(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("strict decoding: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// splitDocs splits a YAML stream at its "---" lines, dropping empty
// documents (comments only).
func splitDocs(stream []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(stream), -1) {
		var probe map[string]any
		if err := yaml.Unmarshal([]byte(d), &probe); err == nil && len(probe) > 0 {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// decodeObject decodes a document into the k8s.io/api type of its kind.
func decodeObject(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/Namespace":
		obj = &corev1.Namespace{}
	case "v1/ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1/Secret":
		obj = &corev1.Secret{}
	case "v1/Service":
		obj = &corev1.Service{}
	case "apps/v1/DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "networking.k8s.io/v1/NetworkPolicy":
		obj = &networkingv1.NetworkPolicy{}
	default:
		return nil, fmt.Errorf("kind %s %s: not one this test knows; add it to decodeObject", tm.APIVersion, tm.Kind)
	}
	return obj, decodeStrict(doc, obj)
}

// kustomization is the part of kustomize's Kustomization that k8s/ uses.
// It is decoded strictly too, so a misspelt key there fails as well;
// using more of kustomize means adding its fields here.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
	SecretGenerator []struct {
		Name     string   `json:"name"`
		Literals []string `json:"literals"`
		Files    []string `json:"files"`
	} `json:"secretGenerator"`
}

// manifests is everything in k8s/, decoded.
type manifests struct {
	kust       kustomization
	namespaces []*corev1.Namespace
	configMaps map[string]*corev1.ConfigMap
	services   map[string]*corev1.Service
	daemonSet  *appsv1.DaemonSet
	policies   []*networkingv1.NetworkPolicy
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{}}
	raw, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeStrict(raw, &m.kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		if base == "kustomization.yaml" || notResources[base] != "" {
			continue
		}
		if !slices.Contains(m.kust.Resources, base) {
			t.Errorf("%s is not among the kustomization's resources: it would never be applied", f)
		}
	}
	for _, res := range m.kust.Resources {
		raw, err := os.ReadFile(filepath.Join(k8sDir, res))
		if err != nil {
			t.Fatalf("kustomization resource: %v", err)
		}
		for i, doc := range splitDocs(raw) {
			obj, err := decodeObject(doc)
			if err != nil {
				t.Fatalf("%s document %d: %v", res, i+1, err)
			}
			switch o := obj.(type) {
			case *corev1.Namespace:
				m.namespaces = append(m.namespaces, o)
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			case *corev1.Service:
				m.services[o.Name] = o
			case *appsv1.DaemonSet:
				if m.daemonSet != nil {
					t.Fatalf("%s: a second DaemonSet", res)
				}
				m.daemonSet = o
			case *networkingv1.NetworkPolicy:
				m.policies = append(m.policies, o)
			default:
				t.Fatalf("%s: unexpected %T", res, obj)
			}
		}
	}
	if m.daemonSet == nil {
		t.Fatal("no DaemonSet in k8s/")
	}
	return m
}

// edgeContainer returns the DaemonSet's container that runs `edgecache edge`.
func (m *manifests) edgeContainer(t *testing.T) *corev1.Container {
	t.Helper()
	cs := m.daemonSet.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("DaemonSet has %d containers, want 1", len(cs))
	}
	if len(cs[0].Args) == 0 || cs[0].Args[0] != "edge" {
		t.Fatalf("container args %q: want the edge command first", cs[0].Args)
	}
	return &cs[0]
}

// flagInfo is a flag as `edgecache CMD --help` lists it.
type flagInfo struct{ def, env string }

// commandFlags runs `edgecache cmd --help` through cli.Run, as a user would, and
// parses the flags it lists: the binary itself, not a copy of its flag list,
// is the reference.
func commandFlags(t *testing.T, cmd string) map[string]flagInfo {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), []string{cmd, "--help"}, &out, &errb); code != 0 {
		t.Fatalf("edgecache %s --help: exit %d: %s", cmd, code, errb.String())
	}
	flags := map[string]flagInfo{}
	name := ""
	tail := regexp.MustCompile(`\(default (.*); env ([A-Z0-9_]+)\)$`)
	for line := range strings.SplitSeq(out.String(), "\n") {
		if n, ok := strings.CutPrefix(line, "  --"); ok {
			name = strings.TrimSpace(n)
			continue
		}
		if name == "" {
			continue
		}
		if sm := tail.FindStringSubmatch(line); sm != nil {
			def := sm[1]
			if def == `""` {
				def = ""
			}
			flags[name] = flagInfo{def: def, env: sm[2]}
			name = ""
		}
	}
	if len(flags) < 5 {
		t.Fatalf("parsed only %d flags from `edgecache %s --help`:\n%s", len(flags), cmd, out.String())
	}
	return flags
}

// parseArgs splits "--name=value" and "--name value" arguments after the
// command into a map, failing on anything else.
func parseArgs(t *testing.T, args []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			t.Fatalf("argument %q: want --flag=value", args[i])
		}
		name, val, hasVal := strings.Cut(a, "=")
		if !hasVal {
			if i+1 >= len(args) {
				t.Fatalf("argument --%s has no value", name)
			}
			i++
			val = args[i]
		}
		out[name] = val
	}
	return out
}

// effective is the value the edge ends up with for flag: args win over the
// environment (the ConfigMap and env), which wins over the default.
func effective(name string, args map[string]string, env map[string]string, flags map[string]flagInfo) string {
	if v, ok := args[name]; ok {
		return v
	}
	if v, ok := env[flags[name].env]; ok {
		return v
	}
	return flags[name].def
}

// containerEnv is the literal environment of the container: its ConfigMap
// (envFrom) overlaid by its env values. Values from the downward API are
// given as stand-ins.
func containerEnv(t *testing.T, m *manifests, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("envFrom %+v: only ConfigMaps are expected", ef)
		}
		cm, ok := m.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("envFrom names ConfigMap %q, which is not in k8s/", ef.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			env[ef.Prefix+k] = v
		}
	}
	standIns := map[string]string{"status.podIP": "127.0.0.1", "metadata.namespace": "edgecache", "spec.nodeName": "node-1"}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			v, ok := standIns[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("env %s: field %s has no stand-in in this test", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "a-test-secret-of-more-than-16-bytes"
		case e.ValueFrom.ResourceFieldRef != nil:
			env[e.Name] = strconv.FormatInt(c.Resources.Limits.Memory().Value(), 10)
		}
	}
	return env
}

// expandVars expands Kubernetes' $(VAR) references in an argument.
func expandVars(s string, env map[string]string) string {
	return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := env[ref[2:len(ref)-1]]; ok {
			return v
		}
		return ref // Kubernetes leaves an unknown reference as it is
	})
}

func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: port: %v", addr, err)
	}
	return int32(n)
}

func namedPort(c *corev1.Container, name string) (corev1.ContainerPort, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return corev1.ContainerPort{}, false
}

// The misspellings a person makes must fail the decoder the tests rely
// on; otherwise every test below would pass on a manifest that the API
// server rejects or, worse, silently reads differently.
func TestManifestDecodingIsStrict(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(k8sDir, "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeObject(good); err != nil {
		t.Fatalf("daemonset.yaml as shipped: %v", err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"misspelt field", "readinessProbe:", "readinesProbe:"},
		{"wrong case", "containerPort: 8081", "containerport: 8081"},
		{"field at the wrong level", "      terminationGracePeriodSeconds: 30", "      terminationGracePeriodSeconds: 30\n      maxUnavailable: 1"},
		{"duplicate key", "      terminationGracePeriodSeconds: 30", "      terminationGracePeriodSeconds: 30\n      terminationGracePeriodSeconds: 60"},
		{"wrong type", "periodSeconds: 5", "periodSeconds: five"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(good, []byte(tc.from)) {
				t.Fatalf("daemonset.yaml no longer contains %q: update this test", tc.from)
			}
			bad := bytes.Replace(good, []byte(tc.from), []byte(tc.to), 1)
			if _, err := decodeObject(bad); err == nil {
				t.Errorf("replacing %q by %q decoded without error", tc.from, tc.to)
			}
		})
	}
	var k kustomization
	if err := decodeStrict([]byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresource:\n  - a.yaml\n"), &k); err == nil {
		t.Error(`kustomization with "resource:" for "resources:" decoded without error`)
	}
}

func TestManifestsSelectorsAndServices(t *testing.T) {
	m := loadManifests(t)
	ds := m.daemonSet
	if ds.Spec.Selector == nil || len(ds.Spec.Selector.MatchLabels)+len(ds.Spec.Selector.MatchExpressions) == 0 {
		t.Fatal("the DaemonSet has no selector")
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		t.Fatalf("selector: %v", err)
	}
	podLabels := labels.Set(ds.Spec.Template.Labels)
	if !sel.Matches(podLabels) {
		t.Errorf("DaemonSet selector %v does not match its template labels %v", sel, podLabels)
	}
	c := m.edgeContainer(t)

	peers, ok := m.services["edgecache-peers"]
	if !ok {
		t.Fatal("no Service edgecache-peers")
	}
	if peers.Spec.ClusterIP != corev1.ClusterIPNone || !peers.Spec.PublishNotReadyAddresses {
		t.Errorf("edgecache-peers: clusterIP %q, publishNotReadyAddresses %v; want a headless Service that lists starting edges",
			peers.Spec.ClusterIP, peers.Spec.PublishNotReadyAddresses)
	}
	client, ok := m.services["edgecache"]
	if !ok {
		t.Fatal("no client Service edgecache")
	}
	if p := client.Spec.InternalTrafficPolicy; p == nil || *p != corev1.ServiceInternalTrafficPolicyLocal {
		t.Errorf("client Service internalTrafficPolicy %v, want Local: a player must reach its own node's edge", p)
	}
	for name, svc := range m.services {
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Selector) == 0 {
			t.Errorf("Service %s selector %v does not select the edge pods %v", name, svc.Spec.Selector, podLabels)
		}
		for _, sp := range svc.Spec.Ports {
			if sp.TargetPort.Type != intstr.String {
				t.Errorf("Service %s port %s: targetPort %s is a number; name the container port so they cannot drift", name, sp.Name, sp.TargetPort.String())
				continue
			}
			if _, ok := namedPort(c, sp.TargetPort.StrVal); !ok {
				t.Errorf("Service %s port %s: targetPort %q is not a container port", name, sp.Name, sp.TargetPort.StrVal)
			}
		}
	}
	if p, ok := namedPort(c, "client"); ok && client.Spec.Ports[0].Port != p.ContainerPort {
		t.Logf("client Service port %d differs from the container's %d (allowed, but players must use the Service's)", client.Spec.Ports[0].Port, p.ContainerPort)
	}
}

// Every flag in the args, every EDGECACHE_* variable and every port is one
// the edge binary has, and they agree with each other.
func TestManifestsMatchTheBinary(t *testing.T) {
	m := loadManifests(t)
	c := m.edgeContainer(t)
	flags := commandFlags(t, "edge")
	args := parseArgs(t, c.Args[1:])
	for name := range args {
		if _, ok := flags[name]; !ok {
			t.Errorf("args: --%s is not a flag of `edgecache edge`", name)
		}
	}
	twins := map[string]bool{}
	for _, f := range flags {
		twins[f.env] = true
	}
	names := map[string]string{} // EDGECACHE_* name -> where it is set
	for _, cm := range m.configMaps {
		for k := range cm.Data {
			names[k] = "ConfigMap " + cm.Name
			if !strings.HasPrefix(k, envPrefix) {
				t.Errorf("ConfigMap %s key %s: the edge reads only %s* variables", cm.Name, k, envPrefix)
			}
		}
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, envPrefix) {
			names[e.Name] = "env"
		}
	}
	for name, where := range names {
		if !twins[name] && !envOnly[name] {
			t.Errorf("%s sets %s, which `edgecache edge` does not read", where, name)
		}
	}

	env := containerEnv(t, m, c)
	ports := map[string]string{"client": "listen", "peer": "peer-listen", "admin": "admin-listen"}
	for portName, flag := range ports {
		p, ok := namedPort(c, portName)
		if !ok {
			t.Errorf("container has no port named %s", portName)
			continue
		}
		if got := portOf(t, effective(flag, args, env, flags)); got != p.ContainerPort {
			t.Errorf("--%s listens on port %d, but container port %s is %d", flag, got, portName, p.ContainerPort)
		}
	}
	peerPort, _ := namedPort(c, "peer")
	adv := expandVars(effective("advertise", args, env, flags), env)
	if portOf(t, adv) != peerPort.ContainerPort {
		t.Errorf("--advertise %s: port differs from the peer port %d", adv, peerPort.ContainerPort)
	}
	if !strings.Contains(args["advertise"], "$(POD_IP)") {
		t.Errorf("--advertise %q: want $(POD_IP), the address the headless Service's records give", args["advertise"])
	}
	dnsName := expandVars(effective("peers-dns", args, env, flags), env)
	host, _, _ := net.SplitHostPort(dnsName)
	if !strings.HasPrefix(host, "edgecache-peers.") || portOf(t, dnsName) != m.services["edgecache-peers"].Spec.Ports[0].Port {
		t.Errorf("--peers-dns %s: want the headless Service edgecache-peers on its peer port", dnsName)
	}
	if strings.Contains(dnsName, "$(") {
		t.Errorf("--peers-dns %s: a $(VAR) the container does not define", dnsName)
	}

	// Probe paths and the scrape port are served by a real node.
	probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
	admin, _ := namedPort(c, "admin")
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET on the admin port", kind)
			continue
		}
		if p.HTTPGet.Port.String() != "admin" && p.HTTPGet.Port.IntValue() != int(admin.ContainerPort) {
			t.Errorf("%s probe on port %s, want the admin port", kind, p.HTTPGet.Port.String())
		}
	}
	if got := m.daemonSet.Spec.Template.Annotations["prometheus.io/port"]; got != strconv.Itoa(int(admin.ContainerPort)) {
		t.Errorf("prometheus.io/port %q, want the admin port %d", got, admin.ContainerPort)
	}
	addr := startProbeNode(t)
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			continue
		}
		if code := getStatus(t, "http://"+addr+p.HTTPGet.Path); code != http.StatusOK {
			t.Errorf("%s probe path %s answers %d on a running edge, want 200", kind, p.HTTPGet.Path, code)
		}
	}
}
