package chunk_test

import (
	"context"
	"testing"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/chunk/storetest"
)

// memStore puts a Store behind the interface the conformance suite (and
// a caller with a disk tier beside it) drives.
type memStore struct {
	*chunk.Store[string, []byte]
}

func memCost(k string, v []byte) int64 { return int64(len(k)+len(v)) + chunk.EntryOverhead }

func (m memStore) Put(key, _ string, v []byte) bool {
	m.Add(key, v) // an oversize value is refused, and removes the older one
	return memCost(key, v) <= m.MaxBytes()
}

func (m memStore) Get(_ context.Context, key string) ([]byte, error) {
	if v, ok := m.Store.Get(key); ok {
		return v, nil
	}
	return nil, chunk.ErrTooFewShards // any error is a miss
}

func (m memStore) RemoveGroup(_ context.Context, g string) (int, error) {
	return m.Store.RemoveGroup(g), nil
}

func (m memStore) Flush(context.Context) error { return nil }

func TestStoreConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: func(t *testing.T, budget int64) storetest.Store {
		s, err := chunk.NewStore(chunk.StoreConfig[string, []byte]{MaxBytes: budget, Cost: memCost, Group: storetest.GroupOf})
		if err != nil {
			t.Fatal(err)
		}
		return memStore{s}
	}})
}
