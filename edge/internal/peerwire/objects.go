package peerwire

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// The messages about objects carry every value that came from a client or
// the origin (keys, field names and values, validators) as bytes, which
// JSON sends as base64: a field value may hold obs-text (RFC 9110 §5.5),
// which is not UTF-8, and encoding/json would replace it with U+FFFD, so
// that an ETag changed that way named another version.

// Limits on what a decoder accepts; a member never sends more.
const (
	MaxFields     = 256      // fields in one message
	MaxFieldBytes = 64 << 10 // bytes of all the fields of one message
)

// Field is one header field line.
type Field [2][]byte

// Object is a stored response as its leader describes it (the engine's
// Object): enough to answer from it and read its body on any member.
type Object struct {
	Key          []byte   `json:"key"`
	Variant      uint64   `json:"variant,omitempty"`
	Status       int      `json:"status"`
	Header       []Field  `json:"header"`
	Size         int64    `json:"size"`
	ETag         []byte   `json:"etag,omitempty"`
	LastModified int64    `json:"last_modified,omitempty"` // Unix seconds; 0: none
	Version      []byte   `json:"version"`
	Fetch        []Field  `json:"fetch,omitempty"`
	Vary         []string `json:"vary,omitempty"`
	// Freshness, in nanoseconds.
	Lifetime             int64 `json:"lifetime"`
	StaleWhileRevalidate int64 `json:"swr,omitempty"`
	StaleIfError         int64 `json:"sie,omitempty"`
	NoCache              bool  `json:"no_cache,omitempty"`
	MustRevalidate       bool  `json:"must_revalidate,omitempty"`
	Ranges               bool  `json:"ranges,omitempty"`
	Piecewise            bool  `json:"piecewise,omitempty"`
	Shareable            bool  `json:"shareable,omitempty"`
	Pass                 bool  `json:"pass,omitempty"`
}

// check refuses an object no member would describe.
func (o *Object) check() error {
	switch {
	case len(o.Key) == 0 || o.Key[0] != '/':
		return fmt.Errorf("%w: object key %q", ErrBadMessage, o.Key)
	case o.Size < 0 || o.Lifetime < 0:
		return fmt.Errorf("%w: negative size or lifetime", ErrBadMessage)
	case !o.Pass && (o.Status < 100 || o.Status > 999 || len(o.Version) == 0):
		return fmt.Errorf("%w: status %d, version %q", ErrBadMessage, o.Status, o.Version)
	}
	return checkFields(o.Header, o.Fetch)
}

func checkFields(lists ...[]Field) error {
	n, size := 0, 0
	for _, l := range lists {
		for _, f := range l {
			n++
			size += len(f[0]) + len(f[1])
		}
	}
	if n > MaxFields || size > MaxFieldBytes {
		return fmt.Errorf("%w: %d fields of %d bytes", ErrBadMessage, n, size)
	}
	return nil
}

// Client is what the origin is told of the client a request comes from.
type Client struct {
	IP    string `json:"ip,omitempty"`
	Host  []byte `json:"host,omitempty"`
	Proto string `json:"proto,omitempty"`
}

// MetaRequest asks an object's leader what answers a client's request:
// the key and the request's fields, which the leader uses as the asker
// would (Vary, directives, credentials, the origin request).
type MetaRequest struct {
	Key    []byte  `json:"key"`
	Header []Field `json:"header"`
	Client Client  `json:"client"`
}

// DecodeMetaRequest reads a metadata request.
func DecodeMetaRequest(b []byte) (MetaRequest, error) {
	var r MetaRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if len(r.Key) == 0 || r.Key[0] != '/' {
		return r, fmt.Errorf("%w: key %q", ErrBadMessage, r.Key)
	}
	return r, checkFields(r.Header)
}

// Answer is an origin answer for the asker's request alone; its body
// follows the message (see EncodeMetaAnswer).
type Answer struct {
	Status int     `json:"status"`
	Header []Field `json:"header"`
	Size   int64   `json:"size"` // the whole body's; more than the bytes that follow when they are its first window
}

// MetaAnswer is an object leader's answer to a MetaRequest. Its body is a
// 4-byte big-endian length, the JSON message, then the raw bytes that
// Raw names: the object's first chunk ("head") or the answer's body
// ("answer"); none for "".
type MetaAnswer struct {
	Object  *Object `json:"object,omitempty"`
	Age     int64   `json:"age,omitempty"` // nanoseconds
	Answer  *Answer `json:"answer,omitempty"`
	Pass    bool    `json:"pass,omitempty"`
	Fetched bool    `json:"fetched,omitempty"`
	// Revalidated: the origin answered 304; the body is the stored one.
	Revalidated bool   `json:"revalidated,omitempty"`
	Raw         string `json:"raw,omitempty"`
}

// EncodeMetaAnswer lays out a metadata answer and its raw bytes.
func EncodeMetaAnswer(a MetaAnswer, raw []byte) ([]byte, error) {
	j, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4, 4+len(j)+len(raw))
	binary.BigEndian.PutUint32(out, uint32(len(j)))
	return append(append(out, j...), raw...), nil
}

// DecodeMetaAnswer reads what EncodeMetaAnswer wrote; raw aliases b.
func DecodeMetaAnswer(b []byte) (a MetaAnswer, raw []byte, err error) {
	if len(b) < 4 || int(binary.BigEndian.Uint32(b)) > len(b)-4 {
		return a, nil, fmt.Errorf("%w: a metadata answer of %d bytes", ErrBadMessage, len(b))
	}
	n := int(binary.BigEndian.Uint32(b))
	if err := json.Unmarshal(b[4:4+n], &a); err != nil {
		return a, nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	raw = b[4+n:]
	switch {
	case a.Object != nil:
		if err := a.Object.check(); err != nil {
			return a, nil, err
		}
	case a.Answer != nil:
		if err := checkFields(a.Answer.Header); err != nil {
			return a, nil, err
		}
	}
	if a.Raw != "" && a.Raw != "head" && a.Raw != "answer" {
		return a, nil, fmt.Errorf("%w: raw bytes named %q", ErrBadMessage, a.Raw)
	}
	return a, raw, nil
}

// FillRequest asks a chunk's leader to bring the chunk into the cluster.
// It carries the object, so the leader needs no lookup of its own and
// reads exactly the version the asker serves.
type FillRequest struct {
	Key    []byte `json:"key"` // chunk.Key.String()
	Object Object `json:"object"`
}

// DecodeFillRequest reads a fill request.
func DecodeFillRequest(b []byte) (FillRequest, error) {
	var r FillRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return r, r.Object.check()
}

// ObjectPush gives a member a copy of an object its leader stored.
type ObjectPush struct {
	Object Object `json:"object"`
	Age    int64  `json:"age"` // nanoseconds
}

// DecodeObjectPush reads an object push.
func DecodeObjectPush(b []byte) (ObjectPush, error) {
	var p ObjectPush
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if p.Age < 0 {
		return p, fmt.Errorf("%w: a negative age", ErrBadMessage)
	}
	return p, p.Object.check()
}
