package disk_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/chunk/disk/disktest"
)

// The layout of the tests' stores: small regions, so that a few dozen
// values fill one and a few hundred wrap the store.
const (
	testRegion = 64 << 10
	testSize   = disk.BlockSize + 8*testRegion
	testDir    = "/cache"
	testFile   = testDir + "/" + disk.FileName
)

func testConfig(fs disk.FS) disk.Config {
	return disk.Config{Dir: testDir, Size: testSize, RegionSize: testRegion, FS: fs}
}

func mustOpen(t testing.TB, cfg disk.Config) *disk.Store {
	t.Helper()
	s, err := disk.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustClose(t testing.TB, s *disk.Store) {
	t.Helper()
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func mustFlush(t testing.TB, s *disk.Store) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// value returns the bytes tests store under key, n of them, different
// for every key and size, so a value served under the wrong key shows.
func value(key string, n int) []byte {
	seed := []byte(fmt.Sprintf("%s/%d:", key, n))
	return bytes.Repeat(seed, n/len(seed)+1)[:n]
}

// mustGet fails the test unless key holds want.
func mustGet(t testing.TB, s *disk.Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q): %d bytes, not the %d put", key, len(got), len(want))
	}
}

// mustMiss fails the test unless key misses.
func mustMiss(t testing.TB, s *disk.Store, key string) {
	t.Helper()
	if got, err := s.Get(context.Background(), key); err == nil {
		t.Fatalf("Get(%q) returned %d bytes, want a miss", key, len(got))
	}
}

// logBuffer collects log lines for tests that check what the store
// says.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// stallWrites makes every write to fs wait until the returned channel is
// closed: a device stuck on a write, for tests that need the writer busy.
func stallWrites(fs *disktest.FS) chan struct{} {
	stall := make(chan struct{})
	fs.Inject(func(op disktest.Op) error {
		if op.Kind == disktest.OpWrite {
			<-stall
		}
		return nil
	})
	return stall
}
