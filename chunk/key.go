package chunk

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Key names one chunk of one version of one object. Because the version is
// part of the name, a changed object at the origin gets new keys and can
// never mix its bytes with the old version's.
type Key struct {
	Object  string // the object's path (and query) at the origin
	Version string // from Version; never empty for a cacheable object
	Index   int64  // chunk index: the chunk holds bytes [Index*chunkSize, ...)
}

// maxKeyLen is the longest Key.String a frame can carry (its length field is
// a uint16). Encode refuses longer keys, so every shard can be framed.
const maxKeyLen = 1<<16 - 1

// hashBufLen bounds the stack buffer Hash encodes a key into before hashing
// it in one shot, which measured ~40 ns against ~64 ns for streaming the
// fields through an xxhash.Digest (a 70-byte key). Longer keys (rare: URLs
// are usually far shorter) are streamed.
const hashBufLen = 256

// String returns the canonical encoding of k: two netstrings and a decimal,
//
//	<len(Object)>:<Object>,<len(Version)>:<Version>,<Index>
//
// for example `10:/v/a.mp4?q,7:e:"abc",3`. The length prefixes make it
// unambiguous whatever bytes Object and Version hold, so it is safe to use as
// a wire name and as the input of the placement hash.
func (k Key) String() string {
	return string(k.appendTo(make([]byte, 0, k.encodedLen())))
}

// Hash returns the xxhash64 of k.String, the value the ring places the chunk
// by. It does not allocate: the hit path hashes every request's keys.
func (k Key) Hash() uint64 {
	var buf [hashBufLen]byte
	if k.encodedLen() <= len(buf) {
		return xxhash.Sum64(k.appendTo(buf[:0]))
	}
	var num [20]byte // the longest int64 in decimal
	var d xxhash.Digest
	d.Reset()
	d.Write(strconv.AppendInt(num[:0], int64(len(k.Object)), 10))
	d.WriteString(":")
	d.WriteString(k.Object)
	d.WriteString(",")
	d.Write(strconv.AppendInt(num[:0], int64(len(k.Version)), 10))
	d.WriteString(":")
	d.WriteString(k.Version)
	d.WriteString(",")
	d.Write(strconv.AppendInt(num[:0], k.Index, 10))
	return d.Sum64()
}

// appendTo appends k.String to dst without building the string, so that
// frames and hashes can encode keys without allocating.
func (k Key) appendTo(dst []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(k.Object)), 10)
	dst = append(dst, ':')
	dst = append(dst, k.Object...)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(len(k.Version)), 10)
	dst = append(dst, ':')
	dst = append(dst, k.Version...)
	dst = append(dst, ',')
	return strconv.AppendInt(dst, k.Index, 10)
}

// encodedLen returns len(k.String()) without building it.
func (k Key) encodedLen() int {
	return decimalLen(int64(len(k.Object))) + 1 + len(k.Object) + 1 +
		decimalLen(int64(len(k.Version))) + 1 + len(k.Version) + 1 +
		decimalLen(k.Index)
}

// validate reports why k cannot name a cached chunk: only keys that pass
// are encoded into shards, and only their encodings are accepted back by
// ParseKey, so String and ParseKey are exact inverses on the wire.
func (k Key) validate() error {
	switch {
	case k.Version == "":
		return fmt.Errorf("%w: empty version", ErrBadKey)
	case k.Index < 0:
		return fmt.Errorf("%w: negative index %d", ErrBadKey, k.Index)
	}
	return nil
}

// ParseKey is the inverse of Key.String. It accepts exactly the encodings of
// valid keys (non-empty Version, Index >= 0) and rejects everything else with
// ErrBadKey, so a name received from a peer either round-trips or is refused.
func ParseKey(s string) (Key, error) {
	rest := s
	object, rest, ok := cutNetstring(rest)
	if !ok {
		return Key{}, fmt.Errorf("%w: bad object field in %q", ErrBadKey, s)
	}
	version, rest, ok := cutNetstring(rest)
	if !ok {
		return Key{}, fmt.Errorf("%w: bad version field in %q", ErrBadKey, s)
	}
	index, ok := parseDecimal(rest)
	if !ok {
		return Key{}, fmt.Errorf("%w: bad index in %q", ErrBadKey, s)
	}
	k := Key{Object: object, Version: version, Index: index}
	if err := k.validate(); err != nil {
		return Key{}, err
	}
	return k, nil
}

// cutNetstring splits "<n>:<n bytes>," off the front of s.
func cutNetstring(s string) (field, rest string, ok bool) {
	digits, rest, found := strings.Cut(s, ":")
	if !found {
		return "", "", false
	}
	n, ok := parseDecimal(digits)
	if !ok || n > int64(len(rest)) || int(n) == len(rest) || rest[n] != ',' {
		return "", "", false
	}
	return rest[:n], rest[n+1:], true
}

// parseDecimal parses the canonical decimal form strconv.AppendInt writes
// for a non-negative int64: digits only, no sign, no leading zeros.
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 19 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// decimalLen returns the number of bytes strconv.AppendInt writes for n.
func decimalLen(n int64) int {
	l := 1
	if n < 0 {
		l++ // the sign; n/10 below truncates toward zero, so this stays exact
	}
	for n <= -10 || n >= 10 {
		n /= 10
		l++
	}
	return l
}

// Version derives the version part of a chunk key from an object's
// validators, so that chunks of different contents never share a key.
//
// A strong ETag (e.g. `"abc"`) gives "e:" + etag. Weak ETags (W/"...", and
// the non-standard lower-case w/"...") are ignored: a weak match promises
// only semantic equivalence, not the identical bytes a byte range needs.
// An ETag is taken verbatim, quoted or not, since an origin that sends an
// unquoted tag still changes it when the content changes.
//
// Without a strong ETag, a non-zero Last-Modified gives
// "m:<unix seconds>:<size>"; the size is included because Last-Modified has
// one-second resolution and an object rewritten within that second usually
// changes size too. A negative (unknown) size disqualifies Last-Modified.
//
// Otherwise Version returns "": the object cannot be chunk-cached safely,
// since nothing would tell an old chunk from a new one.
func Version(etag string, lastModified time.Time, size int64) string {
	if etag != "" && !strings.HasPrefix(etag, "W/") && !strings.HasPrefix(etag, "w/") {
		return "e:" + etag
	}
	if lastModified.IsZero() || size < 0 {
		return ""
	}
	return "m:" + strconv.FormatInt(lastModified.Unix(), 10) + ":" + strconv.FormatInt(size, 10)
}
