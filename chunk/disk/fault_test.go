package disk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/chunk/disk/disktest"
)

// The first record of a fresh store: region 0 starts after the
// superblock, and its records after its header block.
const firstRecord = 2 * disk.BlockSize

func TestUnwritablePathFailsOpenInOneLine(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(notDir, "cache")
	_, err := disk.Open(disk.Config{Dir: dir, Size: testSize})
	if err == nil {
		t.Fatal("Open under a regular file succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, dir) || strings.Contains(msg, "\n") {
		t.Errorf("error %q should be one line naming %s", msg, dir)
	}
}

func TestDeviceTooSmallFailsOpen(t *testing.T) {
	fs := disktest.New()
	fs.SetCapacity(testSize - 1)
	_, err := disk.Open(testConfig(fs))
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), testFile) {
		t.Errorf("Open on a device too small: %v; want ENOSPC naming %s", err, testFile)
	}
}

func TestSecondOpenOfOneDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, disk.Config{Dir: dir, Size: testSize})
	defer mustClose(t, s)
	if _, err := disk.Open(disk.Config{Dir: dir, Size: testSize}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second store on one directory: %v", err)
	}
}

func TestCorruptRecordIsAMissAndDropped(t *testing.T) {
	fs := disktest.New()
	var logs logBuffer
	cfg := testConfig(fs)
	cfg.Logger = logs.logger()
	s := mustOpen(t, cfg)
	defer mustClose(t, s)
	s.Put("a", "g", value("a", 3000))
	s.Put("b", "g", value("b", 3000))
	mustFlush(t, s)
	fs.Corrupt(testFile, firstRecord+1000, 1) // a's value
	if _, err := s.Get(context.Background(), "a"); !errors.Is(err, chunk.ErrCorrupt) {
		t.Fatalf("Get of a corrupt record: %v, want chunk.ErrCorrupt", err)
	}
	if s.Contains("a") {
		t.Error("the corrupt entry is still indexed")
	}
	mustGet(t, s, "b", value("b", 3000))
	if st := s.Stats(); st.ReadErrors != 1 || st.Off {
		t.Errorf("ReadErrors %d, Off %v; want 1, false", st.ReadErrors, st.Off)
	}
	if !strings.Contains(logs.String(), "disk read failed") {
		t.Errorf("no log line for the corrupt record:\n%s", logs.String())
	}
}

func TestReadErrorsTurnTheStoreOff(t *testing.T) {
	fs := disktest.New()
	cfg := testConfig(fs)
	cfg.MaxReadErrors = 3
	s := mustOpen(t, cfg)
	defer mustClose(t, s)
	for i := range 5 {
		s.Put(fmt.Sprint(i), "g", value(fmt.Sprint(i), 100))
	}
	mustFlush(t, s)
	fs.Inject(func(op disktest.Op) error {
		if op.Kind == disktest.OpRead {
			return syscall.EIO
		}
		return nil
	})
	for i := range 3 {
		if _, err := s.Get(context.Background(), fmt.Sprint(i)); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Get %d on a failing device: %v, want EIO", i, err)
		}
	}
	if _, err := s.Get(context.Background(), "4"); !errors.Is(err, disk.ErrOff) {
		t.Errorf("Get after %d failures in a row: %v, want ErrOff", cfg.MaxReadErrors, err)
	}
	if s.Put("5", "g", nil) || s.Contains("4") || !s.Stats().Off {
		t.Error("a store that turned off still accepts Puts or reports entries")
	}
}

func TestWriteErrorTurnsWritesOff(t *testing.T) {
	for _, op := range []disktest.Kind{disktest.OpWrite, disktest.OpSync} {
		t.Run(fmt.Sprint(op), func(t *testing.T) {
			fs := disktest.New()
			var logs logBuffer
			cfg := testConfig(fs)
			cfg.Logger = logs.logger()
			s := mustOpen(t, cfg)
			defer mustClose(t, s)
			s.Put("old", "g", value("old", 100))
			mustFlush(t, s)
			fs.Inject(func(o disktest.Op) error {
				if o.Kind == op {
					return syscall.ENOSPC
				}
				return nil
			})
			s.Put("new", "g", value("new", 100))
			if err := s.Flush(context.Background()); !errors.Is(err, disk.ErrOff) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Flush on a full device: %v, want ErrOff wrapping ENOSPC", err)
			}
			if s.Put("later", "g", nil) {
				t.Error("Put accepted after writes failed")
			}
			mustGet(t, s, "old", value("old", 100)) // still served
			if _, err := s.RemoveGroup(context.Background(), "g"); !errors.Is(err, disk.ErrOff) {
				t.Errorf("RemoveGroup that cannot persist: %v, want ErrOff", err)
			}
			st := s.Stats()
			if !st.Off || st.WriteErrors == 0 || st.Dropped != 1 {
				t.Errorf("Off %v, WriteErrors %d, Dropped %d", st.Off, st.WriteErrors, st.Dropped)
			}
			if n := strings.Count(logs.String(), "disk write failed"); n != 1 {
				t.Errorf("%d log lines for the failed writes, want 1:\n%s", n, logs.String())
			}
		})
	}
}

func TestCorruptSummaryFallsBackToScan(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	for i := range 30 { // region 0 fills and is sealed
		s.Put(fmt.Sprint(i), "g", value(fmt.Sprint(i), 100))
	}
	mustClose(t, s)
	footer := int64(disk.BlockSize + testRegion - disk.BlockSize)
	fs.Corrupt(testFile, footer+40, 1)
	s = mustOpen(t, testConfig(fs.Restart()))
	defer mustClose(t, s)
	if s.Len() != 30 {
		t.Errorf("%d entries after a summary was lost, want all 30", s.Len())
	}
	if s.Stats().ScannedBlocks < testRegion/disk.BlockSize-3 {
		t.Errorf("scanned %d blocks, want region 0 read record by record", s.Stats().ScannedBlocks)
	}
	mustGet(t, s, "0", value("0", 100))
}

// TestReadOfAReusedRegionIsAPlainMiss stalls a read until its region has
// been evicted and written again: the bytes it then reads are another
// record's, which is a miss, not damage to count.
func TestReadOfAReusedRegionIsAPlainMiss(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	defer mustClose(t, s)
	s.Put("a", "g", value("a", 100))
	mustFlush(t, s)
	started, release := make(chan struct{}), make(chan struct{})
	fs.Inject(func(op disktest.Op) error {
		if op.Kind == disktest.OpRead && op.Off == firstRecord && op.Len == disk.BlockSize {
			close(started)
			<-release
		}
		return nil
	})
	got := make(chan error)
	go func() {
		_, err := s.Get(context.Background(), "a")
		got <- err
	}()
	<-started
	for i := range 200 { // wraps the store: region 0 is reused
		s.Put(fmt.Sprint(i), "g", value(fmt.Sprint(i), 2000))
		mustFlush(t, s)
	}
	close(release)
	if err := <-got; !errors.Is(err, disk.ErrNotFound) {
		t.Errorf("Get of a reused region: %v, want ErrNotFound", err)
	}
	if st := s.Stats(); st.ReadErrors != 0 {
		t.Errorf("%d read errors counted for a reused region", st.ReadErrors)
	}
}

// TestSlowDevice plays a device that stalls: Gets give up with their
// context, Puts are dropped once the queue is full, Flush and Close give
// up with theirs, and nothing panics or leaks once the device answers.
func TestSlowDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := disktest.New()
		cfg := testConfig(fs)
		cfg.QueueBytes = 8 * disk.BlockSize
		s := mustOpen(t, cfg)
		s.Put("a", "g", value("a", 100))
		mustFlush(t, s)
		stall := make(chan struct{})
		fs.Inject(func(op disktest.Op) error {
			if op.Kind == disktest.OpRead || op.Kind == disktest.OpWrite {
				<-stall
			}
			return nil
		})

		for range cfg.Readers + 2 { // more than the readers: some wait for one
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			start := time.Now()
			if _, err := s.Get(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 50*time.Millisecond {
				t.Errorf("Get on a stalled device: %v after %v, want the deadline at 50ms", err, time.Since(start))
			}
			cancel()
		}
		s.Put("first", "g", value("x", 100))
		synctest.Wait() // the writer has taken it and stalls
		accepted := 0
		for i := range 20 {
			if s.Put(fmt.Sprint(i), "g", value("x", 100)) {
				accepted++
			}
		}
		if st := s.Stats(); accepted != 8 || st.Dropped != 12 {
			t.Errorf("%d Puts accepted, %d dropped behind a stalled write; want the queue's 8, 12 dropped", accepted, st.Dropped)
		}
		mustGet(t, s, "3", value("x", 100)) // queued values are served from memory

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush on a stalled device: %v", err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close on a stalled device: %v", err)
		}
		if st := s.Stats(); st.Abandoned != uint64(cfg.Readers+2) {
			t.Errorf("Abandoned %d, want %d", st.Abandoned, cfg.Readers+2)
		}
		close(stall)
		synctest.Wait() // the I/O in flight ends, and the store with it
	})
}

// TestLentBuffersOnASlowDevice races GetValue's deadline against reads
// that end at that very instant, so that either side may win: whoever
// loses, the buffer goes back to the pool once, never twice, so that two
// values held at once never share one (-race also sees any buffer a
// reader writes while its holder reads it).
func TestLentBuffersOnASlowDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := disktest.New()
		s := mustOpen(t, testConfig(fs))
		defer mustClose(t, s)
		want := map[string][]byte{}
		for _, k := range []string{"a", "b", "c"} {
			want[k] = value(k, 3*disk.BlockSize)
			s.Put(k, "g", want[k])
		}
		mustFlush(t, s)
		const delay = 50 * time.Millisecond
		fs.Inject(func(op disktest.Op) error {
			if op.Kind == disktest.OpRead {
				time.Sleep(delay)
			}
			return nil
		})
		won, lost := 0, 0
		for range 40 {
			ctx, cancel := context.WithTimeout(context.Background(), delay)
			v, err := s.GetValue(ctx, "a")
			cancel()
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				lost++
			case err != nil:
				t.Fatalf("GetValue: %v", err)
			case !bytes.Equal(v.Bytes(), want["a"]):
				t.Fatalf("GetValue(a): %d bytes, not the %d put", len(v.Bytes()), len(want["a"]))
			default:
				won++
				v.Release()
			}
		}
		t.Logf("reads delivered %d times, deadlines won %d times", won, lost)
		synctest.Wait() // readers whose callers left give their buffers back
		var held []*disk.Value
		for _, k := range []string{"a", "b", "c", "a"} {
			v, err := s.GetValue(context.Background(), k)
			if err != nil {
				t.Fatalf("GetValue(%s): %v", k, err)
			}
			held = append(held, v)
		}
		for i, k := range []string{"a", "b", "c", "a"} {
			if !bytes.Equal(held[i].Bytes(), want[k]) {
				t.Errorf("value %d (%s) changed while held: a buffer was lent twice", i, k)
			}
			held[i].Release()
			held[i].Release() // a second Release does nothing
		}
	})
}

// TestRepeatedPurgesShareOneTombstone purges one group again and again
// while the device stalls: the purges wait on one queued tombstone, and
// when the device answers one block is written for all of them.
func TestRepeatedPurgesShareOneTombstone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := disktest.New()
		s := mustOpen(t, testConfig(fs))
		defer mustClose(t, s)
		for i := range 5 {
			s.Put(fmt.Sprint(i), "g", value("x", 100))
		}
		mustFlush(t, s)
		before := s.Stats().WrittenBytes
		stall := stallWrites(fs)
		s.Put("slow", "h", value("x", 100))
		synctest.Wait() // the writer stalls on it
		for i := range 10 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			n, err := s.RemoveGroup(ctx, "g")
			cancel()
			if want := map[bool]int{true: 5, false: 0}[i == 0]; n != want || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("purge %d on a stalled device: %d, %v; want %d, the deadline", i, n, err, want)
			}
		}
		close(stall)
		mustFlush(t, s)
		if got := s.Stats().WrittenBytes - before; got != 2*disk.BlockSize {
			t.Errorf("%d bytes written for one put and ten purges of a group, want two blocks", got)
		}
		for i := range 5 {
			mustMiss(t, s, fmt.Sprint(i))
		}
	})
}
