// Package disktest provides what tests of chunk/disk and of its users
// need to make a device fail on demand: FS, an in-memory disk.FS with
// injectable faults (errors on any operation, a crash at any byte of the
// write stream, corruption, a device that stalls), and RunFSTests, the
// behaviour every disk.FS must have, which both FS and disk.OSFS pass.
//
// It must never be used outside tests.
package disktest

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"unsafe"

	"github.com/edgecache/edgecache/chunk/disk"
)

// ErrCrashed is what every write and sync returns once the FS has
// crashed (see CrashAfter): the process those writes belong to is dead.
var ErrCrashed = errors.New("disktest: crashed")

// Kind names an operation of the file layer.
type Kind int

// The operations a fault can be injected into.
const (
	OpOpen Kind = iota
	OpRead
	OpWrite
	OpSync
)

// Op is one operation, as a fault function sees it.
type Op struct {
	Kind Kind
	Name string
	Off  int64
	Len  int
}

// FS is an in-memory disk.FS. Files have the size they were opened with;
// like O_DIRECT files (direct ones, when the FS allows), they take only
// whole blocks at aligned offsets from aligned buffers (EINVAL
// otherwise), so a layout bug shows here as it would on a device. Safe
// for concurrent use.
type FS struct {
	mu         sync.Mutex
	files      map[string][]byte // guarded by mu
	locked     map[string]bool   // guarded by mu
	fault      func(Op) error    // guarded by mu
	crashAfter int64             // guarded by mu; bytes writes may still store; < 0: no crash planned
	crashed    bool              // guarded by mu
	capacity   int64             // guarded by mu; 0: unlimited
	noDirect   bool              // guarded by mu
}

// New returns an empty FS.
func New() *FS {
	return &FS{files: map[string][]byte{}, locked: map[string]bool{}, crashAfter: -1}
}

// Inject makes every operation call fault first, outside the FS's lock
// (so it may block, to play a stalled device); an error it returns fails
// the operation, which then does nothing. Nil removes it.
func (fs *FS) Inject(fault func(Op) error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.fault = fault
}

// CrashAfter lets writes store n more bytes; the write that crosses the
// limit stores the bytes before it and fails, and so does every write and
// sync after it, with ErrCrashed. Reads still work. With Restart this
// plays a kill -9 or a power cut at any byte of the write stream,
// including in the middle of a record.
func (fs *FS) CrashAfter(n int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.crashAfter = n
}

// Crashed reports whether a crash planned by CrashAfter happened.
func (fs *FS) Crashed() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.crashed
}

// Restart returns a new FS holding the files as they are now, with no
// fault, no crash and no lock: what the next process finds.
func (fs *FS) Restart() *FS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := New()
	for name, b := range fs.files {
		n.files[name] = append([]byte(nil), b...)
	}
	n.capacity, n.noDirect = fs.capacity, fs.noDirect
	return n
}

// SetCapacity makes Open fail with ENOSPC, as OSFS does, for a file
// larger than n bytes; 0 means no limit.
func (fs *FS) SetCapacity(n int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.capacity = n
}

// RefuseDirect plays a filesystem that refuses O_DIRECT (tmpfs): files
// open buffered, and File.Direct reports false.
func (fs *FS) RefuseDirect() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.noDirect = true
}

// Corrupt flips every bit of n bytes of file name from off.
func (fs *FS) Corrupt(name string, off int64, n int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	b := fs.files[name]
	for i := off; i < off+int64(n) && i < int64(len(b)); i++ {
		b[i] ^= 0xff
	}
}

// Contents returns a copy of file name's bytes (nil if it does not
// exist).
func (fs *FS) Contents(name string) []byte {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]byte(nil), fs.files[name]...)
}

// Open implements disk.FS.
func (fs *FS) Open(name string, size int64, direct bool) (disk.File, error) {
	if err := fs.inject(Op{Kind: OpOpen, Name: name, Len: int(size)}); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.locked[name] {
		return nil, fmt.Errorf("%s is in use by another process", name)
	}
	if fs.capacity > 0 && size > fs.capacity {
		return nil, fmt.Errorf("reserve %d bytes for %s: %w", size, name, syscall.ENOSPC)
	}
	b := fs.files[name]
	if int64(len(b)) > size {
		b = b[:size]
	}
	fs.files[name] = append(b, make([]byte, size-int64(len(b)))...)
	fs.locked[name] = true
	return &file{fs: fs, name: name, direct: direct && !fs.noDirect}, nil
}

func (fs *FS) inject(op Op) error {
	fs.mu.Lock()
	f := fs.fault
	fs.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(op)
}

type file struct {
	fs     *FS
	name   string
	direct bool

	mu     sync.Mutex
	closed bool // guarded by mu
}

func (f *file) check(p []byte, off int64) error {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return fmt.Errorf("%s: %w", f.name, syscall.EBADF)
	}
	if f.direct && (off%disk.BlockSize != 0 || len(p)%disk.BlockSize != 0 ||
		uintptr(unsafe.Pointer(unsafe.SliceData(p)))%disk.BlockSize != 0) {
		return fmt.Errorf("%s: unaligned direct I/O of %d bytes at %d: %w", f.name, len(p), off, syscall.EINVAL)
	}
	return nil
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check(p, off); err != nil {
		return 0, err
	}
	if err := f.fs.inject(Op{Kind: OpRead, Name: f.name, Off: off, Len: len(p)}); err != nil {
		return 0, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	b := f.fs.files[f.name]
	if off < 0 || off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check(p, off); err != nil {
		return 0, err
	}
	if err := f.fs.inject(Op{Kind: OpWrite, Name: f.name, Off: off, Len: len(p)}); err != nil {
		return 0, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	b := f.fs.files[f.name]
	if off < 0 || off+int64(len(p)) > int64(len(b)) {
		return 0, fmt.Errorf("%s: write of %d bytes at %d, past the reserved %d: %w", f.name, len(p), off, len(b), syscall.EFBIG)
	}
	if f.fs.crashed {
		return 0, ErrCrashed
	}
	n := len(p)
	if f.fs.crashAfter >= 0 {
		n = int(min(int64(n), f.fs.crashAfter))
		f.fs.crashAfter -= int64(n)
	}
	copy(b[off:], p[:n])
	if n < len(p) {
		f.fs.crashed = true
		return n, ErrCrashed
	}
	return n, nil
}

func (f *file) Sync() error {
	if err := f.fs.inject(Op{Kind: OpSync, Name: f.name}); err != nil {
		return err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.crashed {
		return ErrCrashed
	}
	return nil
}

func (f *file) Direct() bool { return f.direct }

func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("%s: %w", f.name, syscall.EBADF)
	}
	f.closed = true
	f.fs.mu.Lock()
	delete(f.fs.locked, f.name)
	f.fs.mu.Unlock()
	return nil
}
