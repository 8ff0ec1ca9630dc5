package disk

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// FileName is the name of the store's file in Config.Dir.
const FileName = "edgecache.disk"

// Config configures a Store. Dir and Size are required; every other field
// has the default its comment gives.
type Config struct {
	// Dir is the directory on the device the store lives in; it is
	// created if missing. The store is one file in it, Name.
	Dir string
	// Name is the store's file in Dir, so that stores of different
	// contents may share a device. Default FileName.
	Name string
	// Size is the budget: the file's size, metadata included, so the store
	// never takes more of the device. At least two regions and the
	// superblock; at most 16 TiB (block numbers are 32 bits).
	Size int64
	// RegionSize is the unit of writing and eviction: the writer fills one
	// region at a time and the oldest whole region is evicted to make
	// room. A multiple of BlockSize, 64 KiB to 256 MiB; the largest value
	// a Put accepts is a little under it (MaxValueLen). Default 16 MiB, or
	// Size/8 (rounded down to a block) when that is smaller, so that an
	// eviction never takes more than an eighth of a small store.
	RegionSize int64
	// QueueBytes bounds the records waiting to be written; a Put that
	// would exceed it is dropped and counted. Their values stay in
	// memory until written: count them in the node's memory overhead.
	// Default 64 MiB.
	QueueBytes int64
	// WriteBytes is the size of the writes the writer issues: records are
	// gathered into one buffer of this size (allocated once, aligned) and
	// written when it is full or the queue is empty. A multiple of
	// BlockSize. Default 1 MiB.
	WriteBytes int
	// Readers is the number of goroutines that read records; a Get waits
	// for one (or for its context). Default 4.
	Readers int
	// MaxReadErrors is how many reads in a row may fail (an I/O error or a
	// checksum) before the store stops reading and writing altogether: a
	// device that fails that often costs every reader its wait. Default 16.
	MaxReadErrors int
	// Buffered, if set, uses the page cache with writes written through and
	// pages dropped after use (fadvise DONTNEED) instead of O_DIRECT. The
	// store falls back to it by itself where the filesystem refuses
	// O_DIRECT. Default false.
	Buffered bool
	// FS opens the file. Default OSFS{}.
	FS FS
	// Logger receives the store's log lines, each with the attribute
	// "disk" = the file's path. Nil: discard.
	Logger *slog.Logger
	// Now is the clock that times reads, writes and the index rebuild.
	// Nil: time.Now.
	Now func() time.Time
}

// Limits of the layout.
const (
	minRegionSize = 64 << 10
	maxRegionSize = 256 << 20
	maxFileSize   = BlockSize << 32
)

// withDefaults returns c with every zero field set to its default, or an
// error naming every field out of range.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = FileName
	}
	if c.RegionSize == 0 {
		c.RegionSize = min(16<<20, (c.Size/8)&^(BlockSize-1))
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = 64 << 20
	}
	if c.WriteBytes == 0 {
		c.WriteBytes = 1 << 20
	}
	if c.Readers == 0 {
		c.Readers = 4
	}
	if c.MaxReadErrors == 0 {
		c.MaxReadErrors = 16
	}
	if c.FS == nil {
		c.FS = OSFS{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("a directory is required"))
	}
	if c.Name == "." || c.Name == ".." || filepath.Base(c.Name) != c.Name {
		errs = append(errs, fmt.Errorf("file name %q is not a name in the directory", c.Name))
	}
	if c.RegionSize < minRegionSize || c.RegionSize > maxRegionSize || c.RegionSize%BlockSize != 0 {
		errs = append(errs, fmt.Errorf("region size %d is not a multiple of %d between %d and %d",
			c.RegionSize, BlockSize, minRegionSize, maxRegionSize))
	} else if c.Size < BlockSize+2*c.RegionSize || c.Size > maxFileSize {
		errs = append(errs, fmt.Errorf("size %d is outside %d (two regions of %d and a superblock) .. %d",
			c.Size, BlockSize+2*c.RegionSize, c.RegionSize, int64(maxFileSize)))
	}
	if c.QueueBytes < 0 {
		errs = append(errs, fmt.Errorf("queue bytes %d is negative", c.QueueBytes))
	}
	if c.WriteBytes < BlockSize || c.WriteBytes%BlockSize != 0 {
		errs = append(errs, fmt.Errorf("write bytes %d is not a positive multiple of %d", c.WriteBytes, BlockSize))
	}
	if c.Readers < 1 {
		errs = append(errs, fmt.Errorf("readers %d must be at least 1", c.Readers))
	}
	if c.MaxReadErrors < 1 {
		errs = append(errs, fmt.Errorf("max read errors %d must be at least 1", c.MaxReadErrors))
	}
	return errors.Join(errs...)
}

// MaxValueLen is the largest value a Put accepts into regions of
// regionSize bytes, under a key and group of nameLen bytes together: a
// region holds its header block, the record, and a summary and footer.
func MaxValueLen(regionSize int64, nameLen int) int64 {
	return regionSize - BlockSize - sealLen(1) - recordFixedLen - int64(nameLen)
}
