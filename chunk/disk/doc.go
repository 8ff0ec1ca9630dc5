// Package disk is edgecache's disk tier: a byte-bounded cache of values
// (shard frames, decoded chunks) on one local device, which survives
// restarts. Keys and groups are opaque strings; a caller files each key
// under a group (the edge uses the object) so that RemoveGroup purges it
// without a scan.
//
// # Layout
//
// One preallocated file per device, Size bytes, metadata included: a
// superblock, then regions of RegionSize bytes (16 MiB by default). The
// writer appends records to one region at a time in large aligned writes
// (WriteBytes, 1 MiB) and, when the region is full, writes its summary (32
// bytes per record) and footer at its end, then moves to the next region,
// evicting the oldest whole region if none is free: FIFO, a region at a
// time, so the device sees only large sequential writes and the
// filesystem never creates or deletes a file. Hot entries are not
// re-inserted when their region goes: the memory tier in front of the
// store keeps what is hot, and rewriting would cost the device writes
// for entries the ring can repair anyway.
//
// Every record is self-describing: its header carries its kind (a value,
// or a tombstone for a key or a group), its key, its group, the lengths,
// the store's id, a sequence number, an XXH3-64 of the value and an
// xxhash64 of the header (record.go has the byte layout).
//
// # Index
//
// In memory, the hash of each key maps to its record's place, and entries
// are linked per group: at most IndexEntryBytes (112) bytes per entry, and
// a region table of 16 bytes per region. Keys are not kept in memory: a
// read checks the record's key (and its checksums) before it returns
// anything, so a hash collision is a miss.
//
// # Restart
//
// Open rebuilds the index from the regions, oldest first: a sealed
// region's summary in one read, and a region without one (the region
// being written at the crash) record by record, each checked whole, up to
// the first that fails (a torn tail is cut there and overwritten).
// Tombstones replay in order, so nothing removed comes back. A record is
// otherwise checked lazily, by its checksums, when it is read. A kill -9
// loses what was queued and the write in flight, nothing before.
//
// # Purges
//
// Remove and RemoveGroup drop entries from the index at once and write a
// tombstone, a record with its own sequence number; RemoveGroup waits
// until its tombstone is written and synced. A tombstone needs no
// cleaning: by the time FIFO eviction reaches its region, every region
// older than it, and so every record it removed, has gone before.
//
// # Page cache
//
// The file is opened O_DIRECT with block-aligned buffers, so reads and
// writes bypass the page cache and the memory tier's copy is the only one
// in RAM; a filesystem that refuses O_DIRECT gets buffered I/O with every
// range written through and dropped (fadvise DONTNEED) after use.
//
// # Faults
//
// I/O goes through a small interface (FS, File) with the real
// implementation (OSFS) and a fault-injecting fake (disktest). A path
// that cannot be opened, locked or reserved fails Open with one line that
// names it. A failed write or sync turns writing off (ErrOff, one log
// line, Stats.WriteErrors): Puts are dropped, and the store still serves
// what it holds. A failed read or checksum is a miss that drops the
// entry (Stats.ReadErrors, a log line); MaxReadErrors of them in a row
// turn the store off. A slow device never holds a caller: Put only
// queues (dropping when the queue is full), Get gives up with its
// context, and Close with its own.
//
// # What this package must never do
//
// It must never import edge, ring, origin or bench, and knows nothing of
// shards or objects: it stores bytes under names. Nothing it reads back
// from the device is trusted: no bytes may make it panic, and no value
// reaches a caller unless its record's checksums and key are right.
package disk
