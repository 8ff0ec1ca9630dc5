package chunk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// testShards encodes a short chunk whose last data shard is padded.
func testShards(t testing.TB) []Shard {
	t.Helper()
	shards, err := mustCodec(t, 4, 2).Encode(testKey, []byte("hello, erasure-coded world"))
	if err != nil {
		t.Fatal(err)
	}
	return shards
}

func sameShard(a, b Shard) bool {
	return a.Key == b.Key && a.Index == b.Index && a.Data == b.Data && a.Parity == b.Parity &&
		a.ChunkLen == b.ChunkLen && a.ChunkSum == b.ChunkSum && bytes.Equal(a.Bytes, b.Bytes)
}

func TestFrameRoundTrip(t *testing.T) {
	for _, s := range testShards(t) {
		prefix := []byte("prefix")
		frame := s.AppendFrame(bytes.Clone(prefix))
		if !bytes.HasPrefix(frame, prefix) {
			t.Fatalf("shard %d: AppendFrame overwrote dst", s.Index)
		}
		frame = frame[len(prefix):]
		if len(frame) != s.FrameLen() {
			t.Errorf("shard %d: frame is %d bytes, FrameLen says %d", s.Index, len(frame), s.FrameLen())
		}
		got, err := DecodeFrame(frame)
		if err != nil {
			t.Fatalf("shard %d: %v", s.Index, err)
		}
		if !sameShard(got, s) {
			t.Errorf("shard %d: decoded %+v, want %+v", s.Index, got, s)
		}
		if &got.Bytes[0] != &frame[len(frame)-len(got.Bytes)] {
			t.Errorf("shard %d: Bytes does not alias the frame", s.Index)
		}
	}
}

// TestFrameLayout pins the documented byte layout, which peers of different
// builds must agree on.
func TestFrameLayout(t *testing.T) {
	s := Shard{Key: Key{Object: "/o", Version: "e:1", Index: 2}, Index: 5, Data: 4, Parity: 2,
		ChunkLen: 9, ChunkSum: 0x0102030405060708, Bytes: []byte{0xaa, 0xbb, 0xcc}}
	f := s.AppendFrame(nil)
	key := "2:/o,3:e:1,2"
	n := len(key)
	want := []byte("ECSH")
	want = append(want, 1, 4, 2, 5, 0, 0, 0, 9, 0, 0, 0, 3, 0, byte(n))
	want = append(want, key...)
	want = binary.BigEndian.AppendUint64(want, xxhash.Sum64(s.Bytes))
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8)
	want = binary.BigEndian.AppendUint64(want, xxhash.Sum64(want))
	want = append(want, 0xaa, 0xbb, 0xcc)
	if !bytes.Equal(f, want) {
		t.Errorf("frame\n got %x\nwant %x", f, want)
	}
	if len(f) != frameFixedLen+n+3 {
		t.Errorf("frame is %d bytes, want %d", len(f), frameFixedLen+n+3)
	}
}

func TestAppendFrameDoesNotAllocate(t *testing.T) {
	s := testShards(t)[1]
	buf := make([]byte, 0, s.FrameLen())
	if n := testing.AllocsPerRun(100, func() { buf = s.AppendFrame(buf[:0]) }); n != 0 {
		t.Errorf("AppendFrame into a large enough buffer: %v allocs, want 0", n)
	}
}

// TestDecodeFrameBitFlips flips every bit of a frame in turn: none may
// decode, and each must be reported as corrupt or malformed.
func TestDecodeFrameBitFlips(t *testing.T) {
	frame := testShards(t)[3].AppendFrame(nil)
	for i := range frame {
		for bit := range 8 {
			b := bytes.Clone(frame)
			b[i] ^= 1 << bit
			_, err := DecodeFrame(b)
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrBadFrame) {
				t.Fatalf("bit %d of byte %d flipped: %v, want ErrCorrupt or ErrBadFrame", bit, i, err)
			}
		}
	}
	// A flipped shard byte is a checksum failure specifically.
	b := bytes.Clone(frame)
	b[len(b)-1] ^= 1
	if _, err := DecodeFrame(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped shard byte: %v, want ErrCorrupt", err)
	}
}

// ParseFrame checks everything but the shard bytes, which Verify checks.
func TestParseFrameDefersTheShardChecksum(t *testing.T) {
	frame := testShards(t)[3].AppendFrame(nil)
	b := bytes.Clone(frame)
	b[len(b)-1] ^= 1
	s, err := ParseFrame(b)
	if err != nil {
		t.Fatalf("flipped shard byte: ParseFrame %v, want no error", err)
	}
	if err := s.Verify(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped shard byte: Verify %v, want ErrCorrupt", err)
	}
	good, err := ParseFrame(frame)
	if err != nil || good.Verify() != nil {
		t.Errorf("intact frame: ParseFrame %v, Verify %v", err, good.Verify())
	}
	// Any flip in the header is still caught at once.
	for i := range len(frame) - len(good.Bytes) {
		h := bytes.Clone(frame)
		h[i] ^= 0x10
		if _, err := ParseFrame(h); err == nil {
			t.Fatalf("byte %d of the header flipped: ParseFrame accepted it", i)
		}
	}
}

func TestDecodeFrameTruncated(t *testing.T) {
	frame := testShards(t)[0].AppendFrame(nil)
	for n := range len(frame) {
		if _, err := DecodeFrame(frame[:n]); !errors.Is(err, ErrBadFrame) {
			t.Fatalf("first %d of %d bytes: %v, want ErrBadFrame", n, len(frame), err)
		}
	}
	if _, err := DecodeFrame(append(bytes.Clone(frame), 0)); !errors.Is(err, ErrBadFrame) {
		t.Errorf("trailing byte: %v, want ErrBadFrame", err)
	}
}

// reseal recomputes a frame's header checksum after a test edits the
// header, so the field checks behind it are reached.
func reseal(f []byte) []byte {
	sums := offKey + int(binary.BigEndian.Uint16(f[16:]))
	binary.BigEndian.PutUint64(f[sums+16:], xxhash.Sum64(f[:sums+16]))
	return f
}

// TestDecodeFrameMalformed feeds frames whose checksums are right but
// whose fields are not, as a buggy or hostile peer could send.
func TestDecodeFrameMalformed(t *testing.T) {
	good := testShards(t)[2]
	for name, edit := range map[string]func(*Shard, []byte) []byte{
		"magic":         func(_ *Shard, f []byte) []byte { f[0] = 'X'; return f },
		"version":       func(_ *Shard, f []byte) []byte { f[4] = 2; return reseal(f) },
		"k zero":        func(_ *Shard, f []byte) []byte { f[5] = 0; return reseal(f) },
		"k+m over 256":  func(_ *Shard, f []byte) []byte { f[5], f[6] = 200, 57; return reseal(f) },
		"index past m":  func(_ *Shard, f []byte) []byte { f[7] = 6; return reseal(f) },
		"chunk len 0":   func(s *Shard, _ []byte) []byte { s.ChunkLen = 0; return s.AppendFrame(nil) },
		"shard len big": func(s *Shard, _ []byte) []byte { s.ChunkLen = 5; return s.AppendFrame(nil) },
		"shard len off": func(s *Shard, _ []byte) []byte { s.Bytes = append(s.Bytes, 0); return s.AppendFrame(nil) },
		"empty version": func(s *Shard, _ []byte) []byte { s.Key.Version = ""; return s.AppendFrame(nil) },
		"bad key": func(_ *Shard, f []byte) []byte {
			f[offKey] = '0' // "13:..." becomes "03:...", a non-canonical length
			return reseal(f)
		},
		"key length past end": func(_ *Shard, f []byte) []byte {
			binary.BigEndian.PutUint16(f[16:], 0xffff)
			return f
		},
	} {
		s := good
		s.Bytes = bytes.Clone(good.Bytes)
		f := edit(&s, good.AppendFrame(nil))
		if got, err := DecodeFrame(f); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: got %+v, %v; want ErrBadFrame", name, got, err)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range testShards(f) {
		f.Add(s.AppendFrame(nil))
	}
	one := Shard{Key: Key{Object: "", Version: "v", Index: 0}, Index: 0, Data: 1, Parity: 0, ChunkLen: 1, Bytes: []byte{7}}
	f.Add(one.AppendFrame(nil))
	f.Add([]byte("ECSH"))
	check := func(t *testing.T, b []byte) {
		streamed(t, b)
		s, err := DecodeFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is neither ErrBadFrame nor ErrCorrupt", err)
			}
			return
		}
		if again := s.AppendFrame(nil); !bytes.Equal(again, b) {
			t.Fatalf("decoded frame re-encodes differently\n in %x\nout %x", b, again)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
		// The fuzzer cannot forge an xxhash64, so it would rarely get past
		// the header checksum; resealing lets it reach the field checks.
		if len(b) >= offKey {
			if sums := offKey + int(binary.BigEndian.Uint16(b[16:])); len(b) >= sums+24 {
				check(t, reseal(bytes.Clone(b)))
			}
		}
	})
}

// streamed checks that a reader that parses a frame's header on its own
// (FrameHeaderLen, ParseFrameHeader) and then takes the shard's bytes
// accepts exactly the frames ParseFrame accepts, with the same fields.
func streamed(t *testing.T, b []byte) {
	whole, werr := ParseFrame(b)
	hl, err := FrameHeaderLen(b)
	if err != nil || len(b) < hl {
		if werr == nil {
			t.Fatalf("ParseFrame took a frame whose header is short or bad: %v", err)
		}
		return
	}
	s, sl, err := ParseFrameHeader(b[:hl])
	if ok := err == nil && len(b)-hl == sl; ok != (werr == nil) {
		t.Fatalf("streamed parse ok=%v (%v), ParseFrame %v", ok, err, werr)
	}
	if werr != nil {
		return
	}
	s.Bytes = b[hl:]
	if s.Key != whole.Key || s.Index != whole.Index || s.Data != whole.Data || s.Parity != whole.Parity ||
		s.ChunkLen != whole.ChunkLen || s.ChunkSum != whole.ChunkSum || s.Sum != whole.Sum || !bytes.Equal(s.Bytes, whole.Bytes) {
		t.Fatalf("streamed parse %+v, ParseFrame %+v", s, whole)
	}
}

func BenchmarkDecodeFrame_256KiB(b *testing.B) {
	chunk := randomChunk(rand.New(rand.NewPCG(14, 15)), mib)
	shards, err := mustCodec(b, 4, 2).Encode(testKey, chunk)
	if err != nil {
		b.Fatal(err)
	}
	frame := shards[0].AppendFrame(nil)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendFrame_256KiB(b *testing.B) {
	chunk := randomChunk(rand.New(rand.NewPCG(14, 15)), mib)
	shards, err := mustCodec(b, 4, 2).Encode(testKey, chunk)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, shards[0].FrameLen())
	b.SetBytes(int64(shards[0].FrameLen()))
	b.ReportAllocs()
	for b.Loop() {
		buf = shards[0].AppendFrame(buf[:0])
	}
}
