package disk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/chunk/disk/disktest"
)

func TestPutGetReopen(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	keys := map[string][]byte{}
	for i := range 40 { // 40 records of 1 to 3 blocks: half the store
		k := fmt.Sprintf("k%d", i)
		keys[k] = value(k, 1000+i*237)
		if !s.Put(k, fmt.Sprintf("g%d", i%7), keys[k]) {
			t.Fatalf("Put(%s) refused", k)
		}
	}
	for k, v := range keys {
		mustGet(t, s, k, v) // some queued, some written
	}
	mustFlush(t, s)
	for k, v := range keys {
		mustGet(t, s, k, v)
	}
	st := s.Stats()
	if st.Entries != 40 || st.Reads == 0 || st.Writes == 0 {
		t.Errorf("stats: %+v", st)
	}
	mustClose(t, s)

	s = mustOpen(t, testConfig(fs.Restart()))
	defer mustClose(t, s)
	if s.Len() != 40 {
		t.Fatalf("after reopen: %d entries, want 40", s.Len())
	}
	for k, v := range keys {
		mustGet(t, s, k, v)
	}
}

// Two stores under different names share a directory without sharing
// anything else: each keeps, and finds after a restart, its own value of
// the same key, and a purge of one leaves the other whole.
func TestTwoStoresInOneDir(t *testing.T) {
	fs := disktest.New()
	open := func(fs *disktest.FS, name string) *disk.Store {
		cfg := testConfig(fs)
		cfg.Name = name
		return mustOpen(t, cfg)
	}
	a, b := open(fs, "a.disk"), open(fs, "b.disk")
	a.Put("k", "g", value("a", 3000))
	b.Put("k", "g", value("b", 5000))
	mustClose(t, a)
	mustClose(t, b)
	fs = fs.Restart()
	a, b = open(fs, "a.disk"), open(fs, "b.disk")
	defer mustClose(t, b)
	defer mustClose(t, a)
	mustGet(t, a, "k", value("a", 3000))
	mustGet(t, b, "k", value("b", 5000))
	if n, err := a.RemoveGroup(context.Background(), "g"); n != 1 || err != nil {
		t.Fatalf("RemoveGroup: %d, %v", n, err)
	}
	mustGet(t, b, "k", value("b", 5000))
}

func TestRemoveGroupSurvivesReopen(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	for i := range 30 {
		s.Put(fmt.Sprintf("k%d", i), fmt.Sprintf("g%d", i%3), value("x", 2000))
	}
	mustFlush(t, s)
	n, err := s.RemoveGroup(context.Background(), "g1")
	if n != 10 || err != nil {
		t.Fatalf("RemoveGroup: %d, %v; want 10, nil", n, err)
	}
	if !s.Remove("k0") {
		t.Fatal("Remove(k0) found nothing")
	}
	mustClose(t, s)
	s = mustOpen(t, testConfig(fs.Restart()))
	defer mustClose(t, s)
	for i := range 30 {
		k := fmt.Sprintf("k%d", i)
		if got := s.Contains(k); got != (i%3 != 1 && i != 0) {
			t.Errorf("after reopen Contains(%s) = %v", k, got)
		}
	}
	if _, err := s.Get(context.Background(), "k1"); !errors.Is(err, disk.ErrNotFound) {
		t.Errorf("Get of a purged key: %v", err)
	}
}

func TestOverwriteAndRemove(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	s.Put("k", "g", value("k", 100))
	mustFlush(t, s)
	s.Put("k", "g", value("k", 5000))
	mustGet(t, s, "k", value("k", 5000)) // queued: served from memory
	mustFlush(t, s)
	mustGet(t, s, "k", value("k", 5000))
	if s.Len() != 1 || s.Bytes() != 2*disk.BlockSize {
		t.Errorf("after an overwrite: %d entries of %d bytes, want 1 of %d", s.Len(), s.Bytes(), 2*disk.BlockSize)
	}
	s.Put("k", "g", value("k", 7)) // removed while queued: never written
	if !s.Remove("k") || s.Contains("k") || s.Remove("k") {
		t.Fatal("Remove did not remove exactly once")
	}
	mustMiss(t, s, "k")
	mustClose(t, s)
	s = mustOpen(t, testConfig(fs.Restart()))
	defer mustClose(t, s)
	mustMiss(t, s, "k")
}

func TestEvictsOldestRegionWithinBudget(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	const n, size = 400, 3000 // one block each: about four times what the store holds
	for i := range n {
		k := fmt.Sprint(i)
		if !s.Put(k, "g", value(k, size)) {
			t.Fatalf("Put %d refused", i)
		}
		if i%10 == 9 {
			mustFlush(t, s)
		}
		if b := s.Bytes(); b > testSize {
			t.Fatalf("after %d puts: %d bytes, budget %d", i+1, b, testSize)
		}
	}
	mustFlush(t, s)
	st := s.Stats()
	if st.Evictions == 0 || st.Reclaims == 0 || st.Entries+int(st.Evictions) != n {
		t.Errorf("%d entries and %d evictions in %d reclaims, want them to add up to %d", st.Entries, st.Evictions, st.Reclaims, n)
	}
	// FIFO: what is left is the newest, a contiguous run ending at the last.
	for i := range n {
		k := fmt.Sprint(i)
		if want := i >= n-st.Entries; s.Contains(k) != want {
			t.Fatalf("Contains(%s) = %v, want %v (%d entries left)", k, !want, want, st.Entries)
		}
	}
	mustGet(t, s, fmt.Sprint(n-1), value(fmt.Sprint(n-1), size))
	if got := len(fs.Contents(testFile)); got != testSize {
		t.Errorf("the file is %d bytes, want the budget %d", got, testSize)
	}
	mustClose(t, s)

	s = mustOpen(t, testConfig(fs.Restart()))
	defer mustClose(t, s)
	if s.Len() != st.Entries {
		t.Errorf("after reopen: %d entries, want %d", s.Len(), st.Entries)
	}
}

func TestPutRefusesWhatCannotFit(t *testing.T) {
	s := mustOpen(t, testConfig(disktest.New()))
	defer mustClose(t, s)
	limit := disk.MaxValueLen(testRegion, len("k")+len("g"))
	if s.Put("k", "g", make([]byte, limit+1)) || s.Put("", "g", nil) {
		t.Fatal("Put accepted a value too large for a region, or an empty key")
	}
	if !s.Put("k", "g", value("k", int(limit))) {
		t.Fatal("Put refused a value of exactly MaxValueLen")
	}
	mustFlush(t, s)
	mustGet(t, s, "k", value("k", int(limit)))
	if st := s.Stats(); st.Refused != 2 || st.Puts != 1 {
		t.Errorf("Refused %d, Puts %d; want 2, 1", st.Refused, st.Puts)
	}
	if !s.Put("empty", "g", nil) {
		t.Fatal("Put refused an empty value")
	}
	mustFlush(t, s)
	mustGet(t, s, "empty", []byte{})
}

func TestClosedStore(t *testing.T) {
	s := mustOpen(t, testConfig(disktest.New()))
	s.Put("k", "g", value("k", 10))
	mustClose(t, s)
	if err := s.Close(context.Background()); !errors.Is(err, disk.ErrClosed) {
		t.Errorf("a second Close: %v", err)
	}
	if _, err := s.Get(context.Background(), "k"); !errors.Is(err, disk.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if s.Put("k2", "g", nil) {
		t.Error("Put after Close accepted")
	}
	if err := s.Flush(context.Background()); !errors.Is(err, disk.ErrClosed) {
		t.Errorf("Flush after Close: %v", err)
	}
}

func TestLayoutChangeStartsEmpty(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	s.Put("k", "g", value("k", 10))
	mustClose(t, s)
	var logs logBuffer
	cfg := testConfig(fs.Restart())
	cfg.RegionSize = 2 * testRegion
	cfg.Logger = logs.logger()
	s = mustOpen(t, cfg)
	defer mustClose(t, s)
	if s.Len() != 0 {
		t.Errorf("%d entries survived a change of layout", s.Len())
	}
	if !strings.Contains(logs.String(), "disk layout changed") {
		t.Errorf("no log line says why the store is empty:\n%s", logs.String())
	}
}

func TestConcurrentUse(t *testing.T) {
	s := mustOpen(t, testConfig(disktest.New()))
	defer mustClose(t, s)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 300 {
				k := fmt.Sprint((i * (w + 1)) % 50)
				switch i % 5 {
				case 0, 1:
					s.Put(k, "g"+k[:1], value(k, 100+i%7*1000))
				case 2:
					s.Remove(k)
				case 3:
					if i%50 == 3 {
						s.RemoveGroup(context.Background(), "g"+k[:1]) //nolint:errcheck // racing on purpose
					}
				default:
					if v, err := s.Get(context.Background(), k); err == nil && !bytes.HasPrefix(v, []byte(k+"/")) {
						t.Errorf("Get(%s) returned another key's bytes", k)
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestFormatChangeStartsEmpty opens a store whose superblock has another
// format version, as after an upgrade that changed the format: the store
// starts empty and says why.
func TestFormatChangeStartsEmpty(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	s.Put("k", "g", value("k", 10))
	mustClose(t, s)
	fs = fs.Restart()
	fs.Corrupt(testFile, 4, 1) // the superblock's version byte
	var logs logBuffer
	cfg := testConfig(fs)
	cfg.Logger = logs.logger()
	s = mustOpen(t, cfg)
	defer mustClose(t, s)
	if s.Len() != 0 {
		t.Errorf("%d entries survived a change of format", s.Len())
	}
	if !strings.Contains(logs.String(), "disk format changed") {
		t.Errorf("no log line says why the store is empty:\n%s", logs.String())
	}
}

// A batch of writes larger than the whole store wraps it: the regions it
// reclaims hold records of the batch itself, not indexed yet. Those must
// leave with their region like any other, so that the index points only
// at records still on the device and its bytes stay within the budget.
func TestBatchLargerThanTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := disktest.New()
		cfg := testConfig(fs)
		cfg.Size = disk.BlockSize + 2*testRegion
		s := mustOpen(t, cfg)
		defer mustClose(t, s)
		stall := stallWrites(fs)
		s.Put("first", "g", value("first", 100))
		synctest.Wait() // the writer stalls on it; what follows is one batch
		const n = 100   // 400 KiB of records for two regions of 64 KiB
		for i := range n {
			if !s.Put(fmt.Sprint(i), "g", value(fmt.Sprint(i), 4000)) {
				t.Fatalf("Put %d dropped", i)
			}
		}
		fs.Inject(nil)
		close(stall)
		mustFlush(t, s)

		st := s.Stats()
		if st.Bytes > st.Size || st.Evictions == 0 {
			t.Errorf("the store holds %d bytes of its %d after %d evictions", st.Bytes, st.Size, st.Evictions)
		}
		hits := 0
		for i := range n {
			got, err := s.Get(context.Background(), fmt.Sprint(i))
			switch {
			case errors.Is(err, disk.ErrNotFound):
			case err != nil || !bytes.Equal(got, value(fmt.Sprint(i), 4000)):
				t.Fatalf("Get %d: %v", i, err)
			default:
				hits++
			}
		}
		if st := s.Stats(); hits+1 < st.Entries || st.ReadErrors != 0 {
			t.Errorf("%d of the %d entries indexed read back, %d read errors: the index points at overwritten records", hits, st.Entries, st.ReadErrors)
		}
	})
}

// LastRead says when the device last ended a read, so that a caller
// waiting on one can tell a busy device from a stalled one: zero before
// any, then the time of the latest, a read served from the write queue
// not counting (the device ended nothing).
func TestLastRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := disktest.New()
		s := mustOpen(t, testConfig(fs))
		defer mustClose(t, s)
		if got := s.LastRead(); !got.IsZero() {
			t.Fatalf("LastRead before any read: %v", got)
		}
		v := value("k", 5000)
		s.Put("k", "g", v)
		mustGet(t, s, "k", v) // from the queue
		if got := s.LastRead(); !got.IsZero() {
			t.Fatalf("LastRead after a read of the queue: %v", got)
		}
		mustFlush(t, s)
		time.Sleep(time.Minute)
		mustGet(t, s, "k", v)
		if got := s.LastRead(); !got.Equal(time.Now()) {
			t.Errorf("LastRead after a read of the device: %v, want now (%v)", got, time.Now())
		}
	})
}
