package peerwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/origin"
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

// FuzzDecodeFillRequest: no input panics, and an accepted request names a
// chunk whose version matches its metadata.
func FuzzDecodeFillRequest(f *testing.F) {
	m := origin.Meta{Size: 10 << 20, ETag: `"v"`, LastModified: time.Unix(1e9, 0)}
	good, _ := json.Marshal(FillRequest{Key: chunk.Key{Object: "/a", Version: chunk.Version(m.ETag, m.LastModified, m.Size), Index: 2}.String(), Meta: m})
	f.Add(good)
	f.Add([]byte(`{"key":"1:/,2:e:,0","meta":{"Size":-1}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, meta, err := DecodeFillRequest(b)
		if err != nil {
			return
		}
		if key.Version != chunk.Version(meta.ETag, meta.LastModified, meta.Size) || meta.Size < 0 {
			t.Fatalf("accepted a mismatched request: %+v %+v", key, meta)
		}
	})
}

// FuzzDecodeMetaResponse: no input panics; a found object has a size.
func FuzzDecodeMetaResponse(f *testing.F) {
	good, _ := json.Marshal(MetaResponse{Found: true, Meta: origin.Meta{Size: 5, ETag: `"e"`}, Fetched: 1})
	f.Add(good)
	f.Add([]byte(`{"found":true,"meta":{"Size":-3}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeMetaResponse(b)
		if err == nil && r.Found && r.Meta.Size < 0 {
			t.Fatalf("accepted a negative size")
		}
	})
}

// FuzzPeerMetaRoundTrip: whatever bytes the origin's header values hold,
// a fill request and a metadata answer carry them to the other peer
// exactly, so that both name the same version.
func FuzzPeerMetaRoundTrip(f *testing.F) {
	f.Add(`"v1"`, "video/mp4", "max-age=60", "", "")
	f.Add("\"caf\xe9\"", "video/mp4; t=\"r\xe9\"", "\xff", "\x00", "attachment; filename=\"\xe9.mp4\"")
	f.Add("W/\"\ufffd\"", "", "", "Thu, 01 Jan 1970 00:00:00 GMT", "\xc3\x28")
	f.Fuzz(func(t *testing.T, etag, ctype, cc, expires, cd string) {
		m := origin.Meta{Size: 3 << 20, ETag: etag, ContentType: ctype, CacheControl: cc, Expires: expires,
			ContentDisposition: cd, LastModified: time.Unix(1e9, 0).UTC()}
		key := chunk.Key{Object: "/o", Version: chunk.Version(m.ETag, m.LastModified, m.Size), Index: 1}
		b, err := json.Marshal(FillRequest{Key: key.String(), Meta: m})
		if err != nil {
			t.Fatal(err)
		}
		gotKey, got, err := DecodeFillRequest(b)
		if err != nil || gotKey != key || got != m {
			t.Fatalf("fill request: %v\n got %+v %+v\nwant %+v %+v", err, gotKey, got, key, m)
		}
		b, err = json.Marshal(MetaResponse{Found: true, Meta: m, Fetched: 7})
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeMetaResponse(b)
		if err != nil || !r.Found || r.Meta != m || r.Fetched != 7 {
			t.Fatalf("meta answer: %v\n got %+v\nwant %+v", err, r, m)
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
