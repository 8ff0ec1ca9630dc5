package chunk

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// byteCost charges a []byte value its length, so tests can reason in
// exact numbers.
func byteCost(_ string, v []byte) int64 { return int64(len(v)) }

func mustStore(t testing.TB, maxBytes int64, onEvict func(string, []byte)) *Store[string, []byte] {
	t.Helper()
	s, err := NewStore(StoreConfig[string, []byte]{MaxBytes: maxBytes, Cost: byteCost, OnEvict: onEvict})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewStoreRejects(t *testing.T) {
	for name, cfg := range map[string]StoreConfig[string, []byte]{
		"zero budget":     {Cost: byteCost},
		"negative budget": {MaxBytes: -1, Cost: byteCost},
		"no cost":         {MaxBytes: 10},
	} {
		if _, err := NewStore(cfg); err == nil {
			t.Errorf("%s: NewStore succeeded", name)
		}
	}
}

// TestStoreBudgetProperty drives a store with a working set ten times its
// budget and random sizes, and checks after every call that the charged
// bytes are within budget and equal to the cost of what is actually held.
func TestStoreBudgetProperty(t *testing.T) {
	const budget = 10_000
	rng := rand.New(rand.NewPCG(16, 17))
	s := mustStore(t, budget, nil)
	sizes := map[string]int{} // last size added per key
	evictions := 0
	for op := range 20_000 {
		k := fmt.Sprint(rng.IntN(100)) // 100 keys of ~1000 bytes: ~10x the budget
		switch r := rng.IntN(10); {
		case r < 6:
			n := rng.IntN(2000)
			if op%500 == 0 {
				n = budget + 1 // oversize now and then
			}
			evictions += s.Add(k, make([]byte, n))
			sizes[k] = n
		case r < 9:
			if v, ok := s.Get(k); ok && len(v) != sizes[k] {
				t.Fatalf("Get(%s) returned %d bytes, last Add gave %d", k, len(v), sizes[k])
			}
		default:
			s.Remove(k)
		}
		if s.Bytes() > budget {
			t.Fatalf("op %d: %d bytes charged, budget %d", op, s.Bytes(), budget)
		}
		var held int64
		n := 0
		for k, size := range sizes {
			if s.Contains(k) {
				held += int64(size)
				n++
			}
		}
		if held != s.Bytes() || n != s.Len() {
			t.Fatalf("op %d: holds %d entries of %d bytes, store reports %d of %d", op, n, held, s.Len(), s.Bytes())
		}
	}
	if evictions == 0 || uint64(evictions) != s.Evictions() {
		t.Errorf("Add reported %d evictions, Evictions() = %d", evictions, s.Evictions())
	}
}

func TestStoreLRUOrder(t *testing.T) {
	s := mustStore(t, 30, nil)
	for _, k := range []string{"a", "b", "c"} {
		s.Add(k, make([]byte, 10))
	}
	s.Get("a")      // a is now the newest
	s.Peek("b")     // neither Peek
	s.Contains("b") // nor Contains refreshes b
	if n := s.Add("d", make([]byte, 10)); n != 1 {
		t.Fatalf("Add(d) evicted %d, want 1", n)
	}
	if s.Contains("b") {
		t.Error("b survived: it was the least recently used")
	}
	if n := s.Add("e", make([]byte, 20)); n != 2 {
		t.Fatalf("Add(e) evicted %d, want 2", n)
	}
	if s.Contains("c") || s.Contains("a") || !s.Contains("d") || !s.Contains("e") {
		t.Errorf("after e: want d and e, have a=%v c=%v d=%v e=%v",
			s.Contains("a"), s.Contains("c"), s.Contains("d"), s.Contains("e"))
	}
}

func TestStoreOverwriteRecharges(t *testing.T) {
	s := mustStore(t, 100, nil)
	s.Add("a", make([]byte, 10))
	s.Add("b", make([]byte, 10))
	s.Add("a", make([]byte, 70))
	if s.Bytes() != 80 || s.Len() != 2 {
		t.Fatalf("after growing a: %d bytes, %d entries; want 80, 2", s.Bytes(), s.Len())
	}
	s.Add("a", make([]byte, 5))
	if s.Bytes() != 15 {
		t.Fatalf("after shrinking a: %d bytes, want 15", s.Bytes())
	}
	// Growing a past what b leaves evicts b, not a.
	if n := s.Add("a", make([]byte, 95)); n != 1 || s.Contains("b") || s.Bytes() != 95 {
		t.Errorf("growing a to 95: evicted %d, b held %v, %d bytes", n, s.Contains("b"), s.Bytes())
	}
	if s.Evictions() != 1 {
		t.Errorf("Evictions() = %d, want 1 (overwrites are not evictions)", s.Evictions())
	}
}

func TestStoreOversizeRefused(t *testing.T) {
	s := mustStore(t, 100, nil)
	s.Add("a", make([]byte, 10))
	s.Add("b", make([]byte, 10))
	if n := s.Add("big", make([]byte, 101)); n != 0 {
		t.Errorf("oversize Add evicted %d, want 0", n)
	}
	if s.Contains("big") || s.Len() != 2 || s.Bytes() != 20 {
		t.Errorf("oversize Add changed the store: big=%v len=%d bytes=%d", s.Contains("big"), s.Len(), s.Bytes())
	}
	// An oversize value under an existing key drops the old value rather
	// than leave it to be served as current.
	s.Add("a", make([]byte, 101))
	if s.Contains("a") || s.Bytes() != 10 {
		t.Errorf("oversize overwrite kept a=%v, bytes=%d", s.Contains("a"), s.Bytes())
	}
	if n := s.Add("exact", make([]byte, 100)); n != 1 || !s.Contains("exact") {
		t.Errorf("Add of exactly MaxBytes: evicted %d, held %v", n, s.Contains("exact"))
	}
}

func TestStoreRemove(t *testing.T) {
	s := mustStore(t, 100, nil)
	s.Add("a", make([]byte, 10))
	if !s.Remove("a") || s.Remove("a") || s.Len() != 0 || s.Bytes() != 0 {
		t.Errorf("Remove: len %d, bytes %d", s.Len(), s.Bytes())
	}
}

func TestStoreRemoveFunc(t *testing.T) {
	s, err := NewStore(StoreConfig[Key, []byte]{
		MaxBytes: 1 << 20,
		Cost:     func(_ Key, v []byte) int64 { return int64(len(v)) + EntryOverhead },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(10) {
		s.Add(Key{Object: "/a", Version: "e:1", Index: i}, make([]byte, 100))
		s.Add(Key{Object: "/b", Version: "e:1", Index: i}, make([]byte, 100))
	}
	if n := s.RemoveFunc(func(k Key) bool { return k.Object == "/a" }); n != 10 {
		t.Errorf("RemoveFunc removed %d, want 10", n)
	}
	if s.Len() != 10 || s.Bytes() != 10*(100+EntryOverhead) {
		t.Errorf("after RemoveFunc: %d entries, %d bytes", s.Len(), s.Bytes())
	}
	if s.Contains(Key{Object: "/a", Version: "e:1", Index: 3}) || !s.Contains(Key{Object: "/b", Version: "e:1", Index: 3}) {
		t.Error("RemoveFunc removed the wrong entries")
	}
	if n := s.RemoveFunc(func(Key) bool { return false }); n != 0 {
		t.Errorf("RemoveFunc matching nothing removed %d", n)
	}
}

// TestStoreOnEvict checks that OnEvict sees exactly the budget's victims,
// oldest first, and runs outside the lock: it calls back into the store,
// which would deadlock otherwise.
func TestStoreOnEvict(t *testing.T) {
	var s *Store[string, []byte]
	var evicted []string
	s = mustStore(t, 30, func(k string, v []byte) {
		evicted = append(evicted, fmt.Sprintf("%s/%d/len=%d", k, len(v), s.Len()))
		s.Get("x") // takes the lock
	})
	s.Add("a", make([]byte, 10))
	s.Add("b", make([]byte, 10))
	s.Add("c", make([]byte, 10))
	s.Add("c", make([]byte, 5))   // overwrite: not an eviction
	s.Remove("c")                 // removal: not an eviction
	s.Add("x", make([]byte, 101)) // refused: not an eviction
	s.Add("d", make([]byte, 30))
	want := []string{"a/10/len=1", "b/10/len=1"}
	if !slices.Equal(evicted, want) {
		t.Errorf("OnEvict saw %q, want %q", evicted, want)
	}
}

// TestStoreConcurrent exercises every method from several goroutines; run
// it with -race.
func TestStoreConcurrent(t *testing.T) {
	const budget = 50_000
	var evicted sync.Map
	s := mustStore(t, budget, func(k string, _ []byte) { evicted.Store(k, true) })
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 18))
			for range 5_000 {
				k := fmt.Sprint(rng.IntN(200))
				switch r := rng.IntN(20); {
				case r < 8:
					s.Add(k, make([]byte, rng.IntN(1000)))
				case r < 17:
					s.Get(k)
				case r < 18:
					s.Remove(k)
				case r < 19:
					s.RemoveFunc(func(key string) bool { return key == k })
				default:
					s.Peek(k)
				}
				if b := s.Bytes(); b > budget {
					t.Errorf("%d bytes charged, budget %d", b, budget)
					return
				}
			}
		})
	}
	wg.Wait()
	if s.Evictions() == 0 {
		t.Error("no evictions: the test did not exercise the budget")
	}
}

// TestEntryOverheadCoversStore measures the heap a Store[Key, []byte]
// spends per entry beside the values, the case EntryOverhead is for.
func TestEntryOverheadCoversStore(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 200_000
	s, err := NewStore(StoreConfig[Key, []byte]{
		MaxBytes: 1 << 40,
		Cost:     func(_ Key, v []byte) int64 { return int64(len(v)) + EntryOverhead },
		Group:    func(k Key) string { return k.Object },
	})
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 1) // shared, so only the store's own memory grows
	// Few entries per group, as an edge holds a few chunks and shards of
	// each of many objects: the group map then costs the most per entry.
	// The names exist before the measure: callers charge key bytes apart.
	objects := make([]string, n/4)
	for i := range objects {
		objects[i] = fmt.Sprintf("/object/%d", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range int64(n) {
		s.Add(Key{Object: objects[i/4], Version: "e:1", Index: i}, value)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := int64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d bytes of heap per entry, EntryOverhead is %d", perEntry, EntryOverhead)
	if perEntry > EntryOverhead {
		t.Errorf("%d bytes of heap per entry exceeds EntryOverhead (%d)", perEntry, EntryOverhead)
	}
	runtime.KeepAlive(s)
}

func TestStoreGetDoesNotAllocate(t *testing.T) {
	s, err := NewStore(StoreConfig[Key, []byte]{
		MaxBytes: 1 << 20,
		Cost:     func(_ Key, v []byte) int64 { return int64(len(v)) + EntryOverhead },
	})
	if err != nil {
		t.Fatal(err)
	}
	k := Key{Object: "/videos/a.mp4", Version: `e:"v1"`, Index: 3}
	s.Add(k, make([]byte, 64))
	if n := testing.AllocsPerRun(100, func() { s.Get(k) }); n != 0 {
		t.Errorf("Get: %v allocs, want 0", n)
	}
}

func BenchmarkStoreGet(b *testing.B) {
	s, err := NewStore(StoreConfig[Key, []byte]{
		MaxBytes: 1 << 30,
		Cost:     func(_ Key, v []byte) int64 { return int64(len(v)) + EntryOverhead },
	})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = Key{Object: "/videos/a.mp4", Version: `e:"v1"`, Index: int64(i)}
		s.Add(keys[i], make([]byte, 64))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := s.Get(keys[i&1023]); !ok {
			b.Fatal("miss")
		}
		i++
	}
}

// isShard marks keys that start with "s" durable, as the edge marks shards.
func isShard(k string) bool { return k != "" && k[0] == 's' }

func TestStoreCopiesYieldToDurable(t *testing.T) {
	s, err := NewStore(StoreConfig[string, []byte]{MaxBytes: 100, Cost: byteCost, Durable: isShard, CopyReserve: 20})
	if err != nil {
		t.Fatal(err)
	}
	ten := make([]byte, 10)
	for i := 1; i <= 6; i++ {
		s.Add(fmt.Sprintf("s%d", i), ten)
	}
	// Copies beyond what the shards leave recycle each other.
	for i := 1; i <= 10; i++ {
		s.Add(fmt.Sprintf("c%d", i), ten)
	}
	for i := 1; i <= 6; i++ {
		if !s.Contains(fmt.Sprintf("s%d", i)) {
			t.Errorf("shard s%d evicted by copies", i)
		}
	}
	if s.DurableBytes() != 60 || s.Bytes() != 100 {
		t.Errorf("durable %d of %d bytes, want 60 of 100", s.DurableBytes(), s.Bytes())
	}
	// Shards take the copies' room down to the reserve, then the oldest
	// shards go.
	for i := 7; i <= 10; i++ {
		s.Add(fmt.Sprintf("s%d", i), ten)
	}
	for _, k := range []string{"s1", "s2", "c7", "c8"} {
		if s.Contains(k) {
			t.Errorf("%s still stored", k)
		}
	}
	for _, k := range []string{"s3", "s10", "c9", "c10"} {
		if !s.Contains(k) {
			t.Errorf("%s evicted", k)
		}
	}
	// A copy may always use its reserve: with copies at the reserve, a new
	// one evicts the oldest copy, not a shard.
	s.Add("c11", ten)
	if s.Contains("c9") || !s.Contains("s3") || s.DurableBytes() != 80 {
		t.Errorf("c9 stored %v, s3 stored %v, durable %d bytes", s.Contains("c9"), s.Contains("s3"), s.DurableBytes())
	}
}

// Whatever the sequence of adds, the budget holds, and a durable entry is
// evicted only while the copies are within their reserve.
func TestStoreClassesProperty(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		const budget, reserve = 1000, 250
		var evictedDurable bool
		s, err := NewStore(StoreConfig[string, []byte]{MaxBytes: budget, Cost: byteCost, Durable: isShard, CopyReserve: reserve,
			OnEvict: func(k string, _ []byte) { evictedDurable = evictedDurable || isShard(k) }})
		if err != nil {
			t.Fatal(err)
		}
		for op := range 2000 {
			prefix := "c"
			if rng.IntN(2) == 0 {
				prefix = "s"
			}
			k := fmt.Sprintf("%s%d", prefix, rng.IntN(60))
			evictedDurable = false
			s.Add(k, make([]byte, 1+rng.IntN(120)))
			if s.Bytes() > budget {
				t.Fatalf("seed %d op %d: %d bytes over the %d budget", seed, op, s.Bytes(), budget)
			}
			copies := s.Bytes() - s.DurableBytes()
			if evictedDurable && copies > reserve && !(prefix == "c" && s.lenClass(classCopy) == 1) {
				t.Fatalf("seed %d op %d: a shard was evicted while copies held %d > %d bytes", seed, op, copies, reserve)
			}
		}
	}
}

// lenClass returns, for tests, the number of entries of class c.
func (s *Store[K, V]) lenClass(c int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru[c].Len()
}

// ClassStats splits Len and Bytes exactly, through adds, removals, purges
// and evictions.
func TestStoreClassStatsProperty(t *testing.T) {
	const budget = 10_000
	s, err := NewStore(StoreConfig[string, []byte]{MaxBytes: budget, Cost: byteCost, Durable: isShard, CopyReserve: budget / 4})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(18, 19))
	sizes := map[string]int{}
	evictions := 0
	for op := range 20_000 {
		k := fmt.Sprintf("%c%d", "cs"[rng.IntN(2)], rng.IntN(30))
		switch r := rng.IntN(20); {
		case r < 12:
			n := rng.IntN(2000)
			if op%500 == 0 {
				n = budget + 1
			}
			evictions += s.Add(k, make([]byte, n))
			sizes[k] = n
		case r < 19:
			s.Remove(k)
		default:
			prefix := k[0]
			s.RemoveFunc(func(key string) bool { return key[0] == prefix })
		}
		var wantLen [2]int
		var wantBytes [2]int64
		for k, size := range sizes {
			if s.Contains(k) {
				c := 0
				if isShard(k) {
					c = 1
				}
				wantLen[c]++
				wantBytes[c] += int64(size)
			}
		}
		cn, cb := s.ClassStats(false)
		dn, db := s.ClassStats(true)
		if cn != wantLen[0] || cb != wantBytes[0] || dn != wantLen[1] || db != wantBytes[1] {
			t.Fatalf("op %d: classes report %d/%d entries of %d/%d bytes, hold %v of %v", op, cn, dn, cb, db, wantLen, wantBytes)
		}
		if cn+dn != s.Len() || cb+db != s.Bytes() {
			t.Fatalf("op %d: classes add up to %d entries of %d bytes, store has %d of %d", op, cn+dn, cb+db, s.Len(), s.Bytes())
		}
	}
	if evictions == 0 {
		t.Error("no evictions: the test did not exercise them")
	}
}

// checkGroups verifies the group lists against the LRU: every entry is in
// exactly its group's list, the lists link both ways, and no group is
// empty.
func checkGroups[K comparable, V any](t *testing.T, s *Store[K, V]) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := 0
	for g, head := range s.groups {
		if head == nil || head.prev != nil {
			t.Fatalf("group %q: bad head", g)
		}
		for e := head; e != nil; e = e.next {
			if s.group(e.key) != g {
				t.Fatalf("entry of group %q in the list of %q", s.group(e.key), g)
			}
			if e.next != nil && e.next.prev != e {
				t.Fatalf("group %q: broken back link", g)
			}
			if cur, ok := s.lru[s.class(e.key)].Peek(e.key); !ok || cur != e {
				t.Fatalf("group %q lists an entry the LRU does not hold", g)
			}
			seen++
		}
	}
	if n := s.lru[classCopy].Len() + s.lru[classDurable].Len(); seen != n {
		t.Fatalf("group lists hold %d entries, the LRU %d", seen, n)
	}
}

// TestStoreGroupsProperty drives a grouped store with every mutating call
// under a budget that forces evictions, checking after each that the group
// lists match the LRU, and that RemoveGroup drops exactly its group.
func TestStoreGroupsProperty(t *testing.T) {
	const budget = 20_000
	rng := rand.New(rand.NewPCG(21, 22))
	s, err := NewStore(StoreConfig[Key, []byte]{
		MaxBytes: budget,
		Cost:     func(_ Key, v []byte) int64 { return int64(len(v)) },
		Group:    func(k Key) string { return k.Object },
		// Both classes, so that group links cross them.
		Durable:     func(k Key) bool { return k.Index%2 == 1 },
		CopyReserve: budget / 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	key := func() Key {
		return Key{Object: fmt.Sprintf("/o%d", rng.IntN(8)), Version: fmt.Sprintf("e:%d", rng.IntN(2)), Index: rng.Int64N(12)}
	}
	removedGroups := 0
	for op := range 20_000 {
		switch r := rng.IntN(20); {
		case r < 12:
			n := rng.IntN(1500)
			if op%700 == 0 {
				n = budget + 1
			}
			s.Add(key(), make([]byte, n))
		case r < 15:
			s.Remove(key())
		case r < 16:
			k := key()
			s.RemoveFunc(func(x Key) bool { return x.Index == k.Index })
		case r < 17:
			g := key().Object
			before, want := s.Len(), 0
			for _, k := range keysOf(s) {
				if k.Object == g {
					want++
				}
			}
			bytesBefore := s.Bytes()
			if got := s.RemoveGroup(g); got != want || s.Len() != before-want {
				t.Fatalf("op %d: RemoveGroup(%s) = %d, held %d; len %d -> %d", op, g, got, want, before, s.Len())
			}
			for _, k := range keysOf(s) {
				if k.Object == g {
					t.Fatalf("op %d: RemoveGroup(%s) left %v", op, g, k)
				}
			}
			if want > 0 && s.Bytes() >= bytesBefore {
				t.Fatalf("op %d: RemoveGroup refunded nothing", op)
			}
			removedGroups += want
		default:
			s.Get(key())
		}
		checkGroups(t, s)
		var held int64
		for _, k := range keysOf(s) {
			e, _ := s.lru[s.class(k)].Peek(k)
			held += e.cost
		}
		if held != s.Bytes() || s.Bytes() > budget {
			t.Fatalf("op %d: entries cost %d, store charges %d (budget %d)", op, held, s.Bytes(), budget)
		}
	}
	if removedGroups == 0 || s.Evictions() == 0 {
		t.Errorf("removed %d entries by group and evicted %d: the test did not exercise both", removedGroups, s.Evictions())
	}
	ungrouped := mustStore(t, 100, nil)
	ungrouped.Add("a", make([]byte, 10))
	if n := ungrouped.RemoveGroup("a"); n != 0 || !ungrouped.Contains("a") {
		t.Errorf("RemoveGroup on a store without Group removed %d", n)
	}
}

// keysOf returns the keys of both classes of s.
func keysOf[K comparable, V any](s *Store[K, V]) []K {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(s.lru[classCopy].Keys(), s.lru[classDurable].Keys()...)
}
