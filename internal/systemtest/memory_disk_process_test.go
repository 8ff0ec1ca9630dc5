package systemtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/cli"
	"github.com/edgecache/edgecache/origin"
)

// The shape of the memory test with a disk tier: a disk sixteen times the
// cache, and a working set three times the cache, read twice, so that
// the second pass comes from the disk.
const (
	diskMemCache   = 64 << 20
	diskMemSize    = 1 << 30
	diskMemObjects = 24
	diskMemObject  = 8 << 20 // 24 x 8 MiB = 192 MiB = 3 x the cache
	diskMemClients = 16
	diskMemRange   = 1 << 20
)

// An edge process with a disk tier larger than its memory stays within
// its memory budget, the cache's (cli.MemoryLimit) plus what
// docs/design.md counts for the disk (cli.DiskMemory: write queues, index
// and I/O buffers), while its working set goes through the disk: the
// disk is not a way around the budget. Peak RSS is the kernel's high-water mark
// (VmHWM) of the edge's own process, as in TestEdgeMemoryWithinBudget.
func TestEdgeMemoryWithinBudgetWithDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes, and writes a 1 GiB file")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc for the edge's RSS")
	}
	bin := buildBinary(t)
	org := startProcess(t, bin, nil, "origin", "--synthetic", "--listen", "127.0.0.1:0", "--log-format", "json")
	originURL := org.waitLog(t, "origin listening")["url"].(string)
	dir := t.TempDir()
	proc := startProcess(t, bin, []string{"GOMEMLIMIT="}, "edge", "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0", "--origin", originURL, "--cache-size", strconv.Itoa(diskMemCache),
		"--chunk-size", strconv.Itoa(memChunk), "--disk-path", dir, "--disk-size", strconv.Itoa(diskMemSize), "--log-format", "json")
	started := proc.waitLog(t, "edge serving")
	client, admin := started["client"].(string), started["admin"].(string)

	cfg := edge.DefaultConfig()
	cfg.CacheSize, cfg.ChunkSize, cfg.DiskPaths, cfg.DiskSize = diskMemCache, memChunk, []string{dir}, diskMemSize
	limit := cli.MemoryLimit(diskMemCache) + cli.DiskMemory(cfg)
	if got, want := metricValue(t, admin, "go_gc_gomemlimit_bytes"), limit-cli.OffHeapMemory(cfg); int64(got) != want {
		t.Errorf("GOMEMLIMIT %v, want the cache's and the disk's less the I/O buffers outside the heap, %d", got, want)
	}

	start := time.Now()
	for pass := range 2 {
		if err := readWorkingSet(client); err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
	}
	took := time.Since(start)
	peakRSS, ok := procStatus(proc.cmd.Process.Pid, "VmHWM")
	if !ok {
		t.Fatal("no VmHWM")
	}
	heap := liveHeap(t, admin)
	idle := memoryBudget(diskMemCache, diskMemClients, 0, 0, memChunk) + cli.DiskMemory(cfg)
	diskHits := metricValue(t, admin, "edgecache_disk_hits_total")
	diskBytes := int64(metricValue(t, admin, "edgecache_disk_bytes"))
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	t.Logf("two passes over %s (%dx the %s cache) in %v; the disk holds %s, %v memory misses answered by it",
		mib(diskMemObjects*diskMemObject), diskMemObjects*diskMemObject/diskMemCache, mib(diskMemCache),
		took.Round(time.Millisecond), mib(diskBytes), diskHits)
	t.Logf("edge peak RSS %s; limit %s (cache %s + disk tier %s); heap in use after a GC %s, idle budget %s",
		mib(peakRSS), mib(limit), mib(cli.MemoryLimit(diskMemCache)), mib(cli.DiskMemory(cfg)), mib(heap), mib(idle))
	if diskHits == 0 || diskBytes <= diskMemCache {
		t.Errorf("the disk holds %s and answered %v misses: the working set did not go through it", mib(diskBytes), diskHits)
	}
	if peakRSS > limit {
		t.Errorf("peak RSS %s over the limit %s", mib(peakRSS), mib(limit))
	}
	// What stays live is the cache, the disk's index and queue, and the
	// fixed part: nothing the disk wrote is kept in memory too.
	if heap > idle {
		t.Errorf("heap in use after a GC %s over the idle budget %s", mib(heap), mib(idle))
	}
}

// liveHeap is the edge's heap in use after the disk has written what it
// queued and a forced collection (pprof's heap profile with gc=1).
func liveHeap(t *testing.T, admin string) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, admin, "edgecache_disk_queued_bytes") > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	res, err := http.Get("http://" + admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return int64(metricValue(t, admin, "go_memstats_heap_inuse_bytes"))
}

// readWorkingSet reads every object of the working set whole, in ranges,
// with diskMemClients clients at once, and checks every byte.
func readWorkingSet(client string) error {
	var wg sync.WaitGroup
	errs := make(chan error, diskMemClients)
	hc := &http.Client{Timeout: 60 * time.Second}
	for c := range diskMemClients {
		wg.Go(func() {
			body, want := make([]byte, diskMemRange), make([]byte, diskMemRange)
			for o := c; o < diskMemObjects; o += diskMemClients {
				name := fmt.Sprintf("d%d.mp4", o)
				for off := int64(0); off < diskMemObject; off += diskMemRange {
					if err := readRange(hc, client, name, off, body, want); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func readRange(hc *http.Client, client, name string, off int64, body, want []byte) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+client+origin.SyntheticPath(diskMemObject, name), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(body))-1))
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.ReadFull(res.Body, body); err != nil || res.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("%s at %d: status %d, %v", name, off, res.StatusCode, err)
	}
	origin.SyntheticFill(want, diskMemObject, name, off)
	if !bytes.Equal(body, want) {
		return fmt.Errorf("%s at %d: wrong bytes", name, off)
	}
	return nil
}
