package chunk

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// EntryOverhead is a per-entry estimate, in bytes, of what a Store spends
// beside the value: the LRU list element (links, key, value header, cost),
// the map slot pointing at it, and allocator rounding. Callers add it in
// their Cost funcs, with the bytes of any key strings they do not share with
// other entries, so that the budget bounds memory rather than payload and
// memory stays within MaxBytes whatever the entry sizes.
//
// It is calibrated for K = Key and V a slice or pointer: Go 1.26 on amd64
// measured 200 to 245 bytes per entry from 1 000 to 500 000 entries
// (TestEntryOverheadCoversStore); the rest is headroom. With values of
// fixed cost this small next to chunks and shards (256 KiB to 1 MiB), erring
// high costs nothing measurable.
const EntryOverhead = 320

// Store is an LRU cache bounded in bytes rather than entries, for the edge's
// memory tiers (decoded chunks, shards). It is safe for concurrent use: one
// mutex guards the LRU core and the byte count, and OnEvict runs after the
// mutex is released, so a callback may call back into the Store. Make one
// with NewStore; the zero Store is unusable.
type Store[K comparable, V any] struct {
	cost    func(K, V) int64
	onEvict func(K, V)
	class   func(K) int
	max     int64

	evictions atomic.Uint64

	mu    sync.Mutex
	lru   *simplelru.LRU[K, entry[V]] // guarded by mu
	bytes int64                       // guarded by mu; <= max whenever mu is free
	// classLen and classBytes split Len and Bytes by Class; guarded by mu.
	classLen   [MaxClasses]int
	classBytes [MaxClasses]int64
}

// MaxClasses is how many classes StoreConfig.Class may sort entries into.
const MaxClasses = 4

// entry keeps the cost charged at Add, so that removal refunds exactly that
// even if the Cost func would now say otherwise for a mutated value.
type entry[V any] struct {
	val  V
	cost int64
}

// StoreConfig configures a Store.
type StoreConfig[K comparable, V any] struct {
	// MaxBytes is the budget, the most the Cost of all entries may add up
	// to. Required, > 0.
	MaxBytes int64

	// Cost returns the bytes charged for an entry: its value's bytes plus
	// EntryOverhead (and any unshared key bytes). Required. It is called
	// once per Add, without the lock held; a negative cost counts as 0.
	Cost func(K, V) int64

	// OnEvict, if set, is called for each entry the budget pushes out, after
	// the Store's lock is released, in the goroutine that called Add. It is
	// not called for Remove, RemoveFunc, overwrites by Add, or an oversize
	// value refused by Add: those the caller asked for and already knows.
	OnEvict func(K, V)

	// Class, if set, sorts entries into classes 0 to MaxClasses-1 that
	// ClassStats counts apart, so that one Store holding two kinds of
	// entries (the edge's decoded chunks and shards) can report each. It
	// must depend on the key alone and be quick: it is called with the
	// Store's lock held, on every Add, removal and eviction, and must not
	// call the Store. A result outside the range counts as class 0.
	// Default: every entry is class 0.
	Class func(K) int
}

// NewStore returns an empty Store, or an error if cfg lacks MaxBytes or Cost.
func NewStore[K comparable, V any](cfg StoreConfig[K, V]) (*Store[K, V], error) {
	if cfg.MaxBytes <= 0 {
		return nil, errors.New("chunk: StoreConfig.MaxBytes must be > 0")
	}
	if cfg.Cost == nil {
		return nil, errors.New("chunk: StoreConfig.Cost is required")
	}
	// simplelru bounds the entry count; make that bound unreachable, the
	// byte budget is the only one.
	lru, err := simplelru.NewLRU[K, entry[V]](math.MaxInt, nil)
	if err != nil {
		return nil, err
	}
	return &Store[K, V]{cost: cfg.Cost, onEvict: cfg.OnEvict, class: cfg.Class, max: cfg.MaxBytes, lru: lru}, nil
}

// Get returns the value for k and marks it most recently used. It does not
// allocate: it is on the hit path of every request.
func (s *Store[K, V]) Get(k K) (V, bool) {
	s.mu.Lock()
	e, ok := s.lru.Get(k)
	s.mu.Unlock()
	return e.val, ok
}

// Peek returns the value for k without marking it used, for looks that
// should not keep an entry alive (status pages, repair scans).
func (s *Store[K, V]) Peek(k K) (V, bool) {
	s.mu.Lock()
	e, ok := s.lru.Peek(k)
	s.mu.Unlock()
	return e.val, ok
}

// Contains reports whether k is stored, without marking it used, so a peer
// can answer "do you hold this" without skewing the LRU order.
func (s *Store[K, V]) Contains(k K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Contains(k)
}

// Add stores v under k as the most recently used entry, replacing (and
// re-charging) any entry already under k, then evicts the least recently
// used entries until the budget holds again; it returns how many it evicted.
//
// An entry whose cost alone exceeds MaxBytes is not stored, and Add returns
// 0; any older entry under k is removed all the same, so Get never returns a
// value older than the last Add for its key.
func (s *Store[K, V]) Add(k K, v V) (evicted int) {
	cost := max(s.cost(k, v), 0)
	if cost > s.max {
		s.Remove(k)
		return 0
	}

	var victims []entryOf[K, V] // only filled when someone listens
	s.mu.Lock()
	if old, ok := s.lru.Peek(k); ok {
		s.account(k, -1, -old.cost)
	}
	s.lru.Add(k, entry[V]{val: v, cost: cost})
	s.account(k, 1, cost)
	for s.bytes > s.max {
		// Never reaches the entry just added: its cost alone fits.
		key, e, _ := s.lru.RemoveOldest()
		s.account(key, -1, -e.cost)
		evicted++
		if s.onEvict != nil {
			victims = append(victims, entryOf[K, V]{key: key, val: e.val})
		}
	}
	s.mu.Unlock()

	s.evictions.Add(uint64(evicted))
	for _, e := range victims {
		s.onEvict(e.key, e.val)
	}
	return evicted
}

// entryOf is an evicted entry waiting for OnEvict.
type entryOf[K comparable, V any] struct {
	key K
	val V
}

// Remove deletes the entry under k, reporting whether there was one.
func (s *Store[K, V]) Remove(k K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(k)
}

// removeLocked deletes k and refunds its cost; s.mu must be held.
func (s *Store[K, V]) removeLocked(k K) bool {
	e, ok := s.lru.Peek(k)
	if !ok {
		return false
	}
	s.lru.Remove(k)
	s.account(k, -1, -e.cost)
	return true
}

// account adds an entry count and a cost to the totals and to k's class;
// s.mu must be held.
func (s *Store[K, V]) account(k K, entries int, cost int64) {
	s.bytes += cost
	c := 0
	if s.class != nil {
		if c = s.class(k); c < 0 || c >= MaxClasses {
			c = 0
		}
	}
	s.classLen[c] += entries
	s.classBytes[c] += cost
}

// RemoveFunc deletes every entry whose key satisfies pred, for purges (all
// chunks of an object, of a version) that cannot list their keys up front;
// it returns how many it deleted. pred runs without the lock held, on a
// snapshot of the keys, so it may be slow; an entry added meanwhile is not
// considered.
func (s *Store[K, V]) RemoveFunc(pred func(K) bool) int {
	s.mu.Lock()
	keys := s.lru.Keys()
	s.mu.Unlock()

	matched := keys[:0]
	for _, k := range keys {
		if pred(k) {
			matched = append(matched, k)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range matched {
		if s.removeLocked(k) {
			n++
		}
	}
	return n
}

// Len returns the number of entries.
func (s *Store[K, V]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// Bytes returns the cost of all entries. It is never above MaxBytes once a
// call has returned: the budget is enforced inside each Add.
func (s *Store[K, V]) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// ClassStats returns the number and the cost of the entries of class c
// (see StoreConfig.Class); a class outside the range has none.
func (s *Store[K, V]) ClassStats(c int) (entries int, bytes int64) {
	if c < 0 || c >= MaxClasses {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.classLen[c], s.classBytes[c]
}

// MaxBytes returns the budget the Store was configured with.
func (s *Store[K, V]) MaxBytes() int64 { return s.max }

// Evictions returns how many entries the budget has pushed out since the
// Store was created (not counting removals and overwrites), for metrics:
// a rising rate means the working set does not fit.
func (s *Store[K, V]) Evictions() uint64 { return s.evictions.Load() }
