package disktest

import (
	"bytes"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/edgecache/edgecache/chunk/disk"
)

// RunFSTests checks the behaviour the store relies on from a disk.FS,
// with files under dir: Open makes a zeroed file of exactly the size
// asked, locked until Close; what is written is read back, and is still
// there after a reopen; a shorter size truncates. The real disk.OSFS and
// FS both pass it, which is what lets the store's fault tests stand for
// the real device.
func RunFSTests(t *testing.T, fsys disk.FS, dir string) {
	const size = 16 * disk.BlockSize
	name := filepath.Join(dir, "sub", disk.FileName)
	buf := func(n int) []byte { // aligned, as the store's are
		b := make([]byte, n+disk.BlockSize)
		off := disk.BlockSize - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%disk.BlockSize)
		return b[off : off+n]
	}

	f, err := fsys.Open(name, size, true)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got := buf(size)
	if n, err := f.ReadAt(got, 0); n != size {
		t.Fatalf("ReadAt of the new file: %d bytes, %v; want %d", n, err, size)
	}
	if !bytes.Equal(got, make([]byte, size)) {
		t.Error("a new file is not zeroed")
	}
	if _, err := fsys.Open(name, size, true); err == nil {
		t.Error("a second Open of an open file succeeded: two stores would share it")
	}

	data := buf(2 * disk.BlockSize)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	if n, err := f.WriteAt(data, 3*disk.BlockSize); n != len(data) || err != nil {
		t.Fatalf("WriteAt: %d, %v", n, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	back := buf(len(data))
	if _, err := f.ReadAt(back, 3*disk.BlockSize); err != nil || !bytes.Equal(back, data) {
		t.Fatalf("ReadAt after WriteAt: %v, same bytes %v", err, bytes.Equal(back, data))
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	f, err = fsys.Open(name, 5*disk.BlockSize, true)
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	defer f.Close()
	clear(back)
	if _, err := f.ReadAt(back, 3*disk.BlockSize); err != nil || !bytes.Equal(back, data) {
		t.Errorf("after reopen: %v, same bytes %v", err, bytes.Equal(back, data))
	}
	if n, err := f.ReadAt(buf(disk.BlockSize), 5*disk.BlockSize); n != 0 || err == nil {
		t.Errorf("a read past the truncated size gave %d bytes, %v", n, err)
	}
}
