package systemtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/internal/cli"
	"github.com/edgecache/edgecache/origin"
)

// The shape of the memory test: a working set ten times the cache, read
// by a thousand players at once.
const (
	memCache    = 32 << 20
	memChunk    = 64 << 10
	memObjects  = 40
	memObject   = 8 << 20 // 40 x 8 MiB = 320 MiB = 10 x the cache
	memClients  = 1000
	memRequests = 3 // per client
	memRange    = 128 << 10
)

// Per-connection figures of docs/design.md ("Memory"): what a client
// connection costs while idle (its goroutine's stack and fasthttp's state:
// with ReduceMemoryUsage it keeps no buffer between requests), and what it
// adds while it reads a request and writes a response (its 8 KiB read and
// 64 KiB write buffers), besides the chunks its response holds, which may
// have been evicted meanwhile. memFixed is the runtime, the code, the
// metrics and the metadata of a few objects.
const (
	memIdleConn = 24 << 10
	memBusyConn = 72 << 10
	memFixed    = 32 << 20
)

// memoryBudget is what an edge may use by docs/design.md with conns client
// connections, busy of them responding at once, each response holding at
// most rangeChunks chunks.
func memoryBudget(cache int64, conns, busy, rangeChunks int, chunk int64) int64 {
	return cache + int64(conns)*memIdleConn + int64(busy)*(memBusyConn+int64(rangeChunks)*chunk) + memFixed
}

// procStatus reads a field of /proc/PID/status in bytes (VmRSS, VmHWM).
func procStatus(pid int, field string) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// metricValue adds up the series of a gauge on an edge's /metrics.
func metricValue(t *testing.T, admin, name string) float64 {
	t.Helper()
	res, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sum, found := 0.0, false
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), name)
		if !ok || len(line) == 0 || (line[0] != ' ' && line[0] != '{') {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum, found = sum+f, true
	}
	if !found {
		t.Fatalf("no metric %s", name)
	}
	return sum
}

// An edge process under a working set ten times its cache and a thousand
// concurrent players stays within its documented budget, and limits its
// heap from --cache-size unless GOMEMLIMIT says otherwise.
//
// What is measured, and why in a subprocess: the edge runs as its own
// process (the binary the other process tests build), so its figures hold
// nothing of the thousand client goroutines in this test process, nor of
// the origin (a third process). Peak RSS is the kernel's high-water mark
// (VmHWM), exact, garbage and runtime included; heap in use is sampled
// from /metrics during the load (a lower bound of the true peak) and read
// once more after a forced GC (pprof's heap profile with gc=1) while all
// the connections are still open: that is the live heap of the cache plus
// a thousand idle connections.
func TestEdgeMemoryWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes, and a thousand clients")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc for the edge's RSS")
	}
	bin := buildBinary(t)
	org := startProcess(t, bin, nil, "origin", "--synthetic", "--listen", "127.0.0.1:0", "--log-format", "json")
	originURL := org.waitLog(t, "origin listening")["url"].(string)
	edge := startProcess(t, bin, []string{"GOMEMLIMIT="}, "edge", "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0", "--origin", originURL, "--cache-size", strconv.Itoa(memCache),
		"--chunk-size", strconv.Itoa(memChunk), "--log-format", "json")
	started := edge.waitLog(t, "edge serving")
	client, admin := started["client"].(string), started["admin"].(string)
	pid := edge.cmd.Process.Pid

	// The limit the edge set itself from --cache-size (GOMEMLIMIT unset).
	if got := metricValue(t, admin, "go_gc_gomemlimit_bytes"); int64(got) != cli.MemoryLimit(memCache) {
		t.Errorf("GOMEMLIMIT %v, want cli.MemoryLimit(%d) = %d", got, memCache, cli.MemoryLimit(memCache))
	}
	baseRSS, _ := procStatus(pid, "VmRSS")

	// Sample the heap while the players read.
	var peakHeap atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			res, err := http.Get("http://" + admin + "/metrics")
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
					if f, err := strconv.ParseFloat(v, 64); err == nil && int64(f) > peakHeap.Load() {
						peakHeap.Store(int64(f))
					}
				}
			}
			res.Body.Close()
		}
	}()

	// Each player sends its first request the moment it is connected, from
	// this goroutine: a connection that sends nothing for --read-timeout
	// (10s) is closed unanswered, as a slowloris would be, and a thousand
	// busy player goroutines of a race-enabled test on a loaded machine can
	// leave a new one waiting that long before it runs.
	conns := make([]net.Conn, memClients)
	players := make([]*memPlayer, memClients)
	startLoad := time.Now()
	for i := range conns {
		c, err := net.Dial("tcp", client)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
		players[i] = &memPlayer{c: c, r: rand.New(rand.NewPCG(uint64(i), 42))}
		players[i].send()
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i, p := range players {
		wg.Go(func() {
			br := bufio.NewReaderSize(p.c, 16<<10)
			body, want := make([]byte, memRange), make([]byte, memRange)
			for rq := range memRequests {
				if rq > 0 {
					p.send()
				}
				p.c.SetReadDeadline(time.Now().Add(60 * time.Second))
				res, err := http.ReadResponse(br, nil)
				stage, got := "headers", 0
				if err == nil {
					stage = "body"
					got, err = io.ReadFull(res.Body, body)
					res.Body.Close()
				}
				origin.SyntheticFill(want, memObject, p.name, p.off)
				if err != nil || res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want) {
					if failed.Add(1) == 1 {
						t.Errorf("client %d request %d %s at %d: %s after %d bytes: %v", i, rq, p.name, p.off, stage, got, err)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	loadTook := time.Since(startLoad)
	close(stop)
	<-sampled

	// Every connection is still open: force a collection in the edge and
	// read what stays in use.
	res, err := http.Get("http://" + admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	heapAfterGC := int64(metricValue(t, admin, "go_memstats_heap_inuse_bytes"))
	cacheBytes := int64(metricValue(t, admin, "edgecache_cache_bytes"))
	peakRSS, ok := procStatus(pid, "VmHWM")
	if !ok {
		t.Fatal("no VmHWM")
	}
	for _, c := range conns {
		c.Close()
	}
	if failed.Load() > 0 {
		edge.logProblems(t)
		t.Fatalf("%d clients failed", failed.Load())
	}

	const rangeChunks = memRange/memChunk + 1 // an unaligned range spans one more
	busy := memoryBudget(memCache, memClients, memClients, rangeChunks, memChunk)
	idle := memoryBudget(memCache, memClients, 0, 0, memChunk)
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	t.Logf("%d clients x %d ranges of %s over %s (%dx the %s cache) in %v",
		memClients, memRequests, mib(memRange), mib(memObjects*memObject), memObjects*memObject/memCache, mib(memCache), loadTook.Round(time.Millisecond))
	t.Logf("edge RSS: %s before the load, peak %s; budget %s (GOMEMLIMIT %s)", mib(baseRSS), mib(peakRSS), mib(busy), mib(cli.MemoryLimit(memCache)))
	t.Logf("edge heap in use: sampled peak %s; after a GC with %d connections open %s (cache %s); idle budget %s",
		mib(peakHeap.Load()), memClients, mib(heapAfterGC), mib(cacheBytes), mib(idle))
	if cacheBytes > memCache {
		t.Errorf("the cache holds %d bytes, over its %d", cacheBytes, memCache)
	}
	if peakRSS > busy {
		t.Errorf("peak RSS %s over the budget %s", mib(peakRSS), mib(busy))
	}
	if heapAfterGC > idle {
		t.Errorf("heap in use after a GC %s over the idle budget %s", mib(heapAfterGC), mib(idle))
	}

	// A GOMEMLIMIT of the operator's own wins over the one from the cache.
	own := startProcess(t, bin, []string{"GOMEMLIMIT=123MiB"}, "edge", "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0", "--origin", originURL, "--cache-size", strconv.Itoa(memCache), "--log-format", "json")
	if got := metricValue(t, own.waitLog(t, "edge serving")["admin"].(string), "go_gc_gomemlimit_bytes"); got != 123<<20 {
		t.Errorf("with GOMEMLIMIT=123MiB the limit is %v", got)
	}
}

// memPlayer is one player of the memory test: its connection, and the
// range it asked for last.
type memPlayer struct {
	c    net.Conn
	r    *rand.Rand
	name string
	off  int64
}

// send asks for a random range of a random object.
func (p *memPlayer) send() {
	p.name = fmt.Sprintf("m%d.mp4", p.r.IntN(memObjects))
	p.off = p.r.Int64N(memObject - memRange)
	fmt.Fprintf(p.c, "GET %s HTTP/1.1\r\nHost: edge\r\nRange: bytes=%d-%d\r\n\r\n",
		origin.SyntheticPath(memObject, p.name), p.off, p.off+memRange-1)
}
