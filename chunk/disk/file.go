package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FS opens the file a Store lives in: OSFS is the real one, and
// chunk/disk/disktest has an in-memory fake that fails on demand, so that
// every fault a device can have is tested deterministically.
type FS interface {
	// Open opens the file name, creating it and its directory if need be,
	// locked against any other Open of it until Close, with exactly size
	// bytes allocated to it. With direct, I/O bypasses the page cache if
	// the filesystem allows (File.Direct says whether it does). Errors name
	// the path.
	Open(name string, size int64, direct bool) (File, error)
}

// File is the store's open file. The store reads and writes whole blocks
// at block-aligned offsets, from block-aligned buffers. Its methods are
// safe for concurrent use.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Sync makes what was written durable against a power cut
	// (fdatasync); a completed WriteAt already survives the process.
	Sync() error
	// Direct reports whether reads and writes bypass the page cache.
	Direct() bool
	Close() error
}

// OSFS is the operating system's file system. With direct I/O it opens
// files O_DIRECT, and falls back to buffered I/O where the filesystem
// refuses that (tmpfs, some overlays); buffered files are written through
// (sync_file_range) and their pages dropped after every read and write
// (fadvise DONTNEED), so the page cache never keeps a second copy of what
// the memory tier holds.
type OSFS struct{}

// Open implements FS: it creates the directory (0750) and the file
// (0640), takes an exclusive flock, and reserves size bytes with
// fallocate (ftruncate where unsupported), truncating a larger file.
func (OSFS) Open(name string, size int64, direct bool) (File, error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
		return nil, err
	}
	const flags = os.O_RDWR | os.O_CREATE
	f, err := os.OpenFile(name, flags|directFlag(direct), 0o640)
	if direct && errors.Is(err, unix.EINVAL) {
		direct = false
		f, err = os.OpenFile(name, flags, 0o640)
	}
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another process", name)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if err := reserve(f, fd, size); err != nil {
		f.Close()
		return nil, fmt.Errorf("reserve %d bytes for %s: %w", size, name, err)
	}
	if !direct {
		// No readahead: it would cache pages past each read that the
		// DONTNEED after it does not cover (measured: a pass over 2 GiB
		// left 2 GiB cached).
		_ = unix.Fadvise(fd, 0, 0, unix.FADV_RANDOM)
	}
	return &osFile{f: f, fd: fd, direct: direct}, nil
}

func directFlag(direct bool) int {
	if direct {
		return unix.O_DIRECT
	}
	return 0
}

// reserve makes f exactly size bytes long with its blocks allocated, so
// that a full device is found at open and not in the middle of a write.
func reserve(f *os.File, fd int, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > size {
		if err := f.Truncate(size); err != nil {
			return err
		}
	}
	err = unix.Fallocate(fd, 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return f.Truncate(size)
	}
	return err
}

type osFile struct {
	f      *os.File
	fd     int
	direct bool
}

func (o *osFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.f.ReadAt(p, off)
	if !o.direct && n > 0 {
		// Advice only: a failure leaves pages cached, never wrong bytes.
		_ = unix.Fadvise(o.fd, off, int64(n), unix.FADV_DONTNEED)
	}
	return n, err
}

func (o *osFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := o.f.WriteAt(p, off)
	if !o.direct && err == nil {
		// Dirty pages cannot be dropped: write them out first.
		const through = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
		if err := unix.SyncFileRange(o.fd, off, int64(n), through); err != nil {
			return n, fmt.Errorf("write %s: %w", o.f.Name(), err)
		}
		_ = unix.Fadvise(o.fd, off, int64(n), unix.FADV_DONTNEED)
	}
	return n, err
}

func (o *osFile) Sync() error {
	if err := unix.Fdatasync(o.fd); err != nil {
		return fmt.Errorf("fdatasync %s: %w", o.f.Name(), err)
	}
	return nil
}

func (o *osFile) Direct() bool { return o.direct }

func (o *osFile) Close() error { return o.f.Close() }

// alignedBuf returns a zeroed n-byte slice whose first byte is
// BlockSize-aligned in memory, as O_DIRECT requires of buffers (Go's heap
// does not move objects, so the alignment holds for the slice's life).
// Go places allocations of 32 KiB and more at the start of its 8 KiB
// pages, so the first try nearly always fits; the fallback spends one
// spare block.
func alignedBuf(n int) []byte {
	if b := make([]byte, n); aligned(b) {
		return b
	}
	b := make([]byte, n+BlockSize)
	off := BlockSize - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%BlockSize)
	return b[off : off+n : off+n]
}

func aligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%BlockSize == 0
}
