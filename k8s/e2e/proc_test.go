//go:build k8se2e

package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one long-running process of the cluster (a component, a
// containerd, dnsmasq, the origin).
type proc struct {
	name string
	argv []string
	ns   string // network namespace
	cg   string // pids cgroup, relative to the suite's
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // once done is closed
}

// startProc starts argv in network namespace ns and in the pids cgroup
// prefix/cg, with its output in logDir/name.log. The cgroup is what makes
// the tear-down complete: every process a component starts (containerd's
// shims, the containers) lands below it, and killCgroup finds them all.
func startProc(logDir, name, ns, cg string, argv ...string) (*proc, error) {
	p := &proc{name: name, argv: argv, ns: ns, cg: cg, log: filepath.Join(logDir, name+".log")}
	return p, p.start()
}

func (p *proc) start() error {
	cgDir := filepath.Join(cgroupFS, "pids", prefix, p.cg)
	if err := os.MkdirAll(cgDir, 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	fmt.Fprintf(out, "--- %s: %s\n", time.Now().Format(time.RFC3339), strings.Join(p.argv, " "))
	// The shell joins the cgroup, then becomes nsenter, which enters the
	// network namespace and becomes the component: one process, one pid.
	args := append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec nsenter --net=/run/netns/"$1" -- "${@:2}"`, cgDir, p.ns}, p.argv...)
	p.cmd = exec.Command("bash", args...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	p.done = make(chan struct{})
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop asks the process to end (SIGTERM), and kills it after grace.
func (p *proc) stop(grace time.Duration) error {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	if done, _ := p.exited(); done {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return fmt.Errorf("%s did not stop within %v of SIGTERM: killed", p.name, grace)
	case <-time.After(10 * time.Second):
		return errors.New(p.name + " survives SIGKILL")
	}
}

// tail returns the last n lines of the process's log, for a failure
// message.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
