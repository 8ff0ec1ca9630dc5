// Package e2e is the Kubernetes suite: k8s/ applied to a real API server
// and run by real kubelets on three nodes of this machine, as a user would
// deploy it (see k8s/README.md, "The test cluster").
//
// The cluster is built from source pinned in k8s/e2e/tools (its own Go
// module, so that the project's module never compiles Kubernetes): etcd,
// kube-apiserver, controller-manager and scheduler in one network
// namespace, and per node a kubelet, a containerd instance and kube-proxy
// (nftables mode) in the node's own network namespace, with its own cgroup
// root and pod CIDR. DNS for cluster.local is dnsmasq, fed from the
// Services and EndpointSlices. Every image is imported, nothing is pulled.
//
// The tests are behind the build tag k8se2e, need root, Docker (to build
// the images) and a few Debian packages; `make k8s-e2e` installs and builds
// everything, then runs them:
//
//	make k8s-e2e
//
// What this suite must never do: send a packet beyond the namespaces it
// made (pods have no default route, DNS has no upstream, nothing is
// pulled), change the host outside its own names (network namespaces and
// links named eck8s-*, the cgroup eck8s, its own directories) except what
// the kubelets and containerd insist on (three kernel settings, a few
// directories: see hostDirs), which it records first and puts back, or
// leave anything behind: the tear-down runs when the test ends however it
// ends, and again (as a sweep of those names) before the next run starts.
package e2e
