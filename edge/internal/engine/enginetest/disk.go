package enginetest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
)

// ErrNotOnDisk is what Disk.Get returns for a key it does not hold.
var ErrNotOnDisk = errors.New("not on the disk")

// Disk is an in-memory engine.Disk. Stall makes every read hang until its
// caller gives up, as a disk stuck behind a failing device does; what it
// holds is still there once Stall is lifted. Busy makes every read take a
// while, as a device busy under load does.
type Disk struct {
	mu      sync.Mutex
	entries map[string]diskEntry
	stalled bool
	delay   time.Duration
	// outstanding counts the buffers Lend lent that were not released.
	outstanding int
	lastRead    time.Time
	gets        int
	puts        int
}

type diskEntry struct {
	group string
	v     []byte
}

// NewDisk returns an empty Disk.
func NewDisk() *Disk { return &Disk{entries: map[string]diskEntry{}} }

// Stall makes reads hang until their context ends (on), or answer again.
func (d *Disk) Stall(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stalled = on
}

// Busy makes every read answer delay later, or fail with its context's
// error if that ends first, while the device is ending other reads all
// along (LastRead is always now), as a device busy under load does; 0
// makes reads immediate again.
func (d *Disk) Busy(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delay = delay
}

// LastRead is engine.Disk's: now while Busy, else when a read last
// answered (a stalled disk answers none).
func (d *Disk) LastRead() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.delay > 0 {
		return time.Now()
	}
	return d.lastRead
}

// Len is how many entries the disk holds.
func (d *Disk) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

// Keys returns the keys the disk holds, sorted.
func (d *Disk) Keys() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Sorted(maps.Keys(d.entries))
}

// Gets is how many reads the disk was asked for.
func (d *Disk) Gets() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gets
}

// Put is engine.Disk's; it keeps a copy of v, as a write queue does.
func (d *Disk) Put(key, group string, v []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.puts++
	d.entries[key] = diskEntry{group: group, v: bytes.Clone(v)}
	return true
}

// Get is engine.Disk's: a copy of what key holds, ErrNotOnDisk, or, while
// stalled or past ctx's end, ctx's error.
func (d *Disk) Get(ctx context.Context, key string) ([]byte, error) {
	d.mu.Lock()
	d.gets++
	e, ok := d.entries[key]
	stalled, delay := d.stalled, d.delay
	d.mu.Unlock()
	if stalled {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	d.mu.Lock()
	d.lastRead = time.Now()
	d.mu.Unlock()
	if !ok {
		return nil, ErrNotOnDisk
	}
	return bytes.Clone(e.v), nil
}

// Lend is engine.Lender's: Get's answer, in a buffer whose Release
// overwrites it (every byte 0xEE), so that a caller reading it after the
// release sends wrong bytes that a test sees. Outstanding counts the
// buffers lent and not given back.
func (d *Disk) Lend(ctx context.Context, key string) (engine.Lent, error) {
	v, err := d.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.outstanding++
	d.mu.Unlock()
	return &lent{d: d, v: v}, nil
}

// Outstanding is how many buffers Lend lent that were not released.
func (d *Disk) Outstanding() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.outstanding
}

// lent is a value the fake Disk lent.
type lent struct {
	d    *Disk
	v    []byte
	once sync.Once
}

func (l *lent) Bytes() []byte { return l.v }

func (l *lent) Release() {
	l.once.Do(func() {
		Poison(l.v)
		l.d.mu.Lock()
		l.d.outstanding--
		l.d.mu.Unlock()
	})
}

// Poison overwrites b as a buffer given back for reuse may be: a reader
// that kept it past its release sees 0xEE bytes.
func Poison(b []byte) {
	for i := range b {
		b[i] = 0xEE
	}
}

// Contains is engine.Disk's.
func (d *Disk) Contains(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.entries[key]
	return ok
}

// Puts is how many writes the disk took.
func (d *Disk) Puts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.puts
}

// Remove is engine.Disk's.
func (d *Disk) Remove(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.entries[key]
	delete(d.entries, key)
	return ok
}

// RemoveGroup is engine.Disk's.
func (d *Disk) RemoveGroup(_ context.Context, group string) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for k, e := range d.entries {
		if e.group == group {
			delete(d.entries, k)
			n++
		}
	}
	return n, nil
}
