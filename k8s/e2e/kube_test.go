//go:build k8se2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/origin"
)

// The deployment as k8s/ names it.
const (
	edgeNS     = "edgecache"
	edgeLabels = "app.kubernetes.io/name=edgecache,app.kubernetes.io/component=edge"
	clientURL  = "http://edgecache." + edgeNS + ".svc." + clusterZone + ":8080"
	peerPort   = "8081"
	adminPort  = "8082"
)

// kubectl runs kubectl as the cluster's admin and returns its combined
// output.
func (c *cluster) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin("kubectl"), args...)
	// HOME: kubectl keeps its discovery cache under ~/.kube, which must
	// go with the cluster.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.admin, "HOME="+filepath.Join(stateDir, "home"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// overlay is the deployment's own kustomization, made as k8s/README.md
// tells a user to make one: k8s/ as the base, the image, the origin and a
// cluster secret of its own.
type overlay struct {
	dir  string
	base string // k8s/, relative to dir
}

// newOverlay writes the overlay for image tag tag, and prepares a disk
// directory for each of nodes.
func newOverlay(dir, tag string, nodes []*node) (*overlay, error) {
	k8sDir, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base, err := filepath.Rel(dir, k8sDir)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	if err := os.WriteFile(filepath.Join(dir, "cluster-secret.txt"), []byte(base64.StdEncoding.EncodeToString(secret)), 0o600); err != nil {
		return nil, err
	}
	if err := prepareNodeDisks(nodes); err != nil {
		return nil, err
	}
	o := &overlay{dir: dir, base: base}
	return o, o.setTag(tag)
}

// The suite deploys k8s/components/node-disk, so that a replaced pod finds
// its node's disk tier as it was left. The component's hostPath is one
// directory of the node, but the test nodes share this machine's file
// system: each edge mounts the subdirectory of nodeDiskRoot named after
// its node instead (subPathExpr), prepared as the component asks of a
// node, owned by the edge's user.
const (
	nodeDiskRoot = stateDir + "/node-disk"
	edgeUID      = 65532 // the image's user
)

// prepareNodeDisks makes each node's disk directory, as an operator
// prepares /var/lib/edgecache on every node.
func prepareNodeDisks(nodes []*node) error {
	for _, n := range nodes {
		d := filepath.Join(nodeDiskRoot, n.name)
		if err := os.MkdirAll(d, 0o750); err != nil {
			return err
		}
		if err := os.Chown(d, edgeUID, edgeUID); err != nil {
			return err
		}
	}
	return nil
}

// diskSize is each edge's disk tier in the test cluster: the base's
// 10 GiB, allocated whole by each of three edges, would need 31 GiB of the
// machine's disk for a test that holds a few hundred MiB.
const diskSize = "1GiB"

// setTag rewrites the overlay's kustomization for image tag tag.
func (o *overlay) setTag(tag string) error {
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: edgecache
resources:
  - %[1]s
components:
  - %[1]s/components/node-disk
images:
  - name: edgecache
    newName: edgecache
    newTag: %[2]s
patches:
  - target: {kind: ConfigMap, name: edgecache-config}
    patch: |-
      - op: replace
        path: /data/EDGECACHE_ORIGIN
        value: %[3]s
      - op: replace
        path: /data/EDGECACHE_DISK_SIZE
        value: %[4]s
  - target: {kind: DaemonSet, name: edgecache}
    patch: |-
      apiVersion: apps/v1
      kind: DaemonSet
      metadata:
        name: edgecache
      spec:
        template:
          spec:
            volumes:
              - name: disk
                hostPath:
                  path: %[5]s
            containers:
              - name: edge
                volumeMounts:
                  - name: disk
                    mountPath: /var/cache/edgecache
                    subPathExpr: $(NODE_NAME)
secretGenerator:
  - name: edgecache-cluster-secret
    behavior: replace
    files:
      - cluster-secret=cluster-secret.txt
`, o.base, tag, originURL, diskSize, nodeDiskRoot)
	return os.WriteFile(filepath.Join(o.dir, "kustomization.yaml"), []byte(k), 0o644)
}

// edgePods returns the edge pods by node name; it fails if a node has
// more than one that is not terminating.
func (c *cluster) edgePods() (map[string]corev1.Pod, error) {
	var pods corev1.PodList
	if err := c.get("/api/v1/namespaces/"+edgeNS+"/pods?labelSelector="+edgeLabels, &pods); err != nil {
		return nil, err
	}
	byNode := map[string]corev1.Pod{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if _, dup := byNode[p.Spec.NodeName]; dup {
			return nil, fmt.Errorf("two edge pods on %s", p.Spec.NodeName)
		}
		byNode[p.Spec.NodeName] = p
	}
	return byNode, nil
}

// podReady reports the pod's Ready condition and when it last changed.
func podReady(p *corev1.Pod) (bool, time.Time) {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue, cond.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

// waitEdges waits until every node has one Ready edge pod (running image
// tag tag, when given) and returns them by node.
func (c *cluster) waitEdges(tag string, timeout time.Duration) (map[string]corev1.Pod, error) {
	var pods map[string]corev1.Pod
	err := poll(timeout, time.Second, func() (bool, error) {
		var err error
		if pods, err = c.edgePods(); err != nil {
			return false, err
		}
		var missing []string
		for _, n := range c.nodes {
			p, ok := pods[n.name]
			ready, _ := podReady(&p)
			if !ok || !ready || tag != "" && !strings.HasSuffix(p.Spec.Containers[0].Image, ":"+tag) {
				missing = append(missing, n.name)
			}
		}
		if len(missing) > 0 {
			return false, fmt.Errorf("no Ready edge%s on %s", map[bool]string{true: " of tag " + tag}[tag != ""], strings.Join(missing, ", "))
		}
		return true, nil
	}, "a Ready edge pod on every node")
	return pods, err
}

// httpGet GETs url from this host (which routes to every pod CIDR).
func httpGet(url string) ([]byte, http.Header, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b.Bytes(), resp.Header, nil
}

// edgeStatus reads an edge's /status.json through its admin port.
func edgeStatus(podIP string) (*edge.Status, error) {
	b, _, err := httpGet("http://" + podIP + ":" + adminPort + "/status.json")
	if err != nil {
		return nil, err
	}
	var s edge.Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("status.json of %s: %w", podIP, err)
	}
	return &s, nil
}

// members lists the ring members an edge reports, sorted.
func members(s *edge.Status) []string {
	var m []string
	for _, mem := range s.Members {
		m = append(m, mem.Addr)
	}
	slices.Sort(m)
	return m
}

// waitRing waits until every edge pod's ring is exactly the edge pods'
// peer addresses.
func (c *cluster) waitRing(pods map[string]corev1.Pod, timeout time.Duration) error {
	var want []string
	for _, p := range pods {
		want = append(want, p.Status.PodIP+":"+peerPort)
	}
	slices.Sort(want)
	return poll(timeout, time.Second, func() (bool, error) {
		for node, p := range pods {
			s, err := edgeStatus(p.Status.PodIP)
			if err != nil {
				return false, err
			}
			if got := members(s); !slices.Equal(got, want) {
				return false, fmt.Errorf("the edge on %s has ring %v, want %v (the edges find each other through the headless Service edgecache-peers)", node, got, want)
			}
		}
		return true, nil
	}, fmt.Sprintf("every edge to have the ring %v", want))
}

// endpointReady reports whether service's endpoint on node is ready.
func (c *cluster) endpointReady(service, node string) (bool, error) {
	var list discoveryv1.EndpointSliceList
	if err := c.get("/apis/discovery.k8s.io/v1/namespaces/"+edgeNS+"/endpointslices?labelSelector="+discoveryv1.LabelServiceName+"="+service, &list); err != nil {
		return false, err
	}
	for _, es := range list.Items {
		for _, ep := range es.Endpoints {
			if ep.NodeName != nil && *ep.NodeName == node {
				return ep.Conditions.Ready == nil || *ep.Conditions.Ready, nil
			}
		}
	}
	return false, nil
}

// originStats reads the reference origin's counters.
func originStats() (origin.ServerStats, error) {
	var s origin.ServerStats
	b, _, err := httpGet(originURL + origin.StatsPath)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}
