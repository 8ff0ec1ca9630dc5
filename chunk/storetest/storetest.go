// Package storetest is the behaviour every cache store of edgecache
// shares, whatever its medium: Run drives a store through it, and both the
// memory store (chunk.Store, wrapped) and the disk store (chunk/disk) pass
// it, so the edge can put either behind one interface and a fake can be
// checked against the real thing.
//
// Stores differ in what they evict (the memory store the least recently
// used entry, the disk store its oldest region), so the suite asks only
// what both promise: a value put is served until it is evicted or
// removed, exactly as put, never under another key; the newest value
// always fits; a removal is final; the budget holds.
//
// It must never be used outside tests.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// Store is what the suite drives: a cache of byte values under string
// keys, each filed under a group.
type Store interface {
	// Put stores value under key, filed under group, and reports whether
	// the store took it (a store may refuse a value too large, or drop
	// one when busy). The caller does not modify value afterwards.
	Put(key, group string, value []byte) bool
	// Get returns the value under key, or an error for a miss.
	Get(ctx context.Context, key string) ([]byte, error)
	Contains(key string) bool
	// Remove deletes key's entry, reporting whether there was one.
	Remove(key string) bool
	// RemoveGroup deletes every entry of group and returns how many.
	RemoveGroup(ctx context.Context, group string) (int, error)
	// Flush returns once every value put before is stored (at once for a
	// store that stores in the caller's goroutine).
	Flush(ctx context.Context) error
	Len() int
	// Bytes is what the entries are charged against the budget.
	Bytes() int64
}

// Harness makes the stores the suite drives.
type Harness struct {
	// New returns an empty store with a budget of budget bytes, which
	// takes values of up to MaxValue bytes. The store is closed by the
	// harness (t.Cleanup).
	New func(t *testing.T, budget int64) Store
	// Reopen, for a store that persists, closes s and returns it opened
	// again on the same medium; nil for a store that does not.
	Reopen func(t *testing.T, s Store) Store
}

// Budget is the budget of the suite's stores, and MaxValue the largest
// value it puts: a harness sizes its store's layout for them.
const (
	Budget   = 1 << 20
	MaxValue = 8 << 10
)

// Key returns the key the suite files under group: the group, a zero
// byte and the name. Every key the suite uses is made by it, so a store
// that derives a key's group from the key itself can use GroupOf.
func Key(group, name string) string { return group + "\x00" + name }

// GroupOf returns the group of a key made by Key.
func GroupOf(key string) string {
	g, _, _ := strings.Cut(key, "\x00")
	return g
}

// Value returns the bytes the suite stores as version ver of key, n of
// them: different for every key, version and size, so bytes served under
// the wrong key or version show.
func Value(key string, ver, n int) []byte {
	seed := fmt.Appendf(nil, "%q#%d/%d;", key, ver, n)
	return bytes.Repeat(seed, n/len(seed)+1)[:n]
}

// Run runs the suite, each behaviour a subtest.
func Run(t *testing.T, h Harness) {
	t.Run("MissWhenEmpty", func(t *testing.T) { testMissWhenEmpty(t, h) })
	t.Run("PutThenGet", func(t *testing.T) { testPutThenGet(t, h) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, h) })
	t.Run("Remove", func(t *testing.T) { testRemove(t, h) })
	t.Run("RemoveGroup", func(t *testing.T) { testRemoveGroup(t, h) })
	t.Run("WithinBudget", func(t *testing.T) { testWithinBudget(t, h) })
	t.Run("ValuesStayIntact", func(t *testing.T) { testValuesStayIntact(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h) })
	if h.Reopen != nil {
		t.Run("Reopen", func(t *testing.T) { testReopen(t, h) })
	}
}

func flush(t *testing.T, s Store) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func mustPut(t *testing.T, s Store, key string, v []byte) {
	t.Helper()
	if !s.Put(key, GroupOf(key), v) {
		t.Fatalf("Put(%q) of %d bytes refused", key, len(v))
	}
}

func mustHold(t *testing.T, s Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q): %d bytes, not the %d put", key, len(got), len(want))
	}
	if !s.Contains(key) {
		t.Fatalf("Contains(%q) = false for a key Get serves", key)
	}
}

func mustMiss(t *testing.T, s Store, key string) {
	t.Helper()
	if got, err := s.Get(context.Background(), key); err == nil {
		t.Fatalf("Get(%q) returned %d bytes, want a miss", key, len(got))
	}
	if s.Contains(key) {
		t.Fatalf("Contains(%q) = true for a key Get misses", key)
	}
}

func testMissWhenEmpty(t *testing.T, h Harness) {
	s := h.New(t, Budget)
	mustMiss(t, s, Key("g", "k"))
	if s.Remove(Key("g", "k")) {
		t.Error("Remove on an empty store found something")
	}
	if n, err := s.RemoveGroup(context.Background(), "g"); n != 0 || err != nil {
		t.Errorf("RemoveGroup on an empty store: %d, %v", n, err)
	}
	if s.Len() != 0 || s.Bytes() != 0 {
		t.Errorf("an empty store holds %d entries of %d bytes", s.Len(), s.Bytes())
	}
}

func testPutThenGet(t *testing.T, h Harness) {
	s := h.New(t, Budget)
	sizes := []int{0, 1, 100, 4095, 4096, 4097, MaxValue}
	for _, n := range sizes {
		k := Key("g", fmt.Sprint(n))
		mustPut(t, s, k, Value(k, 0, n))
		mustHold(t, s, k, Value(k, 0, n))
	}
	flush(t, s)
	for _, n := range sizes {
		k := Key("g", fmt.Sprint(n))
		mustHold(t, s, k, Value(k, 0, n))
	}
	if s.Len() != len(sizes) || s.Bytes() <= 0 || s.Bytes() > Budget {
		t.Errorf("%d entries of %d bytes, want %d entries within %d bytes", s.Len(), s.Bytes(), len(sizes), Budget)
	}
	mustMiss(t, s, Key("g", "other"))
	mustMiss(t, s, Key("h", "100")) // the same name in another group is another key
}

func testOverwrite(t *testing.T, h Harness) {
	s := h.New(t, Budget)
	k := Key("g", "k")
	for ver, n := range []int{100, 5000, 10, 5000} {
		mustPut(t, s, k, Value(k, ver, n))
		mustHold(t, s, k, Value(k, ver, n))
		if ver%2 == 1 {
			flush(t, s)
			mustHold(t, s, k, Value(k, ver, n))
		}
	}
	if s.Len() != 1 {
		t.Errorf("%d entries after overwriting one key, want 1", s.Len())
	}
}

func testRemove(t *testing.T, h Harness) {
	s := h.New(t, Budget)
	a, b := Key("g", "a"), Key("g", "b")
	mustPut(t, s, a, Value(a, 0, 100))
	mustPut(t, s, b, Value(b, 0, 100))
	flush(t, s)
	if !s.Remove(a) {
		t.Fatal("Remove of a stored key found nothing")
	}
	mustMiss(t, s, a)
	mustHold(t, s, b, Value(b, 0, 100))
	if s.Remove(a) {
		t.Error("a second Remove found something")
	}
	mustPut(t, s, a, Value(a, 1, 100)) // removed before it is stored
	if !s.Remove(a) {
		t.Fatal("Remove of a value just put found nothing")
	}
	flush(t, s)
	mustMiss(t, s, a)
	if s.Len() != 1 {
		t.Errorf("%d entries, want 1", s.Len())
	}
}

func testRemoveGroup(t *testing.T, h Harness) {
	s := h.New(t, Budget)
	for i := range 10 {
		for _, g := range []string{"a", "b"} {
			k := Key(g, fmt.Sprint(i))
			mustPut(t, s, k, Value(k, 0, 200))
		}
		if i == 6 {
			flush(t, s) // some stored, some perhaps still on their way
		}
	}
	n, err := s.RemoveGroup(context.Background(), "a")
	if n != 10 || err != nil {
		t.Fatalf("RemoveGroup(a): %d, %v; want 10, nil", n, err)
	}
	flush(t, s)
	for i := range 10 {
		mustMiss(t, s, Key("a", fmt.Sprint(i)))
		k := Key("b", fmt.Sprint(i))
		mustHold(t, s, k, Value(k, 0, 200))
	}
	if n, _ := s.RemoveGroup(context.Background(), "a"); n != 0 {
		t.Errorf("a second RemoveGroup removed %d", n)
	}
}

// testWithinBudget puts ten times the budget: the budget holds after
// every Put, and the newest value is always there (both eviction orders
// keep it), as are the others that were not evicted, exactly as put.
func testWithinBudget(t *testing.T, h Harness) {
	s := h.New(t, Budget)
	rng := rand.New(rand.NewPCG(1, 2))
	var keys []string
	var total int
	for i := 0; total < 10*Budget; i++ {
		k := Key(fmt.Sprint(i%7), fmt.Sprint(i))
		n := 1 + rng.IntN(MaxValue)
		mustPut(t, s, k, Value(k, 0, n))
		keys = append(keys, k)
		total += n
		if i%5 == 0 {
			flush(t, s)
		}
		if b := s.Bytes(); b > Budget {
			t.Fatalf("after %d bytes put: %d bytes held, budget %d", total, b, Budget)
		}
		mustHold(t, s, k, Value(k, 0, n))
	}
	flush(t, s)
	held := 0
	for _, k := range keys {
		if v, err := s.Get(context.Background(), k); err == nil {
			held++
			if !bytes.Equal(v, Value(k, 0, len(v))) {
				t.Fatalf("Get(%q) returned bytes that were never put under it", k)
			}
		}
	}
	if held == 0 || held != s.Len() {
		t.Errorf("%d keys served, Len %d", held, s.Len())
	}
}

// testValuesStayIntact checks that a value a Get returned is the
// caller's: later puts, removals and evictions do not change its bytes.
func testValuesStayIntact(t *testing.T, h Harness) {
	s := h.New(t, Budget)
	k := Key("g", "k")
	mustPut(t, s, k, Value(k, 0, 3000))
	flush(t, s)
	got, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	s.Remove(k)
	for i := range 3 * Budget / MaxValue {
		o := Key("o", fmt.Sprint(i))
		s.Put(o, "o", Value(o, 0, MaxValue))
	}
	flush(t, s)
	if !bytes.Equal(got, Value(k, 0, 3000)) {
		t.Error("a value returned by Get changed after later operations")
	}
}

// testConcurrent races puts, gets and removals of few keys: every Get
// that hits returns one of the versions put under its key, whole.
func testConcurrent(t *testing.T, h Harness) {
	s := h.New(t, Budget)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 400 {
				k := Key(fmt.Sprint(rng.IntN(3)), fmt.Sprint(rng.IntN(20)))
				switch r := rng.IntN(10); {
				case r < 4:
					s.Put(k, GroupOf(k), Value(k, i, 64+rng.IntN(MaxValue-64)))
				case r < 8:
					if v, err := s.Get(context.Background(), k); err == nil && !isVersionOf(k, v) {
						t.Errorf("Get(%q) returned bytes never put under it", k)
					}
				case r < 9:
					s.Remove(k)
				default:
					s.RemoveGroup(context.Background(), GroupOf(k)) //nolint:errcheck // racing on purpose
				}
			}
		})
	}
	wg.Wait()
	if b := s.Bytes(); b > Budget {
		t.Errorf("%d bytes held, budget %d", b, Budget)
	}
}

// isVersionOf reports whether v is Value(key, ver, len(v)) for some
// ver; v must be long enough to hold the whole seed (64 bytes is).
func isVersionOf(key string, v []byte) bool {
	var ver, n int
	prefix := fmt.Sprintf("%q#", key)
	if !bytes.HasPrefix(v, []byte(prefix)) {
		return false
	}
	if _, err := fmt.Sscanf(string(v[len(prefix):]), "%d/%d;", &ver, &n); err != nil {
		return false
	}
	return n == len(v) && bytes.Equal(v, Value(key, ver, n))
}

// testReopen checks what a persistent store keeps across a restart:
// what was stored is there, what was removed (a group or a key) is not.
func testReopen(t *testing.T, h Harness) {
	s := h.New(t, Budget)
	for i := range 12 {
		k := Key(fmt.Sprint(i%3), fmt.Sprint(i))
		mustPut(t, s, k, Value(k, 0, 100*i))
	}
	flush(t, s)
	if n, err := s.RemoveGroup(context.Background(), "1"); n != 4 || err != nil {
		t.Fatalf("RemoveGroup: %d, %v", n, err)
	}
	s.Remove(Key("0", "0"))
	s = h.Reopen(t, s)
	for i := range 12 {
		k := Key(fmt.Sprint(i%3), fmt.Sprint(i))
		if i%3 == 1 || i == 0 {
			mustMiss(t, s, k)
		} else {
			mustHold(t, s, k, Value(k, 0, 100*i))
		}
	}
}
