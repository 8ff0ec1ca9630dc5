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

// decodeShardList splits a shard list into its frames and parses them
// (chunk.ParseFrame: the shard bytes are checked later, by the checksum of
// the chunk they rebuild). Frames that are malformed or fail their header
// checksum are counted in bad and skipped: a corrupt shard is a missing
// shard. The list itself must be well formed. Returned shards alias b.
func decodeShardList(b []byte) (shards []chunk.Shard, bad int, err error) {
	for len(b) > 0 {
		if len(b) < 4 {
			return shards, bad, fmt.Errorf("%w: truncated shard list", errBadMessage)
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return shards, bad, fmt.Errorf("%w: frame of %d bytes in %d", errBadMessage, n, len(b))
		}
		s, ferr := chunk.ParseFrame(b[:n])
		b = b[n:]
		if ferr != nil {
			bad++
			continue
		}
		shards = append(shards, s)
	}
	return shards, bad, nil
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
