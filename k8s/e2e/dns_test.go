//go:build k8se2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// The cluster's DNS is dnsmasq, authoritative for cluster.local and
// nothing else (no upstream: a name outside the cluster does not resolve),
// answering from a hosts file that dnsFeeder rewrites from the Services and
// EndpointSlices, as CoreDNS's kubernetes plugin would answer: a Service's
// name is its ClusterIP, a headless Service's name is the address of each
// of its ready endpoints (with publishNotReadyAddresses, every endpoint is
// ready).

// dnsFeeder keeps the hosts file current.
type dnsFeeder struct {
	c     *cluster
	hosts string
	pid   int
	quit  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error // the last failure to read the API, for a test's message
}

// startDNS starts dnsmasq on the control plane's address and the feeder.
func (c *cluster) startDNS() error {
	hosts := filepath.Join(stateDir, "dns", "hosts")
	if err := writeFile(hosts, ""); err != nil {
		return err
	}
	if err := c.startControl("dnsmasq", "/usr/sbin/dnsmasq", "--keep-in-foreground", "--log-facility=-",
		"--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
		"--listen-address="+controlIP, "--bind-interfaces", "--port=53",
		"--local=/"+clusterZone+"/", "--addn-hosts="+hosts, "--local-ttl=1",
		"--pid-file="+filepath.Join(runDir, "dnsmasq.pid"), "--user=root"); err != nil {
		return err
	}
	// dnsmasq dies of a SIGHUP that comes before it has set up its
	// handlers: the feeder starts once it answers.
	if err := poll(30*time.Second, 100*time.Millisecond, func() (bool, error) {
		_, err := lookup("kubernetes.default.svc." + clusterZone)
		var dnsErr *net.DNSError
		return err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound, err
	}, "dnsmasq to answer"); err != nil {
		return err
	}
	d := &dnsFeeder{c: c, hosts: hosts, pid: c.procs[len(c.procs)-1].cmd.Process.Pid, quit: make(chan struct{})}
	c.dns = d
	d.wg.Add(1)
	go d.loop()
	return nil
}

// lookup asks the cluster's DNS for name's addresses.
func lookup(name string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, net.JoinHostPort(controlIP, "53"))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return r.LookupHost(ctx, name)
}

// loop refreshes the records every second until stopped.
func (d *dnsFeeder) loop() {
	defer d.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last string
	for {
		records, err := d.records()
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		if err == nil && records != last {
			if err := d.write(records); err == nil {
				last = records
			}
		}
		select {
		case <-d.quit:
			return
		case <-tick.C:
		}
	}
}

func (d *dnsFeeder) stop() {
	close(d.quit)
	d.wg.Wait()
}

// write replaces the hosts file and tells dnsmasq to read it again.
func (d *dnsFeeder) write(records string) error {
	tmp := d.hosts + ".new"
	if err := os.WriteFile(tmp, []byte(records), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, d.hosts); err != nil {
		return err
	}
	return syscall.Kill(d.pid, syscall.SIGHUP)
}

// records lists the cluster's names as hosts file lines, sorted.
func (d *dnsFeeder) records() (string, error) {
	var svcs corev1.ServiceList
	if err := d.c.get("/api/v1/services", &svcs); err != nil {
		return "", err
	}
	var slices_ discoveryv1.EndpointSliceList
	if err := d.c.get("/apis/discovery.k8s.io/v1/endpointslices", &slices_); err != nil {
		return "", err
	}
	var lines []string
	for _, s := range svcs.Items {
		name := fmt.Sprintf("%s.%s.svc.%s", s.Name, s.Namespace, clusterZone)
		if s.Spec.ClusterIP != corev1.ClusterIPNone && s.Spec.ClusterIP != "" {
			lines = append(lines, s.Spec.ClusterIP+" "+name)
			continue
		}
		for _, es := range slices_.Items {
			if es.Namespace != s.Namespace || es.Labels[discoveryv1.LabelServiceName] != s.Name {
				continue
			}
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}
				for _, a := range ep.Addresses {
					lines = append(lines, a+" "+name)
				}
			}
		}
	}
	slices.Sort(lines)
	return strings.Join(slices.Compact(lines), "\n") + "\n", nil
}
