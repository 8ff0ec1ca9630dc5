package edge

import (
	"context"
	"errors"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/edge/internal/engine"
)

// diskTier is the node's disk tier: on every path, a store of the
// shards this node owns and its objects (the ring's durable copy) and one
// of the decoded chunks it served (copies the ring can rebuild), each its
// share of DiskSize (Config.DiskChunkShare), so that neither evicts the
// other. Empty without DiskPaths.
type diskTier struct {
	owned, chunks disks
}

// The stores' files in each disk path.
const (
	ownedFile  = "shards.edgecache"
	chunksFile = "chunks.edgecache"
)

// Parts of the disk tier, as the metrics and the status page name them.
const (
	partShards = "shards"
	partChunks = "chunks"
)

// disks is one part of the disk tier: a store per configured path, a
// key's store chosen by its hash so that devices share the load. It
// satisfies engine.Disk.
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

// openDisks opens both stores on every path of cfg, or none: a path that
// cannot be opened, created or written fails with a *DiskError, one line
// naming it. The two stores of a path share its write queue's bytes as
// they share its size, so a path holds no more in memory than one store.
func openDisks(cfg Config) (diskTier, error) {
	var t diskTier
	chunks, owned := diskSplit(cfg.DiskSize, cfg.DiskChunkShare)
	open := func(p, name string, size int64) (*disk.Store, error) {
		queue := int64(float64(DiskQueueBytes) * float64(size) / float64(cfg.DiskSize))
		return disk.Open(disk.Config{Dir: p, Name: name, Size: size, QueueBytes: queue, Logger: cfg.Logger, FS: cfg.diskFS})
	}
	fail := func(p string, err error) (diskTier, error) {
		t.close(context.Background())
		return diskTier{}, &DiskError{Path: p, Err: err}
	}
	for _, p := range cfg.DiskPaths {
		o, err := open(p, ownedFile, owned)
		if err != nil {
			return fail(p, err)
		}
		t.owned = append(t.owned, o)
		c, err := open(p, chunksFile, chunks)
		if err != nil {
			return fail(p, err)
		}
		t.chunks = append(t.chunks, c)
	}
	return t, nil
}

// DiskQueueBytes is what the disk tier on one path may hold in memory
// waiting to be written: its two stores' write queues together.
const DiskQueueBytes = 64 << 20

// on reports whether the node has a disk tier.
func (t diskTier) on() bool { return len(t.owned) > 0 }

// close writes what is queued and closes every store, giving up with ctx.
func (t diskTier) close(ctx context.Context) error {
	return errors.Join(t.owned.close(ctx), t.chunks.close(ctx))
}

// partStats is the Stats of one store of the tier, with its part.
type partStats struct {
	part string
	disk.Stats
}

// stats returns every store's Stats, path by path.
func (t diskTier) stats() []partStats {
	var out []partStats
	for i, s := range t.owned {
		out = append(out, partStats{partShards, s.Stats()})
		if i < len(t.chunks) {
			out = append(out, partStats{partChunks, t.chunks[i].Stats()})
		}
	}
	return out
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

// Lend reads key from its store into a buffer the store lends
// (engine.Lender).
func (ds disks) Lend(ctx context.Context, key string) (engine.Lent, error) {
	v, err := ds.pick(key).GetValue(ctx, key)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// LastRead is when one of the stores' devices last ended a read.
func (ds disks) LastRead() time.Time {
	var last time.Time
	for _, s := range ds {
		if t := s.LastRead(); t.After(last) {
			last = t
		}
	}
	return last
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
