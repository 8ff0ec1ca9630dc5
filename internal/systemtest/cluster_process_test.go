package systemtest

import (
	"bufio"
	"bytes"

	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/internal/testutil"
	"github.com/edgecache/edgecache/origin"
)

// buildBinary builds the edgecache command for the test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgecache")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddrs reserves n ports on loopback address host for a process that
// must know its peers' addresses before they start. Each process gets a
// host of its own (127.0.0.0/8 is all loopback): the ports of 127.0.0.1
// are shared with every outgoing connection of the tests running beside
// this one, and one of those can take a port between its reservation and
// the process binding it.
func freeAddrs(t *testing.T, host string, n int) []string {
	var lns []net.Listener
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// process is one edgecache process whose log is watched.
type process struct {
	cmd  *exec.Cmd
	logs chan map[string]any
	done chan struct{}

	mu    sync.Mutex
	plain []string // the last lines that were not JSON, such as an exit error
}

func startProcess(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: make(chan map[string]any, 1024), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				p.mu.Lock()
				p.plain = append(p.plain[max(0, len(p.plain)-9):], sc.Text())
				p.mu.Unlock()
				continue
			}
			select {
			case p.logs <- m:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	return p
}

// logProblems logs, for a failing test, the process's warnings and
// errors received and not yet read (at most 20), so that its failure says
// what the process saw.
func (p *process) logProblems(t *testing.T) {
	t.Helper()
	for n := 0; n < 20; {
		select {
		case m := <-p.logs:
			if lvl, _ := m["level"].(string); lvl == "WARN" || lvl == "ERROR" {
				t.Logf("process log: %v", m)
				n++
			}
		default:
			return
		}
	}
}

// waitLog waits for a log line whose msg is msg.
func (p *process) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-p.logs:
			if m["msg"] == msg {
				return m
			}
		case <-p.done:
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Fatalf("process exited before logging %q: %s", msg, strings.Join(p.plain, "\n"))
		case <-timeout:
			t.Fatalf("no %q log line", msg)
		}
	}
}

// Six `edgecache edge` processes on loopback, configured through the
// command line and the environment, form one ring: every chunk read
// through every edge comes from the origin once.
func TestEdgeProcessesFormOneRing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildBinary(t)
	org := startProcess(t, bin, nil, "origin", "--synthetic", "--listen", "127.0.0.1:0", "--log-format", "json")
	originURL := org.waitLog(t, "origin listening")["url"].(string)

	const n = 6
	var peers, clients, admins []string
	for i := range n {
		a := freeAddrs(t, fmt.Sprintf("127.0.0.%d", 20+i), 3)
		peers, clients, admins = append(peers, a[0]), append(clients, a[1]), append(admins, a[2])
	}
	env := []string{"EDGECACHE_CLUSTER_SECRET=process-test-secret-0123456789", "EDGECACHE_ORIGIN=" + originURL,
		"EDGECACHE_PEERS=" + strings.Join(peers, ","), "EDGECACHE_CHUNK_SIZE=256KiB", "EDGECACHE_LOG_FORMAT=json"}
	for i := range n {
		p := startProcess(t, bin, env, "edge", "--listen", clients[i], "--peer-listen", peers[i], "--admin-listen", admins[i],
			"--cache-size", "64MiB")
		p.waitLog(t, "edge serving")
	}

	const size = 3<<20 + 12345
	path := origin.SyntheticPath(size, "ring.mp4")
	want := make([]byte, size)
	origin.SyntheticFill(want, size, "ring.mp4", 0)
	t.Logf("edges up")
	statsBefore := originStats(t, originURL)
	const cs = 256 << 10
	for _, c := range clients {
		for off := 0; off < size; off += cs {
			end := min(off+cs, size) - 1
			res, body := testutil.Get(t, "http://"+c+path, fmt.Sprintf("bytes=%d-%d", off, end))
			if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[off:end+1]) {
				t.Fatalf("%s bytes=%d-%d: status %d identical=%v", c, off, end, res.StatusCode, bytes.Equal(body, want[off:end+1]))
			}
		}
	}
	t.Logf("reads done")
	after := originStats(t, originURL)
	if got := after.BodyBytes - statsBefore.BodyBytes; got != size {
		t.Errorf("origin sent %d body bytes for a %d-byte object read through %d edges", got, size, n)
	}
}

func originStats(t *testing.T, originURL string) origin.ServerStats {
	t.Helper()
	res, err := http.Get(originURL + origin.StatsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var s origin.ServerStats
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
