package enginetest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"
)

// ErrNotOnDisk is what Disk.Get returns for a key it does not hold.
var ErrNotOnDisk = errors.New("not on the disk")

// Disk is an in-memory engine.Disk. Stall makes every read hang until its
// caller gives up, as a disk stuck behind a failing device does; what it
// holds is still there once Stall is lifted. Slow makes every read take a
// while, as a device busy under load does.
type Disk struct {
	mu      sync.Mutex
	entries map[string]diskEntry
	stalled bool
	delay   time.Duration
	gets    int
	puts    int
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

// Slow makes every read answer d later, or fail with its context's error
// if that ends first; 0 makes reads immediate again.
func (d *Disk) Slow(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delay = delay
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
	if !ok {
		return nil, ErrNotOnDisk
	}
	return bytes.Clone(e.v), nil
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
