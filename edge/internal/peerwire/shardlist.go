package peerwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/edgecache/edgecache/chunk"
)

// A shard list is the body of a shard read: items of a 4-byte big-endian
// length and a shard frame (chunk/frame.go), one per shard the member
// holds.

// WriteShardListItem writes one frame of a shard list.
func WriteShardListItem(w io.Writer, frame []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(frame)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(frame)
	return err
}

// Placer says where the shard bytes of a streamed shard list go, so that a
// reader can put each shard where it is needed (a data shard at its place
// in the chunk) instead of buffering the list and copying.
type Placer interface {
	// Place returns the buffer, sl bytes long, to read the bytes of s
	// into; nil to skip them, or an error to stop reading the list.
	Place(s chunk.Shard, sl int) ([]byte, error)
	// Placed hands back s with its Bytes in the buffer Place gave,
	// filled if ok, else not (the read failed half way).
	Placed(s chunk.Shard, ok bool)
}

// ReadShardList reads a shard list from r frame by frame: each header into
// a small buffer of its own and each shard's bytes wherever p places them,
// so a list is never buffered whole. Frames that are malformed or fail
// their header checksum are counted in bad and skipped: a corrupt shard is
// a missing shard. The shard bytes are not checked (chunk.ParseFrame says
// why). The list itself must be well formed and hold at most maxFrames
// items; r bounds its length. An error of p's is returned as it is.
func ReadShardList(r io.Reader, maxFrames int, p Placer) (bad int, err error) {
	var prefix [4]byte
	hdr := make([]byte, 0, 256)
	for items := 0; ; items++ {
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			if err == io.EOF {
				return bad, nil
			}
			return bad, fmt.Errorf("%w: reading an item's length: %w", ErrBadMessage, err)
		}
		if items == maxFrames {
			return bad, fmt.Errorf("%w: more than %d frames", ErrBadMessage, maxFrames)
		}
		n := int64(binary.BigEndian.Uint32(prefix[:]))
		s, sl, hl, ferr := readFrameHeader(r, n, &hdr)
		if ferr != nil {
			if !errors.Is(ferr, chunk.ErrBadFrame) && !errors.Is(ferr, chunk.ErrCorrupt) {
				return bad, ferr // the stream broke
			}
			bad++
			if err := skip(r, n-hl); err != nil {
				return bad, err
			}
			continue
		}
		if err := readShard(r, s, sl, p); err != nil {
			return bad, err
		}
	}
}

// readShard reads the bytes of shard s, sl long, where p places them.
func readShard(r io.Reader, s chunk.Shard, sl int, p Placer) error {
	buf, err := p.Place(s, sl)
	if err != nil {
		return err
	}
	if buf == nil {
		return skip(r, int64(sl))
	}
	s.Bytes = buf
	if _, err := io.ReadFull(r, buf); err != nil {
		p.Placed(s, false)
		return fmt.Errorf("%w: reading shard %d: %w", ErrBadMessage, s.Index, unexpected(err))
	}
	p.Placed(s, true)
	return nil
}

// readFrameHeader reads the header of a frame of n bytes into *hdr and
// parses it; hl is how much of the frame it read, also on a frame error
// (chunk.ErrBadFrame or ErrCorrupt: the caller skips the rest). Any other
// error means the stream broke.
func readFrameHeader(r io.Reader, n int64, hdr *[]byte) (s chunk.Shard, sl int, hl int64, err error) {
	if n < chunk.FramePrefixLen {
		return s, 0, 0, fmt.Errorf("%w: frame of %d bytes", chunk.ErrBadFrame, n)
	}
	*hdr = append((*hdr)[:0], make([]byte, chunk.FramePrefixLen)...)
	if _, err := io.ReadFull(r, *hdr); err != nil {
		return s, 0, 0, fmt.Errorf("%w: reading a frame header: %w", ErrBadMessage, unexpected(err))
	}
	whole, err := chunk.FrameHeaderLen(*hdr)
	if err != nil || int64(whole) > n {
		return s, 0, chunk.FramePrefixLen, fmt.Errorf("%w: header of %d bytes in a frame of %d (%v)", chunk.ErrBadFrame, whole, n, err)
	}
	*hdr = append(*hdr, make([]byte, whole-chunk.FramePrefixLen)...)
	if _, err := io.ReadFull(r, (*hdr)[chunk.FramePrefixLen:]); err != nil {
		return s, 0, 0, fmt.Errorf("%w: reading a frame header: %w", ErrBadMessage, unexpected(err))
	}
	s, sl, err = chunk.ParseFrameHeader(*hdr)
	if err == nil && int64(whole+sl) != n {
		err = fmt.Errorf("%w: frame of %d bytes, its header says %d", chunk.ErrBadFrame, n, whole+sl)
	}
	return s, sl, int64(whole), err
}

// skip reads and drops n bytes of r.
func skip(r io.Reader, n int64) error {
	if _, err := io.CopyN(io.Discard, r, n); err != nil {
		return fmt.Errorf("%w: skipping a frame: %w", ErrBadMessage, unexpected(err))
	}
	return nil
}

// unexpected turns the io.EOF of a list that ends inside an item into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ShardList is the body of a shard read as a member sends it: the frames
// are written from the store's memory straight to the connection (fasthttp
// prefers WriteTo), not copied into a response buffer first: that copy was
// a third of a serving peer's CPU. Frames are immutable once stored, so
// they may be written after the store has evicted them.
type ShardList struct {
	frames [][]byte
	size   int
	// Read's position: the item, and the offset in its length prefix and
	// frame.
	item, off int
}

// NewShardList returns the list of frames.
func NewShardList(frames [][]byte) *ShardList {
	l := &ShardList{frames: frames}
	for _, f := range frames {
		l.size += 4 + len(f)
	}
	return l
}

// Size is the list's length in bytes.
func (l *ShardList) Size() int { return l.size }

// WriteTo writes every frame as a shard-list item.
func (l *ShardList) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, f := range l.frames[l.item:] {
		if err := WriteShardListItem(w, f); err != nil {
			return total, err
		}
		total += int64(4 + len(f))
	}
	l.item = len(l.frames)
	return total, nil
}

// Read is io.Reader's, for a writer that does not take WriteTo.
func (l *ShardList) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && l.item < len(l.frames) {
		f := l.frames[l.item]
		if l.off < 4 {
			var prefix [4]byte
			binary.BigEndian.PutUint32(prefix[:], uint32(len(f)))
			c := copy(p[n:], prefix[l.off:])
			n, l.off = n+c, l.off+c
			continue
		}
		c := copy(p[n:], f[l.off-4:])
		n, l.off = n+c, l.off+c
		if l.off == 4+len(f) {
			l.item, l.off = l.item+1, 0
		}
	}
	if n == 0 && l.item == len(l.frames) {
		return 0, io.EOF
	}
	return n, nil
}

// ProgressReader reads from R and reports to To how many bytes each read
// gave, so that a shard list's reader can tell a member that answers
// slowly from one that has stalled.
type ProgressReader struct {
	R  io.Reader
	To interface{ Progress(n int) }
}

// Read is io.Reader's.
func (p ProgressReader) Read(b []byte) (int, error) {
	n, err := p.R.Read(b)
	p.To.Progress(n)
	return n, err
}
