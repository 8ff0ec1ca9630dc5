//go:build k8se2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Everything the suite makes on the host carries one of these names, so
// that a tear-down, or the sweep before the next run, finds it all even
// after a crash.
const (
	prefix    = "eck8s"                            // network namespaces, links, the cgroup
	stateDir  = "/var/lib/edgecache-k8s-e2e"       // data: etcd, containerd, kubelets, PKI
	runDir    = "/run/edgecache-k8s-e2e"           // sockets, containerd state, pod netns
	hostState = "/run/edgecache-k8s-e2e-host.json" // what the host had before: kept outside runDir
	cgroupFS  = "/sys/fs/cgroup"
	podLogDir = "/var/log/containers" // where every kubelet links its containers' logs
	cniCache  = "/var/lib/cni"        // libcni's result cache, under which containerd's CNI writes
	netnsDir  = "/run/netns"          // ip netns makes it, a shared mount of itself
)

// hostDirs are the directories outside the suite's own that a component
// writes to whatever it is told: the kubelet (pod log links, its device
// plugin socket, the flex volume directory), containerd's CNI library and
// its shims (result cache, shim sockets) and ip netns. Those that did not
// exist before a run are removed after it, once empty of what the run put
// there (another program may have written there meanwhile: then they stay).
var hostDirs = []string{podLogDir, cniCache, "/var/lib/kubelet", "/usr/libexec/kubernetes", "/run/containerd", netnsDir}

// kernelSettings are the sysctls a kubelet sets at start (it refuses to
// run with protectKernelDefaults unless they already have its values).
var kernelSettings = []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}

// cmdTimeout bounds one short host command (ip, ctr, nsenter ...).
const cmdTimeout = 2 * time.Minute

// run runs a command and returns its trimmed stdout; the error carries
// stderr.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// savedHost is what the suite changed on the host and must put back.
type savedHost struct {
	Sysctls map[string]string `json:"sysctls"` // path under /proc/sys → value before
	// Created are directories that did not exist before the run (a
	// kubelet or containerd makes them outside its own root).
	Created []string `json:"created"`
}

// saveHost records the host's settings before the first change. The
// record lives outside runDir, so that a crashed run's sweep still finds it.
func saveHost() error {
	if _, err := os.Stat(hostState); err == nil {
		return errors.New(hostState + " exists: a previous run was not torn down (the sweep should have)")
	}
	s := savedHost{Sysctls: map[string]string{}}
	for _, k := range kernelSettings {
		v, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			return err
		}
		s.Sysctls[k] = strings.TrimSpace(string(v))
	}
	for _, d := range hostDirs {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			s.Created = append(s.Created, d)
		}
	}
	b, _ := json.Marshal(s)
	return os.WriteFile(hostState, b, 0o600)
}

// sweep removes everything a run of this suite may have left, in an order
// that works whatever state the run died in: processes first (they hold
// mounts, namespaces and cgroups), then mounts, namespaces, links, cgroups,
// files, and last the kernel settings. It never touches anything that is
// not named as the suite names things. It returns every step that failed.
func sweep() error {
	var errs []error
	errs = append(errs, killCgroup(filepath.Join(cgroupFS, "pids", prefix)))
	errs = append(errs, unmountUnder(stateDir, runDir))
	nss, _ := filepath.Glob("/run/netns/" + prefix + "-*")
	for _, ns := range nss {
		if _, err := run("ip", "netns", "delete", filepath.Base(ns)); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := run("ip", "link", "show", hostLink); err == nil {
		if _, err := run("ip", "link", "delete", hostLink); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, removeCgroups())
	errs = append(errs, removeLogLinks())
	errs = append(errs, removeCNIResults())
	errs = append(errs, os.RemoveAll(stateDir), os.RemoveAll(runDir))
	errs = append(errs, restoreHost())
	return errors.Join(errs...)
}

// restoreHost puts back the kernel settings and removes the directories the
// run created, if they are empty again.
func restoreHost() error {
	b, err := os.ReadFile(hostState)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var s savedHost
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s: %w", hostState, err)
	}
	var errs []error
	for k, v := range s.Sysctls {
		errs = append(errs, os.WriteFile("/proc/sys/"+k, []byte(v), 0o644))
	}
	for _, d := range s.Created {
		if d == netnsDir {
			_ = syscall.Unmount(d, syscall.MNT_DETACH)
		}
		// The kubelets' device plugin socket: nothing else is ours in there.
		_ = os.Remove(filepath.Join(d, "device-plugins", "kubelet.sock"))
		errs = append(errs, removeEmptyTree(d))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.Remove(hostState)
}

// removeEmptyTree removes dir and the directories below it, deepest first,
// as long as they hold nothing else: it never removes a file.
func removeEmptyTree(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s did not exist before the run and now holds something else: %w", d, err)
		}
	}
	return nil
}

// killCgroup kills every process in the pids cgroup dir and below, until
// none is left (a process may fork while it is being killed).
func killCgroup(dir string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids := cgroupProcs(dir)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in %s survive SIGKILL", pids, dir)
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cgroupProcs lists the processes in dir and every cgroup below it.
func cgroupProcs(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(path)
		for f := range strings.FieldsSeq(string(b)) {
			if p, err := strconv.Atoi(f); err == nil {
				pids = append(pids, p)
			}
		}
		return nil
	})
	return pids
}

// unmountUnder detaches every mount at or below the given paths (overlay
// root file systems, pod network namespaces, shm), deepest first.
func unmountUnder(roots ...string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMount(fields[4])
		for _, r := range roots {
			if p == r || strings.HasPrefix(p, r+"/") {
				points = append(points, p)
				break
			}
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range slices.Compact(points) {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hierarchies lists the mounted cgroup hierarchies (cgroup v1 controllers,
// the named systemd one, and the unified one where mounted).
func hierarchies() []string {
	entries, _ := os.ReadDir(cgroupFS)
	var hs []string
	for _, e := range entries {
		if e.IsDir() {
			hs = append(hs, filepath.Join(cgroupFS, e.Name()))
		}
	}
	return hs
}

// makeCgroup creates path (relative to each hierarchy's root) in every
// hierarchy: a kubelet's cgroup root must exist in all of them. A new
// cpuset takes its parent's CPUs and memory nodes, or it could run nothing.
func makeCgroup(path string) error {
	for _, h := range hierarchies() {
		dir := h
		for part := range strings.SplitSeq(strings.Trim(path, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(parent, f))
				if err != nil {
					continue
				}
				cur, _ := os.ReadFile(filepath.Join(dir, f))
				if len(bytes.TrimSpace(cur)) == 0 {
					if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
						return fmt.Errorf("%s: %w", filepath.Join(dir, f), err)
					}
				}
			}
		}
	}
	return nil
}

// removeCgroups removes the suite's cgroup tree from every hierarchy,
// deepest first (a cgroup can only be removed once it has no children).
func removeCgroups() error {
	var errs []error
	for _, h := range hierarchies() {
		root := filepath.Join(h, prefix)
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		slices.Reverse(dirs)
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeCNIResults removes what containerd's CNI library cached in
// cniCache for the suite's pod sandboxes (their ids are the names of the
// sandbox directories under each node's containerd state), for the pod
// network and the loopback one alike.
func removeCNIResults() error {
	var ids []string
	for _, root := range []string{stateDir, runDir} {
		dirs, _ := filepath.Glob(filepath.Join(root, "n*", "containerd", "io.containerd.grpc.v1.cri", "sandboxes", "*"))
		for _, d := range dirs {
			ids = append(ids, filepath.Base(d))
		}
	}
	results, _ := filepath.Glob(filepath.Join(cniCache, "results", "*"))
	var errs []error
	for _, f := range results {
		for _, id := range ids {
			if strings.Contains(filepath.Base(f), "-"+id+"-") {
				errs = append(errs, os.Remove(f))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// removeLogLinks removes the links the kubelets made in podLogDir to their
// containers' logs under stateDir.
func removeLogLinks() error {
	entries, err := os.ReadDir(podLogDir)
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(podLogDir, e.Name())
		if dst, err := os.Readlink(p); err == nil && strings.HasPrefix(dst, stateDir+"/") {
			errs = append(errs, os.Remove(p))
		}
	}
	return errors.Join(errs...)
}
