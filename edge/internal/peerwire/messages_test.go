package peerwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/edgecache/edgecache/chunk"
)

func testFrames(t testing.TB) [][]byte {
	codec, err := chunk.NewCodec(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	shards, err := codec.Encode(chunk.Key{Object: "/a.mp4", Version: `e:"x"`, Index: 3}, []byte("some chunk bytes of a movie"))
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for _, s := range shards {
		frames = append(frames, s.AppendFrame(nil))
	}
	return frames
}

// testList returns testFrames and the shard list that carries them.
func testList(t testing.TB) (frames [][]byte, list []byte) {
	frames = testFrames(t)
	var buf bytes.Buffer
	for _, f := range frames {
		if err := WriteShardListItem(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	return frames, buf.Bytes()
}

func TestShardListRoundTrip(t *testing.T) {
	frames, list := testList(t)
	// One frame's header corrupted in place: it is skipped and counted,
	// the others still decode. Another's shard bytes corrupted: it is
	// parsed, and its Verify fails (the reader's chunk checksum finds it).
	list[4+10] ^= 1
	second := 4 + len(frames[0]) + 4
	list[second+len(frames[1])-1] ^= 1
	shards, bad, err := readList(list)
	if err != nil || bad != 1 || len(shards) != len(frames)-1 {
		t.Fatalf("got %d shards, %d bad, %v", len(shards), bad, err)
	}
	for _, s := range shards {
		if err := s.Verify(); (err != nil) != (s.Index == 1) {
			t.Errorf("shard %d: Verify %v", s.Index, err)
		}
	}
	if _, _, err := readList(list[:len(list)-1]); err == nil {
		t.Error("a truncated list decoded")
	}
}

// collect is a Placer that reads every shard into a buffer of its
// own and keeps the whole ones.
type collect struct {
	shards []chunk.Shard
	failed int
}

func (c *collect) Place(_ chunk.Shard, sl int) ([]byte, error) { return make([]byte, sl), nil }

func (c *collect) Placed(s chunk.Shard, ok bool) {
	if ok {
		c.shards = append(c.shards, s)
	} else {
		c.failed++
	}
}

// readList reads a whole shard list from memory.
func readList(b []byte) ([]chunk.Shard, int, error) {
	return readListFrom(bytes.NewReader(b))
}

func readListFrom(r io.Reader) ([]chunk.Shard, int, error) {
	var c collect
	bad, err := ReadShardList(r, chunk.MaxShards, &c)
	return c.shards, bad, err
}

// FuzzDecodeShardList: no input panics; the shards read are well formed,
// and a list that arrives a byte at a time reads the same.
func FuzzDecodeShardList(f *testing.F) {
	_, list := testList(f)
	f.Add(list)
	f.Add([]byte{0, 0, 0, 1, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		shards, bad, err := readList(b)
		for _, s := range shards {
			if s.Index < 0 || s.Index >= s.Data+s.Parity || s.ChunkLen < 1 || len(s.Bytes) != (s.ChunkLen+s.Data-1)/s.Data {
				t.Fatalf("malformed shard decoded: %+v", s)
			}
		}
		slow, slowBad, slowErr := readListFrom(iotest.OneByteReader(bytes.NewReader(b)))
		if len(slow) != len(shards) || slowBad != bad || (slowErr == nil) != (err == nil) {
			t.Fatalf("a byte at a time: %d shards, %d bad, %v; at once: %d, %d, %v", len(slow), slowBad, slowErr, len(shards), bad, err)
		}
	})
}

// FuzzDecodeFillRequest: no input panics, and an accepted request
// describes an object no member would refuse to describe.
func FuzzDecodeFillRequest(f *testing.F) {
	good, _ := json.Marshal(FillRequest{Key: []byte("1:/a,2:e:,0"), Object: Object{Key: []byte("/a"), Status: 200, Size: 9, Version: []byte("e:\"x\"")}})
	f.Add(good)
	f.Add([]byte(`{"key":"","object":{"key":"Lw==","size":-1}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeFillRequest(b)
		if err == nil && (r.Object.Size < 0 || len(r.Object.Key) == 0 || r.Object.Key[0] != '/') {
			t.Fatalf("accepted %+v", r.Object)
		}
	})
}

// FuzzDecodeMetaAnswer: no input panics; what is accepted is well formed.
func FuzzDecodeMetaAnswer(f *testing.F) {
	good, _ := EncodeMetaAnswer(MetaAnswer{Object: &Object{Key: []byte("/a"), Status: 200, Size: 5, Version: []byte("v")}, Raw: "head"}, []byte("hello"))
	f.Add(good)
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, raw, err := DecodeMetaAnswer(b)
		if err != nil {
			return
		}
		if len(raw) > len(b) || (a.Object != nil && (a.Object.Size < 0 || len(a.Object.Key) == 0)) {
			t.Fatalf("accepted a malformed answer: %+v", a)
		}
	})
}

// FuzzPeerObjectRoundTrip: whatever bytes the origin's fields hold, an
// object and a request travel to the other member exactly.
func FuzzPeerObjectRoundTrip(f *testing.F) {
	f.Add(`"v1"`, "Content-Type", "video/mp4", "/a?b")
	f.Add("\"caf\xe9\"", "X-\xff", "\xc3\x28", "/\xe9")
	f.Fuzz(func(t *testing.T, etag, name, value, key string) {
		if key == "" || key[0] != '/' {
			key = "/" + key
		}
		o := Object{Key: []byte(key), Status: 200, Size: 3 << 20, ETag: []byte(etag), Version: []byte("e:" + etag),
			Header: []Field{{[]byte(name), []byte(value)}}, Fetch: []Field{{[]byte("Authorization"), []byte(value)}}}
		b, err := EncodeMetaAnswer(MetaAnswer{Object: &o, Raw: "head"}, []byte(value))
		if err != nil {
			t.Fatal(err)
		}
		a, raw, err := DecodeMetaAnswer(b)
		if err != nil || a.Object == nil || string(raw) != value {
			t.Fatalf("meta answer: %v %+v", err, a)
		}
		got := a.Object
		if string(got.Key) != key || string(got.ETag) != etag || string(got.Header[0][0]) != name ||
			string(got.Header[0][1]) != value || string(got.Fetch[0][1]) != value {
			t.Fatalf("object changed in transit:\n got %+v\nwant %+v", got, o)
		}
		rb, _ := json.Marshal(MetaRequest{Key: []byte(key), Header: o.Header})
		r, err := DecodeMetaRequest(rb)
		if err != nil || string(r.Key) != key || string(r.Header[0][1]) != value {
			t.Fatalf("meta request: %v %+v", err, r)
		}
	})
}

// A shard list written with WriteTo and one read with Read are the same
// bytes, and both decode to the frames.
func TestShardListBody(t *testing.T) {
	frames := testFrames(t)
	var want bytes.Buffer
	for _, f := range frames {
		if err := WriteShardListItem(&want, f); err != nil {
			t.Fatal(err)
		}
	}
	l := NewShardList(frames)
	var got bytes.Buffer
	if _, err := l.WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("WriteTo: %v, identical=%v", err, bytes.Equal(got.Bytes(), want.Bytes()))
	}
	// Read in odd-sized pieces, so that prefixes and frames are split.
	l = NewShardList(frames)
	var read []byte
	buf := make([]byte, 7)
	for {
		n, err := l.Read(buf)
		read = append(read, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(read, want.Bytes()) {
		t.Fatalf("Read gave %d bytes, want %d identical", len(read), want.Len())
	}
	shards, bad, err := readList(read)
	if err != nil || bad != 0 || len(shards) != len(frames) {
		t.Errorf("decoded %d shards, %d bad, %v", len(shards), bad, err)
	}
}

// picky places only the shards it wants, and stops at stopAt.
type picky struct {
	collect
	want   map[int]bool
	stopAt int
}

var errStop = errors.New("stop")

func (p *picky) Place(s chunk.Shard, sl int) ([]byte, error) {
	if s.Index == p.stopAt {
		return nil, errStop
	}
	if !p.want[s.Index] {
		return nil, nil
	}
	return p.collect.Place(s, sl)
}

// TestReadShardListPlacing: the placer decides what is read: skipped
// shards are passed over and the rest still read, a placer's error stops
// the read, and a shard cut short is handed back as not filled.
func TestReadShardListPlacing(t *testing.T) {
	frames, list := testList(t)

	p := &picky{want: map[int]bool{1: true, 4: true}, stopAt: -1}
	if bad, err := ReadShardList(bytes.NewReader(list), chunk.MaxShards, p); err != nil || bad != 0 ||
		len(p.shards) != 2 || p.shards[0].Index != 1 || p.shards[1].Index != 4 {
		t.Fatalf("skipping: %d shards, %d bad, %v", len(p.shards), bad, err)
	}
	for _, s := range p.shards {
		if err := s.Verify(); err != nil {
			t.Errorf("shard %d read wrong: %v", s.Index, err)
		}
	}

	p = &picky{want: map[int]bool{0: true, 1: true, 2: true, 3: true}, stopAt: 2}
	if _, err := ReadShardList(bytes.NewReader(list), chunk.MaxShards, p); !errors.Is(err, errStop) || len(p.shards) != 2 {
		t.Fatalf("stopping: %d shards, %v", len(p.shards), err)
	}

	p = &picky{want: map[int]bool{0: true, 1: true}, stopAt: -1}
	cut := list[:4+len(frames[0])+4+len(frames[1])-3]
	if _, err := ReadShardList(bytes.NewReader(cut), chunk.MaxShards, p); !errors.Is(err, ErrBadMessage) ||
		len(p.shards) != 1 || p.failed != 1 {
		t.Fatalf("cut short: %d shards, %d failed, %v", len(p.shards), p.failed, err)
	}

	if _, err := ReadShardList(bytes.NewReader(list), 3, &collect{}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("more frames than allowed: %v", err)
	}
}
