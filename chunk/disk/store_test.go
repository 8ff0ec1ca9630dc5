package disk_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/chunk/disk/disktest"
)

func TestPutGetReopen(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	keys := map[string][]byte{}
	for i := range 40 { // 40 records of 1 to 3 blocks: half the store
		k := fmt.Sprintf("k%d", i)
		keys[k] = value(k, 1000+i*237)
		if !s.Put(k, fmt.Sprintf("g%d", i%7), keys[k]) {
			t.Fatalf("Put(%s) refused", k)
		}
	}
	for k, v := range keys {
		mustGet(t, s, k, v) // some queued, some written
	}
	mustFlush(t, s)
	for k, v := range keys {
		mustGet(t, s, k, v)
	}
	st := s.Stats()
	if st.Entries != 40 || st.Reads == 0 || st.Writes == 0 {
		t.Errorf("stats: %+v", st)
	}
	mustClose(t, s)

	s = mustOpen(t, testConfig(fs.Restart()))
	defer mustClose(t, s)
	if s.Len() != 40 {
		t.Fatalf("after reopen: %d entries, want 40", s.Len())
	}
	for k, v := range keys {
		mustGet(t, s, k, v)
	}
}

func TestRemoveGroupSurvivesReopen(t *testing.T) {
	fs := disktest.New()
	s := mustOpen(t, testConfig(fs))
	for i := range 30 {
		s.Put(fmt.Sprintf("k%d", i), fmt.Sprintf("g%d", i%3), value("x", 2000))
	}
	mustFlush(t, s)
	n, err := s.RemoveGroup(context.Background(), "g1")
	if n != 10 || err != nil {
		t.Fatalf("RemoveGroup: %d, %v; want 10, nil", n, err)
	}
	if !s.Remove("k0") {
		t.Fatal("Remove(k0) found nothing")
	}
	mustClose(t, s)
	s = mustOpen(t, testConfig(fs.Restart()))
	defer mustClose(t, s)
	for i := range 30 {
		k := fmt.Sprintf("k%d", i)
		if got := s.Contains(k); got != (i%3 != 1 && i != 0) {
			t.Errorf("after reopen Contains(%s) = %v", k, got)
		}
	}
	if _, err := s.Get(context.Background(), "k1"); !errors.Is(err, disk.ErrNotFound) {
		t.Errorf("Get of a purged key: %v", err)
	}
}
