package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// mapStore is the simplest store there is: a map under a mutex, with no
// budget to enforce beyond refusing what would exceed it. It checks the
// suite itself: a correct store passes.
type mapStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *mapStore) Put(key, _ string, v []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	if s.bytes()+int64(len(v)) > Budget {
		for k := range s.m { // evict anything: the suite asks only for the newest
			delete(s.m, k)
			if s.bytes()+int64(len(v)) <= Budget {
				break
			}
		}
	}
	s.m[key] = v
	return true
}

func (s *mapStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[key]; ok {
		return v, nil
	}
	return nil, errors.New("miss")
}

func (s *mapStore) Contains(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	return ok
}

func (s *mapStore) Remove(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	delete(s.m, key)
	return ok
}

func (s *mapStore) RemoveGroup(_ context.Context, g string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.m {
		if GroupOf(k) == g {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}

func (s *mapStore) Flush(context.Context) error { return nil }

func (s *mapStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *mapStore) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes()
}

func (s *mapStore) bytes() int64 {
	var n int64
	for _, v := range s.m {
		n += int64(len(v))
	}
	return n
}

func TestSuiteOnAMap(t *testing.T) {
	Run(t, Harness{
		New:    func(*testing.T, int64) Store { return &mapStore{m: map[string][]byte{}} },
		Reopen: func(_ *testing.T, s Store) Store { return s },
	})
}

func TestIsVersionOf(t *testing.T) {
	k := Key("g", "k")
	if !isVersionOf(k, Value(k, 3, 100)) {
		t.Error("a version of k not recognised")
	}
	if isVersionOf(Key("g", "j"), Value(k, 3, 100)) || isVersionOf(k, Value(k, 3, 100)[:99]) {
		t.Error("another key's bytes, or a truncated value, passed")
	}
}
