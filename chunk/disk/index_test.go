package disk

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

func TestIndexGroups(t *testing.T) {
	x := newIndex()
	for k := uint64(1); k <= 9; k++ {
		x.put(k, k%3, uint32(k), 1)
	}
	x.put(4, 1, 40, 2) // overwrite, same group
	x.put(5, 1, 50, 1) // overwrite, moves from group 2 to group 1
	if !x.removeAt(7, 7) || x.removeAt(8, 9) {
		t.Fatal("removeAt removed the wrong entries")
	}
	if _, ok := x.remove(2); !ok {
		t.Fatal("remove(2) found nothing")
	}
	// Group 1 now holds 1, 4, 5 (7 removed); group 2 holds 8; group 0 holds 3, 6, 9.
	if n := x.removeGroup(1); n != 3 {
		t.Errorf("removeGroup(1) removed %d, want 3", n)
	}
	if n := x.removeGroup(2); n != 1 {
		t.Errorf("removeGroup(2) removed %d, want 1", n)
	}
	if x.len() != 3 || x.bytes != 3*BlockSize {
		t.Errorf("left %d entries of %d bytes, want 3 of %d", x.len(), x.bytes, 3*BlockSize)
	}
	if n := x.removeBlocks(6, 10); n != 2 {
		t.Errorf("removeBlocks(6, 10) removed %d, want 2 (6 and 9)", n)
	}
	if n := x.removeGroup(0); n != 1 || x.len() != 0 || len(x.groups) != 0 || x.bytes != 0 {
		t.Errorf("emptied: removed %d, left %d entries, %d groups, %d bytes", n, x.len(), len(x.groups), x.bytes)
	}
}

// TestIndexEntryBytes pins IndexEntryBytes: the heap the index takes,
// per entry, at several sizes (the map grows in steps, so the cost per
// entry varies with the count), with groups of eight entries.
func TestIndexEntryBytes(t *testing.T) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		before := heapInUse()
		x := newIndex()
		for i := range n {
			x.put(uint64(i)*0x9e3779b97f4a7c15|1, uint64(i/8+1), uint32(i), 64)
		}
		per := float64(heapInUse()-before) / float64(n)
		t.Logf("%d entries: %.1f bytes each", n, per)
		if per > IndexEntryBytes {
			t.Errorf("%d entries: %.1f bytes each, over IndexEntryBytes (%d)", n, per, IndexEntryBytes)
		}
		runtime.KeepAlive(x)
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestHashCollisionIsAMiss points a key's hash at another key's record,
// as a collision would: the read checks the key and misses, without
// counting damage or dropping the other key's entry.
func TestHashCollisionIsAMiss(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), Size: BlockSize + 2*minRegionSize, RegionSize: minRegionSize})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background()) //nolint:errcheck // the test is over
	s.Put("a", "g", []byte("value of a"))
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	e, _ := s.idx.get(hash("a"))
	s.idx.put(hash("b"), e.group, e.block, e.blocks)
	s.mu.Unlock()
	if _, err := s.Get(context.Background(), "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a colliding key: %v, want ErrNotFound", err)
	}
	if v, err := s.Get(context.Background(), "a"); err != nil || string(v) != "value of a" {
		t.Errorf("Get(a) after the collision: %q, %v", v, err)
	}
	if st := s.Stats(); st.ReadErrors != 0 {
		t.Errorf("a collision counted %d read errors", st.ReadErrors)
	}
}

func TestConfigRejects(t *testing.T) {
	for name, c := range map[string]Config{
		"no dir":          {Size: 1 << 30},
		"no size":         {Dir: "/d"},
		"one region":      {Dir: "/d", Size: BlockSize + minRegionSize, RegionSize: minRegionSize},
		"odd region":      {Dir: "/d", Size: 1 << 30, RegionSize: minRegionSize + 1},
		"huge region":     {Dir: "/d", Size: 1 << 40, RegionSize: 2 * maxRegionSize},
		"too large":       {Dir: "/d", Size: maxFileSize + 1},
		"odd write size":  {Dir: "/d", Size: 1 << 30, WriteBytes: 1000},
		"negative queue":  {Dir: "/d", Size: 1 << 30, QueueBytes: -1},
		"negative reader": {Dir: "/d", Size: 1 << 30, Readers: -1},
		"name in a sub":   {Dir: "/d", Size: 1 << 30, Name: "sub/x.disk"},
		"parent as name":  {Dir: "/d", Size: 1 << 30, Name: ".."},
	} {
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := Config{Dir: "/d", Size: 1 << 30}.withDefaults()
	if err != nil || c.RegionSize != 16<<20 || c.WriteBytes != 1<<20 {
		t.Errorf("defaults for 1 GiB: region %d, write %d, %v", c.RegionSize, c.WriteBytes, err)
	}
	if c, _ := (Config{Dir: "/d", Size: 8 << 20}).withDefaults(); c.RegionSize != 1<<20 {
		t.Errorf("default region of an 8 MiB store: %d, want an eighth", c.RegionSize)
	}
}

func TestAlignedBuf(t *testing.T) {
	for _, n := range []int{BlockSize, 3 * BlockSize, 1 << 20} {
		if b := alignedBuf(n); len(b) != n || !aligned(b) {
			t.Errorf("alignedBuf(%d): %d bytes, aligned %v", n, len(b), aligned(b))
		}
	}
}

// TestBufClasses checks the read buffers' classes: a buffer holds the
// record, wastes at most an eighth past sixteen blocks, fits a power of
// two and its header block exactly, and gives its class back when put.
func TestBufClasses(t *testing.T) {
	prev := -1
	for blocks := 1; blocks <= maxRegionSize/BlockSize; blocks++ {
		c, size := bufClass(blocks)
		switch {
		case c < prev || c > prev+1 || c >= bufClasses:
			t.Fatalf("%d blocks: class %d after %d, of %d", blocks, c, prev, bufClasses)
		case size < blocks || blocks > 17 && (size-1)*8 > (blocks-1)*9:
			t.Fatalf("%d blocks: a buffer of %d", blocks, size)
		case (blocks-1)&(blocks-2) == 0 && size != blocks:
			t.Fatalf("%d blocks (a power of two and a header): a buffer of %d", blocks, size)
		}
		if c2, size2 := bufClass(size); c2 != c || size2 != size {
			t.Fatalf("%d blocks: class %d of %d, whose own class is %d of %d", blocks, c, size, c2, size2)
		}
		prev = c
	}
	p := getBuf(257)
	if len(*p) != 257*BlockSize || !aligned(*p) {
		t.Errorf("getBuf(257): %d bytes, aligned %v", len(*p), aligned(*p))
	}
	putBuf(p)
}
