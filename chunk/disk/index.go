package disk

import "github.com/cespare/xxhash/v2"

// IndexEntryBytes bounds what the in-memory index spends per stored
// record: a map slot of the key's hash and a 32-byte entry (the record's
// place, the group's hash and the links of the group's list), the map's
// control bytes and its spare capacity, and the group's map slot. Go 1.26
// on amd64 measured 63 to 105 bytes from 10 000 to 1 000 000 entries in
// groups of eight (TestIndexEntryBytes: Go's maps run at 40 to 80% load);
// a node's memory overhead for a store is at most Entries times this.
const IndexEntryBytes = 112

// index maps the hash of each stored key to its record's place, and files
// entries under their group's hash in a doubly linked list threaded
// through the entries, so that removing a group visits only its entries.
// Keys are never kept: a read compares the record's key with the one
// asked for, so two keys with one hash cost a miss, never wrong bytes.
// Not safe for concurrent use: the Store's mutex guards it.
type index struct {
	entries map[uint64]entry
	groups  map[uint64]uint64 // group hash -> the hash of its newest entry's key
	bytes   int64             // the records' blocks, in bytes
}

// entry is one stored record. Links name the neighbours' key hashes; 0 is
// "none", which is why hash never returns 0.
type entry struct {
	group      uint64
	prev, next uint64
	block      uint32 // the record's first block in the file
	blocks     uint32
}

// hash is the index's hash of a key or group name: xxhash64, with 0 (the
// end of a group's list) moved to 1.
func hash(s string) uint64 {
	if h := xxhash.Sum64String(s); h != 0 {
		return h
	}
	return 1
}

func newIndex() *index {
	return &index{entries: map[uint64]entry{}, groups: map[uint64]uint64{}}
}

func (x *index) get(k uint64) (entry, bool) {
	e, ok := x.entries[k]
	return e, ok
}

// put files a record under key hash k, replacing any entry k had.
func (x *index) put(k, group uint64, block, blocks uint32) {
	x.remove(k)
	head := x.groups[group]
	if head != 0 {
		h := x.entries[head]
		h.prev = k
		x.entries[head] = h
	}
	x.entries[k] = entry{group: group, next: head, block: block, blocks: blocks}
	x.groups[group] = k
	x.bytes += int64(blocks) * BlockSize
}

// remove deletes k's entry and returns it.
func (x *index) remove(k uint64) (entry, bool) {
	e, ok := x.entries[k]
	if !ok {
		return entry{}, false
	}
	delete(x.entries, k)
	x.bytes -= int64(e.blocks) * BlockSize
	if e.prev != 0 {
		p := x.entries[e.prev]
		p.next = e.next
		x.entries[e.prev] = p
	} else if e.next != 0 {
		x.groups[e.group] = e.next
	} else {
		delete(x.groups, e.group)
	}
	if e.next != 0 {
		n := x.entries[e.next]
		n.prev = e.prev
		x.entries[e.next] = n
	}
	return e, true
}

// removeAt deletes k's entry if it is still the record at block, and
// reports whether it did: a record found bad, or in a region being
// reclaimed, must not take a newer record of its key with it.
func (x *index) removeAt(k uint64, block uint32) bool {
	if e, ok := x.entries[k]; !ok || e.block != block {
		return false
	}
	x.remove(k)
	return true
}

// removeGroup deletes every entry of group g and returns how many.
func (x *index) removeGroup(g uint64) int {
	n := 0
	for k := x.groups[g]; k != 0; n++ {
		e := x.entries[k]
		delete(x.entries, k)
		x.bytes -= int64(e.blocks) * BlockSize
		k = e.next
	}
	delete(x.groups, g)
	return n
}

// removeBlocks deletes every entry whose record starts in [from, to) and
// returns how many: a region's entries when its summary cannot be read.
// It visits the whole index.
func (x *index) removeBlocks(from, to uint32) int {
	var doomed []uint64
	for k, e := range x.entries {
		if e.block >= from && e.block < to {
			doomed = append(doomed, k)
		}
	}
	for _, k := range doomed {
		x.remove(k)
	}
	return len(doomed)
}

func (x *index) len() int { return len(x.entries) }
