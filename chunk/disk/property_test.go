package disk_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/chunk/disk/disktest"
)

// storeModel is what a store may answer, kept beside a real store driven
// through random sequences of puts, gets, removals, purges, flushes,
// clean reopens and crashes at any byte of the write stream.
type storeModel struct {
	fs  *disktest.FS
	s   *disk.Store
	cfg disk.Config
	ver int // makes every value put unique

	// last is each key's last accepted value; nil once removed. Get
	// returns it or misses (an eviction), unless the key is fuzzy.
	last map[string][]byte
	// fuzzy keys are those a crash left uncertain: Get returns one of
	// maybe, or misses, until the key is put or removed again.
	fuzzy map[string]bool
	// maybe holds the values a crash may leave under a key: those put
	// since its last removal that was durable (a purge, or a removal
	// followed by a flush or a clean close).
	maybe map[string][][]byte
	// held are the values GetValue lent and that are not yet released,
	// with the bytes each had: a buffer lent twice would change under
	// its holder.
	held []heldValue
}

type heldValue struct {
	v    *disk.Value
	want []byte
}

var (
	modelKeys   = []string{"a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "c1", "c2", "c3", "c4"}
	modelGroups = []string{"a", "b", "c"}
)

func groupOf(k string) string { return k[:1] }

// durable records that everything queued is on disk: a crash can bring
// back nothing older than each key's last value. A fuzzy key stays as
// uncertain as it was: which of its values the last crash left is still
// unknown.
func (m *storeModel) durable() {
	for _, k := range modelKeys {
		if m.fuzzy[k] {
			continue
		}
		m.maybe[k] = nil
		if m.last[k] != nil {
			m.maybe[k] = [][]byte{m.last[k]}
		}
	}
}

func (m *storeModel) Put(t *rapid.T) {
	k := rapid.SampledFrom(modelKeys).Draw(t, "key")
	n := rapid.IntRange(0, 20_000).Draw(t, "size")
	m.ver++
	v := value(fmt.Sprintf("%s#%d", k, m.ver), n)
	if !m.s.Put(k, groupOf(k), v) {
		t.Fatalf("Put(%s, %d bytes) refused", k, n)
	}
	m.last[k], m.fuzzy[k] = v, false
	m.maybe[k] = append(m.maybe[k], v)
}

func (m *storeModel) Get(t *rapid.T) {
	k := rapid.SampledFrom(modelKeys).Draw(t, "key")
	got, err := m.s.Get(context.Background(), k)
	if err == nil {
		m.check(t, k, got)
	}
}

// GetValue is Get into a lent buffer, held until a later Release.
func (m *storeModel) GetValue(t *rapid.T) {
	k := rapid.SampledFrom(modelKeys).Draw(t, "key")
	v, err := m.s.GetValue(context.Background(), k)
	if err == nil {
		m.check(t, k, v.Bytes())
		m.held = append(m.held, heldValue{v, bytes.Clone(v.Bytes())})
	}
}

func (m *storeModel) Release(t *rapid.T) {
	if len(m.held) == 0 {
		t.Skip("no value held")
	}
	i := rapid.IntRange(0, len(m.held)-1).Draw(t, "value")
	m.held[i].v.Release()
	m.held = slices.Delete(m.held, i, i+1)
}

// check fails unless got is what the model allows Get(k) to return.
func (m *storeModel) check(t *rapid.T, k string, got []byte) {
	switch {
	case m.fuzzy[k]:
		if !slices.ContainsFunc(m.maybe[k], func(v []byte) bool { return bytes.Equal(v, got) }) {
			t.Fatalf("after a crash Get(%s) returned %d bytes that were never put, or were purged", k, len(got))
		}
	case m.last[k] == nil:
		t.Fatalf("Get(%s) returned %d bytes of a removed key", k, len(got))
	case !bytes.Equal(got, m.last[k]):
		t.Fatalf("Get(%s) returned %d bytes, not the last %d put", k, len(got), len(m.last[k]))
	}
}

func (m *storeModel) Remove(t *rapid.T) {
	k := rapid.SampledFrom(modelKeys).Draw(t, "key")
	m.s.Remove(k)
	m.last[k], m.fuzzy[k] = nil, false
}

func (m *storeModel) RemoveGroup(t *rapid.T) {
	g := rapid.SampledFrom(modelGroups).Draw(t, "group")
	if _, err := m.s.RemoveGroup(context.Background(), g); err != nil {
		t.Fatalf("RemoveGroup(%s): %v", g, err)
	}
	for _, k := range modelKeys {
		if groupOf(k) == g {
			m.last[k], m.fuzzy[k], m.maybe[k] = nil, false, nil
		}
	}
}

func (m *storeModel) Flush(t *rapid.T) {
	if err := m.s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	m.durable()
}

func (m *storeModel) Reopen(t *rapid.T) {
	if err := m.s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	m.durable()
	m.reopen(t)
}

func (m *storeModel) Crash(t *rapid.T) {
	m.fs.CrashAfter(rapid.Int64Range(0, 64<<10).Draw(t, "written before the crash"))
	m.s.Close(context.Background()) //nolint:errcheck // the device died under it
	for _, k := range modelKeys {
		m.fuzzy[k] = true
	}
	m.reopen(t)
}

func (m *storeModel) reopen(t *rapid.T) {
	m.fs = m.fs.Restart()
	m.cfg.FS = m.fs
	s, err := disk.Open(m.cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	m.s = s
}

// Check runs after every action: the budget holds, no I/O failed, and
// every value held is as it was lent.
func (m *storeModel) Check(t *rapid.T) {
	for i, h := range m.held {
		if !bytes.Equal(h.v.Bytes(), h.want) {
			t.Fatalf("held value %d changed: its buffer was lent again", i)
		}
	}
	st := m.s.Stats()
	if st.Bytes > m.cfg.Size || st.Off || st.WriteErrors+st.ReadErrors > 0 {
		t.Fatalf("%d bytes of a %d budget, off %v, %d write and %d read errors",
			st.Bytes, m.cfg.Size, st.Off, st.WriteErrors, st.ReadErrors)
	}
}

// TestStoreAgainstModel is the property test: whatever the sequence, a
// Get or GetValue never returns bytes other than the model allows (never
// a wrong value, never a removed or purged key, never an older value
// unless a crash made it so), a value lent stays as lent until released,
// and the budget always holds.
func TestStoreAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fs := disktest.New()
		m := &storeModel{fs: fs, cfg: testConfig(fs), last: map[string][]byte{},
			fuzzy: map[string]bool{}, maybe: map[string][][]byte{}}
		m.reopen(t)
		defer func() { m.s.Close(context.Background()) }() //nolint:errcheck // the test is over
		t.Repeat(rapid.StateMachineActions(m))
	})
}
