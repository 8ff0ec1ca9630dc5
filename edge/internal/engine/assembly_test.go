package engine

import (
	"bytes"
	"errors"
	"testing"

	"github.com/edgecache/edgecache/chunk"
)

// testAssembly encodes a chunk of n bytes and returns its shards and an
// assembly to rebuild it.
func testAssembly(t *testing.T, n int) (*chunk.Codec, []byte, []chunk.Shard, *assembly) {
	t.Helper()
	codec, err := chunk.NewCodec(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
	key := chunk.Key{Object: "/a", Version: "v", Index: 0}
	shards, err := codec.Encode(key, data)
	if err != nil {
		t.Fatal(err)
	}
	return codec, data, shards, newAssembly(key, n, codec, make([]bool, codec.Total()))
}

// read plays a peer read of shard s through a: it returns the shard as the
// gatherer would get it, or ok false if a placed nothing.
func read(t *testing.T, a *assembly, s chunk.Shard, fail bool) (chunk.Shard, bool) {
	t.Helper()
	buf, err := a.place(s, len(s.Bytes))
	if err != nil {
		t.Fatalf("place shard %d: %v", s.Index, err)
	}
	if buf == nil {
		return s, false
	}
	got := s
	got.Bytes = buf
	if fail {
		copy(buf, "half a shard")
		a.placed(got, false)
		return got, false
	}
	copy(buf, s.Bytes)
	a.placed(got, true)
	return got, true
}

// TestAssemblyInPlace: data shards land at their place in the chunk, so
// the chunk is rebuilt in the assembly's buffer without a copy; parity
// goes to a buffer of its own; a copy of a shard already whole is skipped;
// a read that fails frees its place for another peer.
func TestAssemblyInPlace(t *testing.T) {
	codec, data, shards, a := testAssembly(t, 1000)
	var got []chunk.Shard
	s0, _ := read(t, a, shards[0], false)
	if !a.inPlace(s0) {
		t.Fatal("data shard 0 was not read in place")
	}
	if _, ok := read(t, a, shards[0], false); ok {
		t.Fatal("a second copy of shard 0 was read")
	}
	if _, ok := read(t, a, shards[1], true); ok {
		t.Fatal("a failed read reported a shard")
	}
	s1, ok := read(t, a, shards[1], false)
	if !ok || !a.inPlace(s1) {
		t.Fatal("shard 1 was not read in place after a failed read freed its place")
	}
	s4, _ := read(t, a, shards[4], false)
	if a.inPlace(s4) {
		t.Fatal("a parity shard was read into the chunk")
	}
	s3, _ := read(t, a, shards[3], false)
	got = append(got, s0, s1, s3, s4)
	dst := a.finish()
	if dst == nil {
		t.Fatal("finish refused the buffer with no read in flight")
	}
	chunkBytes, err := codec.ReconstructInto(dst, got)
	if err != nil || !bytes.Equal(chunkBytes, data) || &chunkBytes[0] != &a.out[0] {
		t.Fatalf("rebuilt %v, equal=%v, in place=%v", err, bytes.Equal(chunkBytes, data), err == nil && &chunkBytes[0] == &a.out[0])
	}
	if _, err := a.place(shards[2], len(shards[2].Bytes)); !errors.Is(err, ErrEnough) {
		t.Fatalf("place after finish: %v, want ErrEnough", err)
	}
}

// TestAssemblyStraggler: a peer still reading into the chunk's buffer when
// the rebuild has its k shards must not share the buffer with the result.
func TestAssemblyStraggler(t *testing.T) {
	codec, data, shards, a := testAssembly(t, 1000)
	var got []chunk.Shard
	for _, i := range []int{0, 1, 4, 5} {
		s, _ := read(t, a, shards[i], false)
		got = append(got, s)
	}
	slow, err := a.place(shards[2], len(shards[2].Bytes)) // in flight, never finished
	if err != nil || slow == nil {
		t.Fatalf("place shard 2: %v", err)
	}
	if dst := a.finish(); dst != nil {
		t.Fatal("finish handed out the buffer a straggler writes to")
	}
	chunkBytes, err := codec.ReconstructInto(nil, got)
	copy(slow, "the straggler writes on")
	if err != nil || !bytes.Equal(chunkBytes, data) {
		t.Fatalf("rebuilt %v, equal=%v", err, bytes.Equal(chunkBytes, data))
	}
}

// TestAssemblyRefuses: shards of another chunk, or of an index known
// corrupt, are not read.
func TestAssemblyRefuses(t *testing.T) {
	_, _, shards, a := testAssembly(t, 1000)
	r := &peerRead{a: a, addr: "p", events: make(chan peerEvent, 8)}
	other := shards[0]
	other.Key.Index = 9
	if buf, err := r.Place(other, len(other.Bytes)); buf != nil || err != nil || r.foreign != 1 {
		t.Fatalf("a shard of another chunk: buffer %v, %v, foreign %d", buf != nil, err, r.foreign)
	}
	a.skip[3] = true
	if buf, err := r.Place(shards[3], len(shards[3].Bytes)); buf != nil || err != nil {
		t.Fatalf("a shard known corrupt: buffer %v, %v", buf != nil, err)
	}
}
