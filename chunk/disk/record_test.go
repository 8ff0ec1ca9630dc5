package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"

	"github.com/edgecache/edgecache/chunk"
)

const testStoreID = 0x0102030405060708

// record returns a whole record, padding included.
func record(kind byte, key, group string, seq uint64, v []byte) []byte {
	b := appendHeader(nil, kind, key, group, testStoreID, seq, v)
	b = append(b, v...)
	return append(b, make([]byte, int(recordLen(len(key), len(group), len(v)))-len(b))...)
}

// TestRecordLayout pins the documented byte layout: a store written by
// one build is read by the next.
func TestRecordLayout(t *testing.T) {
	v := []byte("value")
	b := record(kindPut, "key", "grp", 9, v)
	want := []byte("ECDR\x02\x01\x00\x03\x00\x03\x00\x00\x00\x00\x00\x05")
	want = binary.BigEndian.AppendUint64(want, testStoreID)
	want = binary.BigEndian.AppendUint64(want, 9)
	want = binary.BigEndian.AppendUint64(want, xxh3.Hash(v))
	want = append(want, "keygrp"...)
	want = binary.BigEndian.AppendUint64(want, xxhash.Sum64(want))
	want = append(want, v...)
	if !bytes.Equal(b[:len(want)], want) {
		t.Errorf("record bytes\n got %x\nwant %x", b[:len(want)], want)
	}
	if len(b) != BlockSize || !bytes.Equal(b[len(want):], make([]byte, BlockSize-len(want))) {
		t.Errorf("a %d-byte record is not padded with zeros to one block", len(want))
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, c := range []struct {
		kind       byte
		key, group string
		v          []byte
	}{
		{kindPut, "k", "", nil},
		{kindPut, "k", "g", bytes.Repeat([]byte{7}, 3*BlockSize)},
		{kindRemoveKey, "k", "", nil},
		{kindRemoveGroup, "", "g", nil},
	} {
		b := record(c.kind, c.key, c.group, 42, c.v)
		h, v, err := parseRecord(b, testStoreID)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if h.kind != c.kind || string(h.key) != c.key || string(h.group) != c.group || h.seq != 42 || !bytes.Equal(v, c.v) {
			t.Errorf("%+v: parsed %+v, value of %d bytes", c, h, len(v))
		}
		if n, err := recordLenOf(b); err != nil || n != int64(len(b)) {
			t.Errorf("%+v: recordLenOf = %d, %v; want %d", c, n, err, len(b))
		}
	}
}

func TestParseRecordRejects(t *testing.T) {
	good := record(kindPut, "key", "g", 1, []byte("some value"))
	hl := headerLen(3, 1)
	for name, c := range map[string]struct {
		b    []byte
		id   uint64
		want error
	}{
		"empty":            {nil, testStoreID, errBadRecord},
		"magic":            {mutate(good, 0, 'X'), testStoreID, errBadRecord},
		"version":          {mutate(good, 4, 1), testStoreID, errBadRecord},
		"header checksum":  {mutate(good, recordKeyOff, 'K'), testStoreID, chunk.ErrCorrupt},
		"value checksum":   {mutate(good, hl+1, 'X'), testStoreID, chunk.ErrCorrupt},
		"another store":    {good, testStoreID + 1, errBadRecord},
		"truncated":        {good[:hl+3], testStoreID, errBadRecord},
		"header truncated": {good[:hl-1], testStoreID, errBadRecord},
		"put without key":  {record(kindPut, "", "g", 1, nil), testStoreID, errBadRecord},
		"tombstone value":  {record(kindRemoveKey, "k", "", 1, []byte("v")), testStoreID, errBadRecord},
		"group with key":   {record(kindRemoveGroup, "k", "g", 1, nil), testStoreID, errBadRecord},
		"unknown kind":     {record(9, "k", "g", 1, nil), testStoreID, errBadRecord},
	} {
		if _, _, err := parseRecord(c.b, c.id); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func mutate(b []byte, i int, c byte) []byte {
	b = bytes.Clone(b)
	b[i] = c
	return b
}

func TestRegionHeaderFooterAndSummary(t *testing.T) {
	b := make([]byte, BlockSize)
	encodeRegionHeader(b, testStoreID, 77, 3)
	if seq0, err := parseRegionHeader(b, testStoreID, 3); err != nil || seq0 != 77 {
		t.Errorf("region header: %d, %v", seq0, err)
	}
	if _, err := parseRegionHeader(b, testStoreID, 4); err == nil {
		t.Error("a header of region 3 passed for region 4")
	}
	entries := []sumEntry{{key: 1, group: 2, seq: 78, block: 1, blocks: 2, kind: kindPut},
		{group: 2, seq: 79, block: 3, blocks: 1, kind: kindRemoveGroup}}
	tail := encodeSeal(make([]byte, sealLen(2)), testStoreID, 77, entries)
	if int64(len(tail)) != sealLen(2) {
		t.Fatalf("seal of %d bytes, want %d", len(tail), sealLen(2))
	}
	count, sum, err := parseFooter(tail[len(tail)-BlockSize:], testStoreID, 77)
	if err != nil || count != 2 {
		t.Fatalf("footer: %d, %v", count, err)
	}
	if _, _, err := parseFooter(tail[len(tail)-BlockSize:], testStoreID, 76); err == nil {
		t.Error("a footer of life 77 passed for life 76")
	}
	got, err := parseSummary(tail, count, sum)
	if err != nil || len(got) != 2 || got[0] != entries[0] || got[1] != entries[1] {
		t.Errorf("summary: %+v, %v", got, err)
	}
	tail[5] ^= 1
	if _, err := parseSummary(tail, count, sum); !errors.Is(err, chunk.ErrCorrupt) {
		t.Errorf("a damaged summary: %v", err)
	}
	sb := superblock{storeID: testStoreID, regionSize: 1 << 20, regions: 9}
	sb.encode(b)
	if got, err := parseSuperblock(b); err != nil || got != sb {
		t.Errorf("superblock: %+v, %v", got, err)
	}
}

// FuzzParseRecord feeds arbitrary bytes to the parsers of what is read
// back from a device: none may panic, and a record they accept must be
// exactly what appendHeader would have written for its fields.
func FuzzParseRecord(f *testing.F) {
	f.Add(record(kindPut, "key", "group", 1, []byte("value")))
	f.Add(record(kindRemoveGroup, "", "group", 2, nil))
	f.Add(record(kindRemoveKey, "k", "", 3, nil)[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		h, v, err := parseRecord(b, testStoreID)
		if err == nil {
			again := record(h.kind, string(h.key), string(h.group), h.seq, v)
			if !bytes.Equal(again[:headerLen(len(h.key), len(h.group))+len(v)], b[:headerLen(len(h.key), len(h.group))+len(v)]) {
				t.Fatalf("accepted a record that does not re-encode to itself: %x", b)
			}
		}
		if n, err := recordLenOf(b); err == nil && n <= 0 {
			t.Fatalf("recordLenOf = %d", n)
		}
		parseSuperblock(b)                   //nolint:errcheck // must not panic
		parseRegionHeader(b, testStoreID, 0) //nolint:errcheck // must not panic
		if count, sum, err := parseFooter(b, testStoreID, 1); err == nil {
			parseSummary(b, count, sum) //nolint:errcheck // must not panic
		}
	})
}
