package edge

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/origin"
)

// The peer protocol's messages. Shards travel in their own checksummed
// frames; the rest is small JSON. Every decoder here takes bytes from a
// peer and must never panic or trust a length it has not checked.

// Peer endpoints, on the peer listener only.
const (
	peerShardsPath = "/peer/v1/shards" // GET ?key=K: the frames held; PUT: store one frame
	peerFillPath   = "/peer/v1/fill"   // POST fillRequest: the leader fills a chunk once for all
	peerMetaPath   = "/peer/v1/meta"   // GET ?path=P: an object's metadata from its leader
	peerPingPath   = "/peer/v1/ping"   // GET: 204 from a live peer
)

// Response headers of a fill.
const (
	hdrFillSource = "X-Edgecache-Source" // "origin" or "cache": where the leader got the chunk
	hdrFillSum    = "X-Edgecache-Chunk-Sum"
	hdrUpstream   = "X-Edgecache-Upstream" // set when the leader's origin failed: status is the origin's
)

var errBadMessage = errors.New("malformed peer message")

// writeShardListItem writes one frame of a shard list: a 4-byte big-endian
// length, then the frame.
func writeShardListItem(w io.Writer, frame []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(frame)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(frame)
	return err
}

// shardPlacer says where the shard bytes of a streamed shard list go, so
// that a reader can put each shard where it is needed (a data shard at its
// place in the chunk) instead of buffering the list and copying.
type shardPlacer interface {
	// place returns the buffer, sl bytes long, to read the bytes of s
	// into; nil to skip them, or an error to stop reading the list.
	place(s chunk.Shard, sl int) ([]byte, error)
	// placed hands back s with its Bytes in the buffer place gave,
	// filled if ok, else not (the read failed half way).
	placed(s chunk.Shard, ok bool)
}

// readShardList reads a shard list (writeShardListItem's items) from r
// frame by frame: each header into a small buffer of its own and each
// shard's bytes wherever p places them, so a list is never buffered whole.
// Frames that are malformed or fail their header checksum are counted in
// bad and skipped: a corrupt shard is a missing shard. The shard bytes
// are not checked (chunk.ParseFrame says why). The list itself must be
// well formed and hold at most maxFrames items; r bounds its length.
func readShardList(r io.Reader, maxFrames int, p shardPlacer) (bad int, err error) {
	var prefix [4]byte
	hdr := make([]byte, 0, 256)
	for items := 0; ; items++ {
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			if err == io.EOF {
				return bad, nil
			}
			return bad, fmt.Errorf("%w: reading an item's length: %w", errBadMessage, err)
		}
		if items == maxFrames {
			return bad, fmt.Errorf("%w: more than %d frames", errBadMessage, maxFrames)
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
		buf, err := p.place(s, sl)
		if err != nil {
			return bad, err
		}
		if buf == nil {
			if err := skip(r, int64(sl)); err != nil {
				return bad, err
			}
			continue
		}
		s.Bytes = buf
		if _, err := io.ReadFull(r, buf); err != nil {
			p.placed(s, false)
			return bad, fmt.Errorf("%w: reading shard %d: %w", errBadMessage, s.Index, unexpected(err))
		}
		p.placed(s, true)
	}
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
		return s, 0, 0, fmt.Errorf("%w: reading a frame header: %w", errBadMessage, unexpected(err))
	}
	whole, err := chunk.FrameHeaderLen(*hdr)
	if err != nil || int64(whole) > n {
		return s, 0, chunk.FramePrefixLen, fmt.Errorf("%w: header of %d bytes in a frame of %d (%v)", chunk.ErrBadFrame, whole, n, err)
	}
	*hdr = append(*hdr, make([]byte, whole-chunk.FramePrefixLen)...)
	if _, err := io.ReadFull(r, (*hdr)[chunk.FramePrefixLen:]); err != nil {
		return s, 0, 0, fmt.Errorf("%w: reading a frame header: %w", errBadMessage, unexpected(err))
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
		return fmt.Errorf("%w: skipping a frame: %w", errBadMessage, unexpected(err))
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

// fillRequest asks a chunk's leader to bring the chunk into the cluster.
// It carries the object's metadata, so the leader needs no lookup of its
// own and fetches exactly the version the asker serves.
type fillRequest struct {
	Key  string      `json:"key"` // chunk.Key.String()
	Meta origin.Meta `json:"meta"`
}

// MarshalJSON writes the request with the exact bytes of its key (which
// holds the ETag and the query) and of its metadata (see metaRaw).
func (r fillRequest) MarshalJSON() ([]byte, error) {
	type plain fillRequest // without these methods
	var keyRaw []byte
	if !utf8.ValidString(r.Key) {
		keyRaw = []byte(r.Key)
	}
	return json.Marshal(struct {
		plain
		KeyRaw  []byte            `json:"key_raw,omitempty"`
		MetaRaw map[string][]byte `json:"meta_raw,omitempty"`
	}{plain(r), keyRaw, metaRaw(r.Meta)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *fillRequest) UnmarshalJSON(b []byte) error {
	type plain fillRequest
	var w struct {
		plain
		KeyRaw  []byte            `json:"key_raw"`
		MetaRaw map[string][]byte `json:"meta_raw"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = fillRequest(w.plain)
	if w.KeyRaw != nil {
		r.Key = string(w.KeyRaw)
	}
	restoreMetaRaw(&r.Meta, w.MetaRaw)
	return nil
}

func decodeFillRequest(b []byte) (chunk.Key, origin.Meta, error) {
	var r fillRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return chunk.Key{}, origin.Meta{}, fmt.Errorf("%w: %v", errBadMessage, err)
	}
	key, err := chunk.ParseKey(r.Key)
	if err != nil {
		return chunk.Key{}, origin.Meta{}, fmt.Errorf("%w: %v", errBadMessage, err)
	}
	if r.Meta.Size < 0 || chunk.Version(r.Meta.ETag, r.Meta.LastModified, r.Meta.Size) != key.Version {
		return chunk.Key{}, origin.Meta{}, fmt.Errorf("%w: metadata does not match the key's version", errBadMessage)
	}
	return key, r.Meta, nil
}

// metaResponse is an object leader's answer about an object.
type metaResponse struct {
	Found   bool        `json:"found"`
	Meta    origin.Meta `json:"meta"`
	Fetched int64       `json:"fetched_unix_nano"` // when the origin last vouched for it
}

// MarshalJSON writes the answer with its metadata's exact bytes (see
// metaRaw).
func (r metaResponse) MarshalJSON() ([]byte, error) {
	type plain metaResponse
	return json.Marshal(struct {
		plain
		MetaRaw map[string][]byte `json:"meta_raw,omitempty"`
	}{plain(r), metaRaw(r.Meta)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *metaResponse) UnmarshalJSON(b []byte) error {
	type plain metaResponse
	var w struct {
		plain
		MetaRaw map[string][]byte `json:"meta_raw"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = metaResponse(w.plain)
	restoreMetaRaw(&r.Meta, w.MetaRaw)
	return nil
}

// metaStrings names the header values of m that peers exchange.
func metaStrings(m *origin.Meta) map[string]*string {
	return map[string]*string{
		"ETag": &m.ETag, "ContentType": &m.ContentType, "CacheControl": &m.CacheControl,
		"Expires": &m.Expires, "ContentDisposition": &m.ContentDisposition,
	}
}

// metaRaw returns the header values of m that JSON cannot carry: a header
// value may hold obs-text bytes (RFC 9110 §5.5) that are not UTF-8, and
// encoding/json replaces those with U+FFFD. An ETag changed that way named
// another version, so that every read of such an object through a peer
// failed as "changed" (502) and members marked each other suspect. These
// values travel again, exactly, as base64 in "meta_raw", which peers of
// earlier versions ignore. Nil when every value is UTF-8, as nearly all
// are.
func metaRaw(m origin.Meta) map[string][]byte {
	var raw map[string][]byte
	for name, p := range metaStrings(&m) {
		if !utf8.ValidString(*p) {
			if raw == nil {
				raw = map[string][]byte{}
			}
			raw[name] = []byte(*p)
		}
	}
	return raw
}

// restoreMetaRaw puts the exact values of raw back into m; unknown names
// are ignored.
func restoreMetaRaw(m *origin.Meta, raw map[string][]byte) {
	if len(raw) == 0 {
		return
	}
	fields := metaStrings(m)
	for name, v := range raw {
		if p, ok := fields[name]; ok {
			*p = string(v)
		}
	}
}

func decodeMetaResponse(b []byte) (metaResponse, error) {
	var r metaResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: %v", errBadMessage, err)
	}
	if r.Found && r.Meta.Size < 0 {
		return r, fmt.Errorf("%w: negative size", errBadMessage)
	}
	return r, nil
}

func (r metaResponse) fetched() time.Time { return time.Unix(0, r.Fetched) }
