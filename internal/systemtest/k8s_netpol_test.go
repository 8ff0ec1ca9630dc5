package systemtest

// The NetworkPolicies in k8s/ against the DaemonSet they guard: they
// select its pods, name its ports, and, evaluated with Kubernetes'
// semantics (a pod selected by some policy accepts only what one of them
// allows), let anyone reach the client port, only edges the peer port and
// only the operators' namespaces the admin port.

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// edgeNamespace is where the kustomization puts every object.
const edgeNamespace = "edgecache"

// netSource is a pod that opens a connection to an edge.
type netSource struct {
	name      string
	namespace string            // its namespace's name
	pod       map[string]string // its labels
}

// nsLabels are the labels Kubernetes gives every namespace.
func (s netSource) nsLabels() labels.Set {
	return labels.Set{"kubernetes.io/metadata.name": s.namespace}
}

// selects reports whether a label selector of a policy matches set; a nil
// selector is absent, which the callers handle.
func selects(t *testing.T, sel *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return s.Matches(set)
}

// peerAllows reports whether one "from" entry of a policy in namespace
// policyNS admits src: a podSelector alone means pods of the policy's
// namespace, a namespaceSelector alone every pod of those namespaces,
// both together pods of those namespaces with those labels.
func peerAllows(t *testing.T, p networkingv1.NetworkPolicyPeer, policyNS string, src netSource) bool {
	t.Helper()
	if p.IPBlock != nil {
		return true // not modelled: TestManifestNetworkPolicies refuses ipBlocks
	}
	nsOK := src.namespace == policyNS
	if p.NamespaceSelector != nil {
		nsOK = selects(t, p.NamespaceSelector, src.nsLabels())
	}
	podOK := p.PodSelector == nil || selects(t, p.PodSelector, src.pod)
	return nsOK && podOK
}

// portAllows reports whether a rule's port entry covers the container port.
func portAllows(p networkingv1.NetworkPolicyPort, cp corev1.ContainerPort) bool {
	proto := corev1.ProtocolTCP
	if p.Protocol != nil {
		proto = *p.Protocol
	}
	if proto != cp.Protocol && !(cp.Protocol == "" && proto == corev1.ProtocolTCP) {
		return false
	}
	switch {
	case p.Port == nil:
		return true
	case p.Port.Type == intstr.String:
		return p.Port.StrVal == cp.Name
	case p.EndPort != nil:
		return cp.ContainerPort >= p.Port.IntVal && cp.ContainerPort <= *p.EndPort
	default:
		return p.Port.IntVal == cp.ContainerPort
	}
}

// admits evaluates the policies for a connection from src to the edge
// pod's port cp: isolated pods accept what some selecting policy's
// ingress rule allows; a pod no policy selects accepts everything.
func admits(t *testing.T, m *manifests, src netSource, cp corev1.ContainerPort) bool {
	t.Helper()
	edge := labels.Set(m.daemonSet.Spec.Template.Labels)
	isolated := false
	for _, pol := range m.policies {
		if !selects(t, &pol.Spec.PodSelector, edge) || !ingressPolicy(pol) {
			continue
		}
		isolated = true
		for _, rule := range pol.Spec.Ingress {
			portOK := len(rule.Ports) == 0
			for _, p := range rule.Ports {
				portOK = portOK || portAllows(p, cp)
			}
			fromOK := len(rule.From) == 0
			for _, f := range rule.From {
				fromOK = fromOK || peerAllows(t, f, policyNamespace(pol), src)
			}
			if portOK && fromOK {
				return true
			}
		}
	}
	return !isolated
}

// ingressPolicy reports whether pol restricts ingress: it says so, or it
// says nothing and has ingress rules (the API server's default).
func ingressPolicy(pol *networkingv1.NetworkPolicy) bool {
	if len(pol.Spec.PolicyTypes) == 0 {
		return true
	}
	for _, pt := range pol.Spec.PolicyTypes {
		if pt == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

// policyNamespace is where the kustomization puts the policy.
func policyNamespace(pol *networkingv1.NetworkPolicy) string {
	if pol.Namespace != "" {
		return pol.Namespace
	}
	return edgeNamespace
}

func TestManifestNetworkPolicies(t *testing.T) {
	m := loadManifests(t)
	if len(m.policies) == 0 {
		t.Fatal("no NetworkPolicy in k8s/")
	}
	c := m.edgeContainer(t)
	ds := m.daemonSet
	dsSelector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	// Structure: each policy guards exactly the edge pods, by labels the
	// DaemonSet guarantees (its selector's, which cannot change under a
	// running DaemonSet), names container ports, and uses no IP blocks.
	for _, pol := range m.policies {
		sel := &pol.Spec.PodSelector
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			t.Errorf("NetworkPolicy %s selects every pod of the namespace; select the edge pods", pol.Name)
		}
		if !selects(t, sel, labels.Set(ds.Spec.Template.Labels)) {
			t.Errorf("NetworkPolicy %s does not select the DaemonSet's pods %v", pol.Name, ds.Spec.Template.Labels)
		}
		if !selects(t, sel, labels.Set(ds.Spec.Selector.MatchLabels)) {
			t.Errorf("NetworkPolicy %s selects on labels beyond the DaemonSet's selector %v", pol.Name, dsSelector)
		}
		if !ingressPolicy(pol) {
			t.Errorf("NetworkPolicy %s does not restrict ingress", pol.Name)
		}
		for _, rule := range pol.Spec.Ingress {
			if len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s has a rule for every port; name the port", pol.Name)
			}
			for _, p := range rule.Ports {
				if p.Port == nil || p.Port.Type != intstr.String {
					t.Errorf("NetworkPolicy %s: port %v: name the container port, so that they cannot drift", pol.Name, p.Port)
				} else if cp, ok := namedPort(c, p.Port.StrVal); !ok {
					t.Errorf("NetworkPolicy %s: port %q is not a port of the edge container", pol.Name, p.Port.StrVal)
				} else if !portAllows(p, cp) {
					t.Errorf("NetworkPolicy %s: port %q: protocol differs from the container's %s", pol.Name, p.Port.StrVal, cp.Protocol)
				}
			}
			for _, f := range rule.From {
				if f.IPBlock != nil {
					t.Errorf("NetworkPolicy %s: an ipBlock admits by address; admit pods and namespaces", pol.Name)
				}
			}
		}
	}

	// Semantics: who reaches which port.
	edgePod := labels.Set(ds.Spec.Template.Labels)
	sources := []netSource{
		{"an edge", edgeNamespace, edgePod},
		{"a player in its own namespace", "players", map[string]string{"app": "player"}},
		{"another pod of the edges' namespace", edgeNamespace, map[string]string{"app": "debug"}},
		{"a pod labelled as an edge in another namespace", "players", edgePod},
		{"Prometheus in monitoring", "monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"}},
	}
	want := map[string]map[string]bool{ // port -> source -> admitted
		"client": {"an edge": true, "a player in its own namespace": true, "another pod of the edges' namespace": true,
			"a pod labelled as an edge in another namespace": true, "Prometheus in monitoring": true},
		"peer":  {"an edge": true},
		"admin": {"Prometheus in monitoring": true},
	}
	for portName, admitted := range want {
		cp, ok := namedPort(c, portName)
		if !ok {
			t.Errorf("the edge container has no port %s", portName)
			continue
		}
		for _, src := range sources {
			if got := admits(t, m, src, cp); got != admitted[src.name] {
				t.Errorf("%s port %d from %s (namespace %s): admitted %v, want %v", portName, cp.ContainerPort, src.name, src.namespace, got, admitted[src.name])
			}
		}
	}
	// A port the container does not name (gossip, anything else) is closed.
	for _, port := range []int32{7946, 9090} {
		cp := corev1.ContainerPort{Name: fmt.Sprint("other-", port), ContainerPort: port, Protocol: corev1.ProtocolTCP}
		for _, src := range sources {
			if admits(t, m, src, cp) {
				t.Errorf("port %d is open to %s", port, src.name)
			}
		}
	}
}

// The evaluator tells policies apart: without this, an evaluator that
// admits everything (or nothing) would pass the manifests.
func TestNetworkPolicyEvaluator(t *testing.T) {
	m := loadManifests(t)
	c := m.edgeContainer(t)
	peer, _ := namedPort(c, "peer")
	player := netSource{"a player", "players", map[string]string{"app": "player"}}
	edge := netSource{"an edge", edgeNamespace, m.daemonSet.Spec.Template.Labels}
	if !admits(t, &manifests{daemonSet: m.daemonSet}, player, peer) {
		t.Error("without policies every source is admitted")
	}
	open := *m.policies[0]
	open.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
	if !admits(t, &manifests{daemonSet: m.daemonSet, policies: []*networkingv1.NetworkPolicy{&open}}, player, peer) {
		t.Error("a rule without ports and sources admits everything")
	}
	closed := *m.policies[0]
	closed.Spec.Ingress = nil
	if admits(t, &manifests{daemonSet: m.daemonSet, policies: []*networkingv1.NetworkPolicy{&closed}}, edge, peer) {
		t.Error("a policy without rules isolates the pod")
	}
	both := *m.policies[0]
	both.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "player"}},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "players"}},
	}}}}
	pm := &manifests{daemonSet: m.daemonSet, policies: []*networkingv1.NetworkPolicy{&both}}
	if !admits(t, pm, player, peer) || admits(t, pm, netSource{"x", "players", map[string]string{"app": "other"}}, peer) ||
		admits(t, pm, netSource{"y", "elsewhere", map[string]string{"app": "player"}}, peer) {
		t.Error("a namespace and a pod selector together must both match")
	}
}
