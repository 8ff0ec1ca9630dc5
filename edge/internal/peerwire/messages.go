package peerwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/origin"
)

// Peer endpoints, on the peer listener only.
const (
	ShardsPath = "/peer/v1/shards" // GET ?key=K: the frames held; PUT: store one frame
	FillPath   = "/peer/v1/fill"   // POST FillRequest: the leader fills a chunk once for all
	MetaPath   = "/peer/v1/meta"   // GET ?path=P: an object's metadata from its leader
	PingPath   = "/peer/v1/ping"   // GET: 204 from a live peer
	PurgePath  = "/peer/v1/purge"  // POST PurgeMessage: drop an object; answers PurgeAnswer
)

// Response headers of a fill.
const (
	HdrFillSource = "X-Edgecache-Source" // "origin" or "cache": where the leader got the chunk
	HdrFillSum    = "X-Edgecache-Chunk-Sum"
	HdrUpstream   = "X-Edgecache-Upstream" // set when the leader's origin failed: status is the origin's
)

// ErrBadMessage is a peer message that does not decode: a member never
// sends one.
var ErrBadMessage = errors.New("malformed peer message")

// FillRequest asks a chunk's leader to bring the chunk into the cluster.
// It carries the object's metadata, so the leader needs no lookup of its
// own and fetches exactly the version the asker serves.
type FillRequest struct {
	Key  string      `json:"key"` // chunk.Key.String()
	Meta origin.Meta `json:"meta"`
}

// MarshalJSON writes the request with the exact bytes of its key (which
// holds the ETag and the query) and of its metadata (see metaRaw).
func (r FillRequest) MarshalJSON() ([]byte, error) {
	type plain FillRequest // without these methods
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
func (r *FillRequest) UnmarshalJSON(b []byte) error {
	type plain FillRequest
	var w struct {
		plain
		KeyRaw  []byte            `json:"key_raw"`
		MetaRaw map[string][]byte `json:"meta_raw"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = FillRequest(w.plain)
	if w.KeyRaw != nil {
		r.Key = string(w.KeyRaw)
	}
	restoreMetaRaw(&r.Meta, w.MetaRaw)
	return nil
}

// EncodeFillRequest is the body of a fill request for chunk key of the
// object version meta describes.
func EncodeFillRequest(key chunk.Key, meta origin.Meta) ([]byte, error) {
	return json.Marshal(FillRequest{Key: key.String(), Meta: meta})
}

// DecodeFillRequest reads a fill request and checks that its metadata
// names the version its key does.
func DecodeFillRequest(b []byte) (chunk.Key, origin.Meta, error) {
	var r FillRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return chunk.Key{}, origin.Meta{}, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	key, err := chunk.ParseKey(r.Key)
	if err != nil {
		return chunk.Key{}, origin.Meta{}, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if r.Meta.Size < 0 || chunk.Version(r.Meta.ETag, r.Meta.LastModified, r.Meta.Size) != key.Version {
		return chunk.Key{}, origin.Meta{}, fmt.Errorf("%w: metadata does not match the key's version", ErrBadMessage)
	}
	return key, r.Meta, nil
}

// MetaResponse is an object leader's answer about an object.
type MetaResponse struct {
	Found   bool        `json:"found"`
	Meta    origin.Meta `json:"meta"`
	Fetched int64       `json:"fetched_unix_nano"` // when the origin last vouched for it
}

// MarshalJSON writes the answer with its metadata's exact bytes (see
// metaRaw).
func (r MetaResponse) MarshalJSON() ([]byte, error) {
	type plain MetaResponse
	return json.Marshal(struct {
		plain
		MetaRaw map[string][]byte `json:"meta_raw,omitempty"`
	}{plain(r), metaRaw(r.Meta)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *MetaResponse) UnmarshalJSON(b []byte) error {
	type plain MetaResponse
	var w struct {
		plain
		MetaRaw map[string][]byte `json:"meta_raw"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = MetaResponse(w.plain)
	restoreMetaRaw(&r.Meta, w.MetaRaw)
	return nil
}

// DecodeMetaResponse reads a metadata answer; a found object has a size.
func DecodeMetaResponse(b []byte) (MetaResponse, error) {
	var r MetaResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if r.Found && r.Meta.Size < 0 {
		return r, fmt.Errorf("%w: negative size", ErrBadMessage)
	}
	return r, nil
}

// FetchedAt is when the origin last vouched for the object.
func (r MetaResponse) FetchedAt() time.Time { return time.Unix(0, r.Fetched) }

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

// PurgeMessage is the peer message of a purge: drop every version of the
// object Key.
type PurgeMessage struct {
	Key string `json:"key"`
}

// PurgeAnswer is what a member dropped for a purge.
type PurgeAnswer struct {
	Metadata bool `json:"metadata"` // it held the object's metadata
	Entries  int  `json:"entries"`  // whole chunks and shard frames dropped
}
