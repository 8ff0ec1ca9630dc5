package edge

import (
	"context"
	"errors"

	"github.com/cespare/xxhash/v2"

	"github.com/edgecache/edgecache/chunk/disk"
)

// disks is the node's disk tier: one store per configured path, a key's
// store chosen by its hash so that devices share the load. It satisfies
// engine.Disk.
type disks []*disk.Store

// DiskError is a disk path that New could not open: not a directory, not
// writable, without room for its file, or in use by another process. It
// is a problem of the configuration or of the machine, found before the
// node serves anything, which the edge command reports as a usage error.
type DiskError struct {
	Path string // the DiskPaths entry
	Err  error  // what failed; its text names the path
}

// Error is the one line of Err.
func (e *DiskError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *DiskError) Unwrap() error { return e.Err }

// openDisks opens a store on every path of cfg, or none: a path that
// cannot be opened, created or written fails with a *DiskError, one line
// naming it.
func openDisks(cfg Config) (disks, error) {
	var ds disks
	for _, p := range cfg.DiskPaths {
		s, err := disk.Open(disk.Config{Dir: p, Size: cfg.DiskSize, Logger: cfg.Logger, FS: cfg.diskFS})
		if err != nil {
			ds.close(context.Background())
			return nil, &DiskError{Path: p, Err: err}
		}
		ds = append(ds, s)
	}
	return ds, nil
}

// close writes what is queued and closes every store, giving up with ctx.
func (ds disks) close(ctx context.Context) error {
	var errs []error
	for _, s := range ds {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}

func (ds disks) pick(key string) *disk.Store {
	if len(ds) == 1 {
		return ds[0]
	}
	return ds[xxhash.Sum64String(key)%uint64(len(ds))]
}

// Put queues v on key's store.
func (ds disks) Put(key, group string, v []byte) bool { return ds.pick(key).Put(key, group, v) }

// Get reads key from its store.
func (ds disks) Get(ctx context.Context, key string) ([]byte, error) {
	return ds.pick(key).Get(ctx, key)
}

// Contains reports whether key's store holds it.
func (ds disks) Contains(key string) bool { return ds.pick(key).Contains(key) }

// Remove drops key from its store.
func (ds disks) Remove(key string) bool { return ds.pick(key).Remove(key) }

// RemoveGroup drops group from every store: its keys are spread by their
// own hashes.
func (ds disks) RemoveGroup(ctx context.Context, group string) (int, error) {
	total := 0
	var errs []error
	for _, s := range ds {
		n, err := s.RemoveGroup(ctx, group)
		total += n
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// stats returns every store's Stats.
func (ds disks) stats() []disk.Stats {
	out := make([]disk.Stats, len(ds))
	for i, s := range ds {
		out[i] = s.Stats()
	}
	return out
}
