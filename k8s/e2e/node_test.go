//go:build k8se2e

package e2e

import (
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Images: the edge under two tags (the second for the rollout), and the
// suite's own image, whose entrypoint is the pause program (every pod's
// sandbox) and which also holds the player. All are imported into every
// node's containerd; nothing is ever pulled.
const (
	toolsImage = "docker.io/edgecache-e2e/tools:1"
	edgeTag    = "dev"
	rolloutTag = "e2e-rollout"
)

func (n *node) sock() string { return filepath.Join(n.run, "containerd.sock") }

// startNode starts a node's containerd, imports the images, and starts its
// kubelet and kube-proxy.
func (c *cluster) startNode(n *node) error {
	if err := makeCgroup(prefix + "/" + n.ns); err != nil {
		return fmt.Errorf("cgroup root: %w", err)
	}
	if err := c.startContainerd(n); err != nil {
		return err
	}
	if _, err := run("ctr", "--address", n.sock(), "--namespace", "k8s.io", "images", "import", c.images); err != nil {
		return fmt.Errorf("importing %s: %w", c.images, err)
	}
	if err := c.startKubelet(n); err != nil {
		return err
	}
	return c.startProxy(n)
}

// startContainerd configures and starts the node's own containerd: its
// own root, state, socket and runc root, so that it shares nothing with
// Docker's or another node's.
//
// restrict_oom_score_adj: this machine denies CAP_SYS_RESOURCE, without
// which lowering a score fails and with it every sandbox ("can't get final
// child's PID from pipe: EOF"). cgroupfs, not systemd: containerd 1.6 does
// not tell the kubelet its driver. Pod network namespaces are kept under
// the state directory, where the tear-down finds them.
func (c *cluster) startContainerd(n *node) error {
	cni := filepath.Join(n.dir, "cni")
	conf := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = %[9]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[8]q
`, filepath.Join(n.dir, "containerd"), filepath.Join(n.run, "containerd"), n.sock(), n.sock()+".ttrpc",
		filepath.Join(n.dir, "opt"), toolsImage, filepath.Join(n.run, "runc"), cni, filepath.Join(n.run, "runc-v1"))
	confPath := filepath.Join(n.dir, "containerd.toml")
	if err := writeFile(confPath, conf); err != nil {
		return err
	}
	// The node's pod network: a bridge in the node's namespace, addresses
	// from its CIDR, and routes to the fabric, the other pods and the
	// Services only: no default route, so no packet can leave.
	gw := n.cidr[:len(n.cidr)-len("0/24")] + "1"
	cniConf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [{
  "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
  "ipam": {"type": "host-local", "dataDir": %q,
    "ranges": [[{"subnet": %q, "gateway": %q}]],
    "routes": [{"dst": %q}, {"dst": %q}, {"dst": %q}]}}]}
`, n.ns, filepath.Join(n.dir, "ipam"), n.cidr, gw, podNet, serviceNet, fabricNet)
	if err := writeFile(filepath.Join(cni, "10-pods.conflist"), cniConf); err != nil {
		return err
	}
	var err error
	n.containerd, err = startProc(c.logs, n.name+"-containerd", n.ns, n.ns+"/system", "/usr/bin/containerd", "--config", confPath)
	if err != nil {
		return err
	}
	return poll(time.Minute, 200*time.Millisecond, func() (bool, error) {
		if done, err := n.containerd.exited(); done {
			return false, fmt.Errorf("containerd %w: %v", errExited, err)
		}
		_, err := run("ctr", "--address", n.sock(), "version")
		return err == nil, err
	}, n.name+"'s containerd")
}

// startKubelet configures and starts the node's kubelet.
//
// failCgroupV1: this machine has cgroup v1, which kubelet 1.37 refuses
// unless told. Everything the kubelet writes stays under the node's own
// directories (root, pod logs, volume plugins, cgroup root) except the
// links in /var/log/containers and three kernel settings, which the
// tear-down puts back. Image garbage collection is off: the images were
// imported and cannot be pulled again.
func (c *cluster) startKubelet(n *node) error {
	kubeconfig, err := c.pki.kubeconfig("kubelet-"+n.name, apiServer)
	if err != nil {
		return err
	}
	resolv := filepath.Join(n.dir, "resolv.conf")
	if err := writeFile(resolv, "nameserver "+controlIP+"\n"); err != nil {
		return err
	}
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%[1]s/%[2]s
containerRuntimeEndpoint: unix://%[3]s
address: %[4]s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[5]s}
authorization: {mode: AlwaysAllow}
clusterDNS: [%[6]s]
clusterDomain: %[7]s
resolvConf: %[8]s
podLogsDir: %[9]s
volumePluginDir: %[10]s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%%, imagefs.available: 1%%, nodefs.inodesFree: 1%%}
failSwapOn: false
maxPods: 16
serializeImagePulls: false
shutdownGracePeriod: 0s
`, prefix, n.ns, n.sock(), n.ip, c.pki.path("ca.crt"), controlIP, clusterZone, resolv,
		filepath.Join(n.dir, "pod-logs"), filepath.Join(n.dir, "volume-plugins"))
	confPath := filepath.Join(n.dir, "kubelet.yaml")
	if err := writeFile(confPath, conf); err != nil {
		return err
	}
	n.kubelet, err = startProc(c.logs, n.name+"-kubelet", n.ns, n.ns+"/system", c.bin("kubelet"),
		"--config", confPath, "--kubeconfig", kubeconfig,
		"--root-dir", filepath.Join(n.dir, "kubelet"), "--cert-dir", filepath.Join(n.dir, "kubelet", "pki"),
		"--hostname-override", n.name, "--node-ip", n.ip, "--v=1")
	return err
}

// startProxy configures and starts the node's kube-proxy, in nftables
// mode: its table lives in the node's network namespace, nowhere else.
// Conntrack sizes and timeouts are global kernel settings: left alone.
func (c *cluster) startProxy(n *node) error {
	conf := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: %s}
hostnameOverride: %s
clusterCIDR: %s
detectLocalMode: ClusterCIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [%s/32]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, c.pki.path("kube-proxy.kubeconfig"), n.name, podNet, n.ip)
	confPath := filepath.Join(n.dir, "kube-proxy.yaml")
	if err := writeFile(confPath, conf); err != nil {
		return err
	}
	var err error
	n.proxy, err = startProc(c.logs, n.name+"-kube-proxy", n.ns, n.ns+"/system", c.bin("kube-proxy"), "--config", confPath, "--v=1")
	return err
}

// waitNodesReady waits until every node is registered and Ready.
func (c *cluster) waitNodesReady() error {
	return poll(3*time.Minute, time.Second, func() (bool, error) {
		for _, p := range c.allProcs() {
			if done, err := p.exited(); done {
				return false, fmt.Errorf("%s %w: %v", p.name, errExited, err)
			}
		}
		var nodes corev1.NodeList
		if err := c.get("/api/v1/nodes", &nodes); err != nil {
			return false, err
		}
		ready := 0
		for _, n := range nodes.Items {
			if nodeReady(&n) {
				ready++
			}
		}
		if ready < numNodes {
			return false, fmt.Errorf("%d of %d nodes Ready", ready, numNodes)
		}
		return true, nil
	}, "every node to be Ready")
}

// nodeReady reports the node's Ready condition.
func nodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
