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
// It is calibrated for K = Key and V a slice or pointer, with a Group of a
// few entries each (the edge's case): Go 1.26 on amd64 measured 285 to 335
// bytes per entry from 1 000 to 500 000 entries (TestEntryOverheadCoversStore;
// 200 to 245 before entries carried their key and group links for
// RemoveGroup); the rest is headroom. With values of
// fixed cost this small next to chunks and shards (256 KiB to 1 MiB), erring
// high costs nothing measurable.
const EntryOverhead = 400

// Store is an LRU cache bounded in bytes rather than entries, for the edge's
// memory (decoded chunks and shards). It is safe for concurrent use: one
// mutex guards the LRU cores and the byte counts, and OnEvict runs after the
// mutex is released, so a callback may call back into the Store. Make one
// with NewStore; the zero Store is unusable.
//
// Entries come in two classes under one budget. Durable entries (shards:
// the cluster's only copy of its data) are evicted only by other durable
// entries, or to keep the copies' reserve; copies (decoded chunks, which
// the shards can rebuild) use whatever the durable entries leave, and at
// least the reserve. So a node serving a working set larger than its share
// recycles its copies, not the cluster's shards. Within a class, the least
// recently used entry goes first.
type Store[K comparable, V any] struct {
	cost    func(K, V) int64
	durable func(K) bool
	onEvict func(K, V)
	group   func(K) string
	max     int64
	reserve int64

	evictions atomic.Uint64

	mu     sync.Mutex
	lru    [2]*simplelru.LRU[K, *entry[K, V]] // guarded by mu; by class
	bytes  [2]int64                           // guarded by mu; sum <= max whenever mu is free
	groups map[string]*entry[K, V]            // guarded by mu; each group's newest entry; nil without Group
}

// The classes of entries, indices of Store.lru and Store.bytes.
const (
	classCopy    = 0
	classDurable = 1
)

// entry keeps the cost charged at Add, so that removal refunds exactly that
// even if the Cost func would now say otherwise for a mutated value. With
// a Group, entries of one group form a doubly linked list, so that
// RemoveGroup visits exactly them.
type entry[K comparable, V any] struct {
	val        V
	cost       int64
	key        K
	prev, next *entry[K, V] // guarded by the Store's mu
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

	// Durable, if set, tells durable entries from copies (see Store). It
	// must be a pure function of the key: it is called on every Get. Nil
	// means every entry is a copy: one plain LRU.
	Durable func(K) bool

	// CopyReserve is the bytes copies keep even when durable entries would
	// take the whole budget, so that a node whose shards fill its memory
	// still serves its hottest chunks from memory. Ignored without
	// Durable; 0 lets durable entries take everything; at most MaxBytes.
	CopyReserve int64

	// OnEvict, if set, is called for each entry the budget pushes out, after
	// the Store's lock is released, in the goroutine that called Add. It is
	// not called for Remove, RemoveFunc, RemoveGroup, overwrites by Add, or
	// an oversize value refused by Add: those the caller asked for and
	// already knows.
	OnEvict func(K, V)

	// Group, if set, files every entry under a group name (the edge uses
	// the object a chunk belongs to), so that RemoveGroup drops a group's
	// entries without scanning the Store. It costs two pointers per entry
	// and a map slot per group, covered by EntryOverhead, and a few pointer
	// updates per Add and removal; Get pays nothing. It is called with the
	// Store's lock held, so it must be quick, must not call the Store, and
	// must return the same name for the same key every time.
	Group func(K) string
}

// NewStore returns an empty Store, or an error if cfg lacks MaxBytes or
// Cost, or reserves more than the budget.
func NewStore[K comparable, V any](cfg StoreConfig[K, V]) (*Store[K, V], error) {
	if cfg.MaxBytes <= 0 {
		return nil, errors.New("chunk: StoreConfig.MaxBytes must be > 0")
	}
	if cfg.Cost == nil {
		return nil, errors.New("chunk: StoreConfig.Cost is required")
	}
	if cfg.CopyReserve < 0 || cfg.CopyReserve > cfg.MaxBytes {
		return nil, errors.New("chunk: StoreConfig.CopyReserve must be between 0 and MaxBytes")
	}
	s := &Store[K, V]{cost: cfg.Cost, durable: cfg.Durable, onEvict: cfg.OnEvict, group: cfg.Group, max: cfg.MaxBytes, reserve: cfg.CopyReserve}
	if cfg.Group != nil {
		s.groups = map[string]*entry[K, V]{}
	}
	for c := range s.lru {
		// simplelru bounds the entry count; make that bound unreachable,
		// the byte budget is the only one.
		lru, err := simplelru.NewLRU[K, *entry[K, V]](math.MaxInt, nil)
		if err != nil {
			return nil, err
		}
		s.lru[c] = lru
	}
	return s, nil
}

func (s *Store[K, V]) class(k K) int {
	if s.durable != nil && s.durable(k) {
		return classDurable
	}
	return classCopy
}

// Get returns the value for k and marks it most recently used. It does not
// allocate: it is on the hit path of every request.
func (s *Store[K, V]) Get(k K) (V, bool) {
	c := s.class(k)
	s.mu.Lock()
	e, ok := s.lru[c].Get(k)
	s.mu.Unlock()
	if !ok {
		var zero V
		return zero, false
	}
	return e.val, true
}

// Peek returns the value for k without marking it used, for looks that
// should not keep an entry alive (status pages, repair scans).
func (s *Store[K, V]) Peek(k K) (V, bool) {
	c := s.class(k)
	s.mu.Lock()
	e, ok := s.lru[c].Peek(k)
	s.mu.Unlock()
	if !ok {
		var zero V
		return zero, false
	}
	return e.val, true
}

// Contains reports whether k is stored, without marking it used, so a peer
// can answer "do you hold this" without skewing the LRU order.
func (s *Store[K, V]) Contains(k K) bool {
	c := s.class(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru[c].Contains(k)
}

// Add stores v under k as the most recently used entry of its class,
// replacing (and re-charging) any entry already under k, then evicts until
// the budget holds again (see Store for the order); it returns how many it
// evicted.
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
	c := s.class(k)

	e := &entry[K, V]{val: v, cost: cost, key: k}
	var victims []entryOf[K, V] // only filled when someone listens
	s.mu.Lock()
	if old, ok := s.lru[c].Peek(k); ok {
		s.bytes[c] -= old.cost
		s.unlink(old)
	}
	s.lru[c].Add(k, e)
	s.link(e)
	s.bytes[c] += cost
	for s.bytes[classCopy]+s.bytes[classDurable] > s.max {
		// Copies go first while they hold more than their reserve (or
		// there is nothing durable to take); never the entry just added,
		// whose cost alone fits, so the other class has something.
		from := classDurable
		if s.bytes[classCopy] > s.reserve || s.lru[classDurable].Len() == 0 {
			from = classCopy
		}
		if from == c && s.lru[c].Len() == 1 {
			from = 1 - c
		}
		key, e, _ := s.lru[from].RemoveOldest()
		s.bytes[from] -= e.cost
		s.unlink(e)
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
	c := s.class(k)
	e, ok := s.lru[c].Peek(k)
	if !ok {
		return false
	}
	s.lru[c].Remove(k)
	s.bytes[c] -= e.cost
	s.unlink(e)
	return true
}

// link puts e at the head of its group's list; s.mu must be held.
func (s *Store[K, V]) link(e *entry[K, V]) {
	if s.groups == nil {
		return
	}
	g := s.group(e.key)
	head := s.groups[g]
	e.prev, e.next = nil, head
	if head != nil {
		head.prev = e
	}
	s.groups[g] = e
}

// unlink takes e out of its group's list; s.mu must be held.
func (s *Store[K, V]) unlink(e *entry[K, V]) {
	if s.groups == nil {
		return
	}
	switch g := s.group(e.key); {
	case e.prev != nil:
		e.prev.next = e.next
	case s.groups[g] != e:
		// Not linked (an entry RemoveGroup already dropped).
	case e.next != nil:
		s.groups[g] = e.next
	default:
		delete(s.groups, g)
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.prev, e.next = nil, nil
}

// RemoveGroup deletes every entry filed under group g (see
// StoreConfig.Group) and returns how many it deleted. It takes the lock
// once and visits only the group's entries, so it costs the hit path no
// more than those removals. Without a Group it deletes nothing.
func (s *Store[K, V]) RemoveGroup(g string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups == nil {
		return 0
	}
	n := 0
	for e := s.groups[g]; e != nil; {
		next := e.next
		c := s.class(e.key)
		s.lru[c].Remove(e.key)
		s.bytes[c] -= e.cost
		e.prev, e.next = nil, nil
		n++
		e = next
	}
	delete(s.groups, g)
	return n
}

// RemoveFunc deletes every entry whose key satisfies pred, for purges (all
// chunks of an object, of a version) that cannot list their keys up front;
// it returns how many it deleted. pred runs without the lock held, on a
// snapshot of the keys, so it may be slow; an entry added meanwhile is not
// considered.
func (s *Store[K, V]) RemoveFunc(pred func(K) bool) int {
	s.mu.Lock()
	keys := append(s.lru[classCopy].Keys(), s.lru[classDurable].Keys()...)
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
	return s.lru[classCopy].Len() + s.lru[classDurable].Len()
}

// Bytes returns the cost of all entries. It is never above MaxBytes once a
// call has returned: the budget is enforced inside each Add.
func (s *Store[K, V]) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes[classCopy] + s.bytes[classDurable]
}

// DurableBytes returns the cost of the durable entries alone.
func (s *Store[K, V]) DurableBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes[classDurable]
}

// ClassStats returns the entries and bytes of one class (durable or
// copies), for metrics: how the budget splits between a node's hot chunks
// and the shards it owns.
func (s *Store[K, V]) ClassStats(durable bool) (entries int, bytes int64) {
	c := classCopy
	if durable {
		c = classDurable
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru[c].Len(), s.bytes[c]
}

// MaxBytes returns the budget the Store was configured with.
func (s *Store[K, V]) MaxBytes() int64 { return s.max }

// Evictions returns how many entries the budget has pushed out since the
// Store was created (not counting removals and overwrites), for metrics:
// a rising rate means the working set does not fit.
func (s *Store[K, V]) Evictions() uint64 { return s.evictions.Load() }
