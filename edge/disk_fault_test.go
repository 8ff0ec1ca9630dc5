package edge

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/chunk/disk/disktest"
	"github.com/edgecache/edgecache/edge/internal/engine"
)

// The disk tier's faults, through a whole edge: each one degrades the
// node to memory, peers and the origin, with a log line and a metric,
// and never costs a client an error or a wrong byte. readChunk checks
// every byte served.

// startFaultyDiskNode starts an edge whose disk tier in dir lives on fs,
// a device the test makes fail, and logs into logs.
func startFaultyDiskNode(t *testing.T, originURL, dir string, fs *disktest.FS, logs *logCapture) *diskNode {
	t.Helper()
	return startDiskNodeWith(t, originURL, dir, func(cfg *Config) {
		cfg.diskFS, cfg.Logger = fs, slog.New(logs)
	})
}

// diskMetric is the value of the disk collector's series name of n's
// only path whose labels include the label pairs.
func diskMetric(t *testing.T, n *Node, name string, pairs ...string) float64 {
	t.Helper()
	want := map[string]string{"path": n.cfg.DiskPaths[0], "part": partChunks}
	for i := 0; i+1 < len(pairs); i += 2 {
		want[pairs[i]] = pairs[i+1]
	}
	m := diskSample(t, diskFamilies(t, n), name, want)
	return m.GetGauge().GetValue() + m.GetCounter().GetValue()
}

// chunkStore returns the Stats of the store of decoded chunks, the one a
// node alone writes its chunks to, on its first path.
func chunkStore(n *Node) disk.Stats { return n.disks.chunks[0].Stats() }

func dropMemory(n *Node) { n.eng.Store().RemoveFunc(func(engine.StoreKey) bool { return true }) }

func failing(kind disktest.Kind) func(disktest.Op) error {
	return func(op disktest.Op) error {
		if op.Kind == kind {
			return syscall.EIO
		}
		return nil
	}
}

// A disk smaller than the working set holds its newest part: it evicts
// whole regions, counts them, never exceeds its budget, and what it lost
// comes from the origin again.
func TestDiskSmallerThanTheWorkingSet(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 40 // 2.5 MiB of chunks alone, for a chunk store of 1 MiB
	data := putMovie(org, "/big.mp4", chunks)
	n := startDiskNodeWith(t, org.URL(), t.TempDir(), func(cfg *Config) { cfg.DiskSize = 4 << 20 })
	readAll(t, n.Node, "/big.mp4", data, chunks)
	quiet(t, n.Node)
	dropMemory(n.Node)
	// Newest first: read in the order written, each chunk fetched again
	// would evict the next one to be read.
	for i := chunks - 1; i >= 0; i-- {
		readChunk(t, n.Node, "/big.mp4", data, i)
	}
	quiet(t, n.Node)
	s := chunkStore(n.Node)
	if s.Evictions == 0 || s.Bytes > s.Size {
		t.Errorf("the disk holds %d bytes of its %d after %d evictions; want evictions and no more than the budget", s.Bytes, s.Size, s.Evictions)
	}
	if got := diskMetric(t, n.Node, "edgecache_disk_evictions_total"); got != float64(s.Evictions) {
		t.Errorf("edgecache_disk_evictions_total = %v, the store evicted %d", got, s.Evictions)
	}
	if n.Stats().DiskHits == 0 {
		t.Error("no disk hits: the newest chunks should still be on the disk")
	}
}

// A device without room for the store's file fails New with one line
// naming the path, as a *DiskError (the edge command's exit 2).
func TestDiskNoRoomAtStart(t *testing.T) {
	fs := disktest.New()
	fs.SetCapacity(1 << 20)
	dir := t.TempDir()
	cfg := testConfig("http://origin.invalid")
	cfg.ChunkSize, cfg.DiskPaths, cfg.DiskSize, cfg.diskFS = clusterChunk, []string{dir}, 4<<20, fs
	n, err := New(cfg)
	if err == nil {
		n.Close()
		t.Fatal("New succeeded on a full device")
	}
	var de *DiskError
	if msg := err.Error(); !errors.As(err, &de) || de.Path != dir || strings.Contains(msg, "\n") ||
		!strings.Contains(msg, dir) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("error %q (%T): want one line naming %s, a *DiskError wrapping ENOSPC", msg, err, dir)
	}
}

// Reads that fail are misses: the chunks come from the origin, right;
// each failure is logged and counted, and after MaxReadErrors (16) in a
// row the store turns off.
func TestDiskReadErrorsAreMisses(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 20 // more chunk reads than MaxReadErrors
	data := putMovie(org, "/e.mp4", chunks)
	fs, logs := disktest.New(), &logCapture{}
	n := startFaultyDiskNode(t, org.URL(), t.TempDir(), fs, logs)
	readAll(t, n.Node, "/e.mp4", data, chunks)
	quiet(t, n.Node)
	before, _ := originChunkGets(org, "/e.mp4")

	fs.Inject(failing(disktest.OpRead))
	dropMemory(n.Node)
	readAll(t, n.Node, "/e.mp4", data, chunks)
	if after, _ := originChunkGets(org, "/e.mp4"); after < before+chunks-1 {
		t.Errorf("origin chunk GETs went from %d to %d: the failed reads were not served from the origin", before, after)
	}
	if got := diskMetric(t, n.Node, "edgecache_disk_errors_total", "op", "read"); got < 16 {
		t.Errorf("edgecache_disk_errors_total{op=read} = %v, want at least 16", got)
	}
	if got := diskMetric(t, n.Node, "edgecache_disk_off"); got != 1 {
		t.Errorf("edgecache_disk_off = %v after 16 failed reads in a row, want 1", got)
	}
	if !logs.has(slog.LevelWarn, "disk read failed") || !logs.has(slog.LevelError, "disk reads keep failing") {
		t.Errorf("the failed reads were not logged: %q", logs.msgs)
	}
	if d := n.Status().Disks; len(d) != 2 || d[1].Part != partChunks || !d[1].Off {
		t.Errorf("the status does not show the store off: %+v", d)
	}
}

// A failed write turns writing off: the edge serves from memory and the
// origin as before, logs it once, and counts the error and every value
// it no longer writes.
func TestDiskWriteErrorTurnsWritingOff(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 4
	first, second := putMovie(org, "/w1.mp4", chunks), putMovie(org, "/w2.mp4", chunks)
	fs, logs := disktest.New(), &logCapture{}
	n := startFaultyDiskNode(t, org.URL(), t.TempDir(), fs, logs)
	fs.Inject(failing(disktest.OpWrite))
	readAll(t, n.Node, "/w1.mp4", first, chunks)
	waitFor(t, "the store to turn off", func() bool { return chunkStore(n.Node).Off })

	before, _ := originChunkGets(org, "/w1.mp4")
	readAll(t, n.Node, "/w2.mp4", second, chunks)
	readAll(t, n.Node, "/w1.mp4", first, chunks)
	if after, _ := originChunkGets(org, "/w1.mp4"); after != before {
		t.Errorf("origin chunk GETs of a held object went from %d to %d: memory should serve it", before, after)
	}
	if got := diskMetric(t, n.Node, "edgecache_disk_errors_total", "op", "write"); got < 1 {
		t.Errorf("edgecache_disk_errors_total{op=write} = %v, want at least 1", got)
	}
	if got := diskMetric(t, n.Node, "edgecache_disk_off"); got != 1 {
		t.Errorf("edgecache_disk_off = %v, want 1", got)
	}
	if got := diskMetric(t, n.Node, "edgecache_disk_puts_dropped_total", "reason", "queue"); got < chunks {
		t.Errorf("edgecache_disk_puts_dropped_total{reason=queue} = %v: the second object's chunks should be dropped", got)
	}
	if !logs.has(slog.LevelError, "disk write failed") {
		t.Errorf("the failed write was not logged: %q", logs.msgs)
	}
}

// Damaged records (bytes flipped while the edge was stopped) are read
// errors after a restart, never bytes served: their chunks come from the
// origin, right.
func TestDiskCorruptRecordIsAMiss(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 12
	data := putMovie(org, "/c.mp4", chunks)
	dir := t.TempDir()
	n := startDiskNode(t, org.URL(), dir)
	readAll(t, n.Node, "/c.mp4", data, chunks)
	quiet(t, n.Node)
	n.stop()
	corruptFirstRegion(t, filepath.Join(dir, chunksFile), 512<<10)

	before, _ := originChunkGets(org, "/c.mp4")
	logs := &logCapture{}
	m := startDiskNodeWith(t, org.URL(), dir, func(cfg *Config) { cfg.Logger = slog.New(logs) })
	readAll(t, m.Node, "/c.mp4", data, chunks)
	if got := diskMetric(t, m.Node, "edgecache_disk_errors_total", "op", "read"); got < 1 {
		t.Errorf("edgecache_disk_errors_total{op=read} = %v after corruption, want at least 1", got)
	}
	if after, _ := originChunkGets(org, "/c.mp4"); after == before {
		t.Error("no chunk came from the origin: the damaged ones were served from somewhere")
	}
	if !logs.has(slog.LevelWarn, "disk read failed") {
		t.Errorf("the damage was not logged: %q", logs.msgs)
	}
}

// corruptFirstRegion flips one block in every four of the first region
// of the store file name (regions of regionSize bytes after a superblock
// of one block), sparing its last 64 KiB, where its summary is: every
// record of the region is damaged, and its index still loads.
func corruptFirstRegion(t *testing.T, name string, regionSize int64) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, disk.BlockSize)
	for off := int64(2 * disk.BlockSize); off < disk.BlockSize+regionSize-64<<10; off += 4 * disk.BlockSize {
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] ^= 0xff
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

// A write torn by a crash (the process killed in the middle of a record)
// loses the records from the tear on and nothing before: after a restart
// those before are served from the disk, the rest from the origin, all
// right.
func TestDiskTornWriteLosesOnlyTheTail(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 12
	data := putMovie(org, "/t.mp4", chunks)
	dir, fs := t.TempDir(), disktest.New()
	n := startFaultyDiskNode(t, org.URL(), dir, fs, &logCapture{})
	fs.CrashAfter(300<<10 + 1234) // inside a record, after a few whole ones
	readAll(t, n.Node, "/t.mp4", data, chunks)
	waitFor(t, "the crash", fs.Crashed)
	n.stop()

	m := startFaultyDiskNode(t, org.URL(), dir, fs.Restart(), &logCapture{})
	if s := m.disks.stats()[0]; s.Entries == 0 {
		t.Fatal("the disk holds nothing after the tear: the records before it were lost")
	}
	readAll(t, m.Node, "/t.mp4", data, chunks)
	if m.Stats().DiskHits == 0 {
		t.Error("no disk hits: the records before the tear were lost")
	}
	// The torn record was cut when the index was rebuilt, so no read
	// ever reached it.
	if s := m.disks.stats()[0]; s.ReadErrors != 0 {
		t.Errorf("%d read errors: the torn record was kept in the index", s.ReadErrors)
	}
}
