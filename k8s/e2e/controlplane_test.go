//go:build k8se2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// nodeMonitorGrace is how long the controller manager waits for a silent
// kubelet before it marks the node NotReady (the default is 50 s): short,
// so that the kubelet-stop step does not wait long for it.
const nodeMonitorGrace = 20 * time.Second

// controlPlane starts etcd, the API server, the controller manager, the
// scheduler, the reference origin and the cluster DNS, all in the control
// plane's network namespace (so etcd's and the components' loopback ports
// are theirs alone).
func (c *cluster) controlPlane() error {
	kc, err := c.certificates()
	if err != nil {
		return err
	}
	return c.startControlPlane(kc)
}

// certificates makes the cluster's CA, every component's certificate and
// the kubeconfigs of those that need one, by file name, and the test's own
// API client.
func (c *cluster) certificates() (map[string]string, error) {
	var ids []identity
	ids = append(ids,
		identity{file: "apiserver", cn: "kube-apiserver", hosts: []string{
			controlIP, "10.239.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc." + clusterZone}},
		identity{file: "admin", cn: "edgecache-e2e-admin", groups: []string{"system:masters"}},
		identity{file: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}},
		identity{file: "controller-manager", cn: "system:kube-controller-manager"},
		identity{file: "scheduler", cn: "system:kube-scheduler"},
		identity{file: "kube-proxy", cn: "system:kube-proxy"},
	)
	for _, n := range c.nodes {
		ids = append(ids, identity{file: "kubelet-" + n.name, cn: "system:node:" + n.name, groups: []string{"system:nodes"}})
	}
	var err error
	if c.pki, err = newPKI(filepath.Join(stateDir, "pki"), ids); err != nil {
		return nil, err
	}
	kc := map[string]string{}
	for _, f := range []string{"admin", "controller-manager", "scheduler", "kube-proxy"} {
		if kc[f], err = c.pki.kubeconfig(f, apiServer); err != nil {
			return nil, err
		}
	}
	c.admin = kc["admin"]
	tlsCfg, err := c.pki.tlsConfig("admin")
	if err != nil {
		return nil, err
	}
	c.api = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 30 * time.Second}
	return kc, nil
}

// startControlPlane starts the processes of controlPlane.
func (c *cluster) startControlPlane(kc map[string]string) error {
	p := c.pki.path
	if err := c.startControl("etcd", "/usr/bin/etcd", "--name", "e2e", "--data-dir", filepath.Join(stateDir, "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "e2e=http://127.0.0.1:2380", "--listen-metrics-urls", ""); err != nil {
		return err
	}
	if err := c.startControl("kube-apiserver", c.bin("kube-apiserver"),
		"--etcd-servers", "http://127.0.0.1:2379",
		"--bind-address", controlIP, "--advertise-address", controlIP, "--secure-port", "6443",
		"--service-cluster-ip-range", serviceNet,
		"--client-ca-file", p("ca.crt"), "--tls-cert-file", p("apiserver.crt"), "--tls-private-key-file", p("apiserver.key"),
		"--service-account-key-file", p("sa.pub"), "--service-account-signing-key-file", p("sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc."+clusterZone,
		"--authorization-mode", "Node,RBAC",
		"--kubelet-client-certificate", p("apiserver-kubelet-client.crt"), "--kubelet-client-key", p("apiserver-kubelet-client.key"),
		// Nodes are reached by address only: the API server must never
		// ask this machine's resolver for a node's name.
		"--kubelet-preferred-address-types", "InternalIP",
		"--profiling=false", "--v=1"); err != nil {
		return err
	}
	if err := c.waitAPI(); err != nil {
		return err
	}
	if err := c.startControl("kube-controller-manager", c.bin("kube-controller-manager"),
		"--kubeconfig", kc["controller-manager"], "--authentication-kubeconfig", kc["controller-manager"],
		"--authorization-kubeconfig", kc["controller-manager"],
		"--service-account-private-key-file", p("sa.key"), "--root-ca-file", p("ca.crt"),
		"--use-service-account-credentials", "--leader-elect=false", "--bind-address", "127.0.0.1",
		"--node-monitor-grace-period", nodeMonitorGrace.String(),
		"--service-cluster-ip-range", serviceNet, "--profiling=false", "--v=1"); err != nil {
		return err
	}
	if err := c.startControl("kube-scheduler", c.bin("kube-scheduler"),
		"--kubeconfig", kc["scheduler"], "--authentication-kubeconfig", kc["scheduler"],
		"--authorization-kubeconfig", kc["scheduler"],
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--profiling=false", "--v=1"); err != nil {
		return err
	}
	if err := c.startControl("origin", c.edge, "origin", "--synthetic", "--listen", controlIP+":9000", "--log-format", "json"); err != nil {
		return err
	}
	return c.startDNS()
}

func (c *cluster) bin(name string) string { return filepath.Join(c.bins, name) }

// startControl starts one process of the control plane.
func (c *cluster) startControl(name string, argv ...string) error {
	p, err := startProc(c.logs, name, controlNS, "cp", argv...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// waitAPI waits until the API server says it is ready.
func (c *cluster) waitAPI() error {
	return poll(2*time.Minute, time.Second, func() (bool, error) {
		resp, err := c.api.Get(apiServer + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}, "the API server to be ready")
}

// poll calls f every interval until it reports done, or returns an error
// that wraps errExited (what it waits on is gone), or the timeout passes;
// what names what is awaited, for the error.
func poll(timeout, interval time.Duration, f func() (bool, error), what string) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, err := f()
		if done {
			return nil
		}
		if errors.Is(err, errExited) {
			return err
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("waited %v for %s; last error: %w", timeout, what, last)
			}
			return fmt.Errorf("waited %v for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}

// get reads an API path (e.g. /api/v1/nodes) into v.
func (c *cluster) get(path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiServer+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// writeFile writes a configuration file, making its directory.
func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// errExited is returned by waits that find the process they wait on gone.
var errExited = errors.New("exited")
