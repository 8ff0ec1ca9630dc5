package disktest

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
	"unsafe"

	"github.com/edgecache/edgecache/chunk/disk"
)

func TestFSConformance(t *testing.T) {
	t.Run("fake", func(t *testing.T) { RunFSTests(t, New(), "/fake") })
	t.Run("os", func(t *testing.T) { RunFSTests(t, disk.OSFS{}, t.TempDir()) })
}

// block returns an aligned block-sized buffer filled with b.
func block(b byte) []byte {
	p := make([]byte, 2*disk.BlockSize)
	for i := range p {
		p[i] = b
	}
	for i := range disk.BlockSize {
		if uintptrOf(p[i:])%disk.BlockSize == 0 {
			return p[i : i+disk.BlockSize]
		}
	}
	panic("no aligned block in two")
}

func TestCrashAfterKeepsThePrefix(t *testing.T) {
	fs := New()
	f, err := fs.Open("/d/f", 4*disk.BlockSize, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(block(1), 0); err != nil {
		t.Fatal(err)
	}
	fs.CrashAfter(disk.BlockSize + 100)
	if _, err := f.WriteAt(block(2), disk.BlockSize); err != nil {
		t.Fatalf("a write within the limit failed: %v", err)
	}
	if n, err := f.WriteAt(block(3), 2*disk.BlockSize); n != 100 || !errors.Is(err, ErrCrashed) {
		t.Fatalf("the crossing write: %d bytes, %v; want 100, ErrCrashed", n, err)
	}
	if _, err := f.WriteAt(block(4), 3*disk.BlockSize); !errors.Is(err, ErrCrashed) {
		t.Errorf("a write after the crash: %v", err)
	}
	if err := f.Sync(); !errors.Is(err, ErrCrashed) {
		t.Errorf("a sync after the crash: %v", err)
	}
	if !fs.Crashed() {
		t.Error("Crashed() is false")
	}
	got := fs.Restart().Contents("/d/f")
	want := append(append(append(bytes.Repeat([]byte{1}, disk.BlockSize), bytes.Repeat([]byte{2}, disk.BlockSize)...),
		bytes.Repeat([]byte{3}, 100)...), make([]byte, 2*disk.BlockSize-100)...)
	if !bytes.Equal(got, want) {
		t.Error("after the restart the file does not hold exactly the bytes written before the crash")
	}
	f.Close()
}

func TestInjectedFaults(t *testing.T) {
	fs := New()
	f, err := fs.Open("/d/f", 2*disk.BlockSize, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs.Inject(func(op Op) error {
		if op.Kind == OpRead && op.Off == disk.BlockSize {
			return syscall.EIO
		}
		return nil
	})
	if _, err := f.ReadAt(block(0), 0); err != nil {
		t.Errorf("a read the fault spares: %v", err)
	}
	if _, err := f.ReadAt(block(0), disk.BlockSize); !errors.Is(err, syscall.EIO) {
		t.Errorf("the faulty read: %v, want EIO", err)
	}
	fs.Inject(nil)
	if _, err := f.ReadAt(block(0), disk.BlockSize); err != nil {
		t.Errorf("after Inject(nil): %v", err)
	}
	if _, err := f.WriteAt(block(0)[:100], 0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("an unaligned direct write: %v, want EINVAL", err)
	}
	if _, err := f.WriteAt(block(0), 2*disk.BlockSize); err == nil {
		t.Error("a write past the reserved size succeeded")
	}
	fs.Corrupt("/d/f", 10, 2)
	if c := fs.Contents("/d/f"); c[10] != 0xff || c[11] != 0xff || c[12] != 0 {
		t.Error("Corrupt did not flip exactly the bytes asked")
	}
}

func TestCapacityAndBufferedFallback(t *testing.T) {
	fs := New()
	fs.SetCapacity(disk.BlockSize)
	if _, err := fs.Open("/d/f", 2*disk.BlockSize, true); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Open beyond capacity: %v, want ENOSPC", err)
	}
	fs.SetCapacity(0)
	fs.RefuseDirect()
	f, err := fs.Open("/d/f", 2*disk.BlockSize, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Direct() {
		t.Error("Direct() on a filesystem that refuses O_DIRECT")
	}
	if _, err := f.WriteAt([]byte("unaligned is fine buffered"), 3); err != nil {
		t.Errorf("a buffered unaligned write: %v", err)
	}
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
