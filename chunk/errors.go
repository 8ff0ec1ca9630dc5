package chunk

import "errors"

// Sentinel errors, for callers to branch on with errors.Is. Returned errors
// wrap them with the detail (which field, which counts).
var (
	// ErrTooFewShards means fewer than k distinct usable shards were given:
	// the reader should ask more owners, or fall back to a fill.
	ErrTooFewShards = errors.New("chunk: too few shards")

	// ErrCorrupt means a checksum failed: of a frame's header or shard bytes
	// (DecodeFrame), or of a rebuilt chunk (Reconstruct, Rebuild). The shard
	// should be treated as missing and repaired; the chunk is never served.
	ErrCorrupt = errors.New("chunk: checksum mismatch")

	// ErrBadFrame means bytes that are not a well-formed frame (wrong magic
	// or format version, fields out of range, lengths that do not add up).
	ErrBadFrame = errors.New("chunk: malformed frame")

	// ErrMismatch means shards that cannot belong to one encoding of one
	// chunk: they disagree with each other or with the codec on key, k, m,
	// chunk length or chunk checksum, or a shard has the wrong length.
	ErrMismatch = errors.New("chunk: shards do not match")

	// ErrBadKey means a key that is not the encoding of a valid Key, or a Key
	// that cannot name a cached chunk (empty Version, negative Index, or an
	// encoding too long for a frame).
	ErrBadKey = errors.New("chunk: bad key")

	// ErrInvalidShardCount means a k+m that the codec or the frame format
	// cannot represent.
	ErrInvalidShardCount = errors.New("chunk: invalid shard count")
)
