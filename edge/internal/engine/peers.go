package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/origin"
)

// Origin is what the engine needs of an origin; *origin.Client is one.
type Origin interface {
	// First asks for the object at path with one request carrying header
	// and a Range for its first window bytes (revalidating old when it is
	// not nil), and returns the answer whatever its status.
	First(ctx context.Context, path string, header http.Header, window int64, old *origin.Meta) (*origin.First, error)
	// ReadRange reads len(dst) bytes at off of the version m describes.
	ReadRange(ctx context.Context, path string, m origin.Meta, header http.Header, off int64, dst []byte) error
	// Stream opens the version m describes from off to its end.
	Stream(ctx context.Context, path string, m origin.Meta, header http.Header, off int64) (io.ReadCloser, error)
}

// Peers is what the engine needs of the other members of its cluster,
// each named by its address on the ring. Every method is bounded in time
// by the implementation (a shard read or push by the peer timeout, a fill
// or a metadata lookup by the fill timeout, a ping by its own). A failure
// of the member itself is a *PeerError; a leader's report that the origin
// failed is an *UpstreamError. enginetest.TestPeers is the contract both
// the in-memory fake and the network client pass.
type Peers interface {
	// Shards streams every shard of key that member addr holds into sink,
	// at most maxFrames of shardLen bytes each, as they arrive. bad counts
	// frames that failed their header checks (skipped: a corrupt shard is
	// a missing shard). A member holding none answers with no shards and
	// no error. An error the sink returns (ErrEnough) ends the read and is
	// returned as it is.
	Shards(addr string, key chunk.Key, maxFrames, shardLen int, sink ShardSink) (bad int, err error)
	// PushShard stores one shard frame on member addr.
	PushShard(addr string, frame []byte) error
	// PushObject gives member addr, an owner of o's key after its leader,
	// a copy of o, age as the leader sees it, so that it can answer for
	// the key when the leader is lost.
	PushObject(addr string, o *Object, age time.Duration) error
	// Fill asks member addr, the chunk's leader, for the chunkLen bytes of
	// chunk key of object o: from its memory (SourcePeer) or from the
	// origin, which it asks once for the whole cluster (SourceOrigin).
	Fill(addr string, key chunk.Key, o *Object, chunkLen int) ([]byte, Source, error)
	// Meta asks member addr, the object's leader, what answers req.
	Meta(addr string, req *Request) (MetaAnswer, error)
	// Ping checks that member addr answers at all.
	Ping(addr string) error
}

// ShardSink receives the shards of one member's answer as they arrive.
type ShardSink interface {
	// Place returns the buffer, shardLen bytes long, to read the bytes of
	// s into; nil to skip them, or an error to stop reading.
	Place(s chunk.Shard, shardLen int) ([]byte, error)
	// Placed hands back s with its Bytes in the buffer Place gave,
	// filled if ok, else not (the answer broke half way).
	Placed(s chunk.Shard, ok bool)
	// Progress counts n more bytes of the answer read (1 for its header),
	// so that the reader can tell a slow member from a stalled one.
	Progress(n int)
}

// MetaAnswer is an object leader's answer to a lookup (Engine.MetaFor).
type MetaAnswer struct {
	// Object is the stored object that answers the request, or the key's
	// Pass marker; nil with Answer, or with Pass alone.
	Object *Object
	// Age is Object's age at the leader when it answered.
	Age time.Duration
	// Head is Object's first chunk, when the leader held it.
	Head []byte
	// Answer is a whole origin answer for the asker's request alone.
	Answer *Answer
	// Pass: the asker relays its request to the origin.
	Pass bool
	// Fetched: the leader asked the origin for this answer.
	Fetched bool
	// Revalidated: the origin answered 304; the body is the stored one.
	Revalidated bool
}

// ErrEnough is what a ShardSink returns once the rebuild it feeds no
// longer needs shards: the read stops, and the member is not at fault.
var ErrEnough = errors.New("the rebuild no longer needs shards")

// PeerError is a failure of a member itself (unreachable, slow, refusing
// us, answering nonsense): the engine asks another member. Suspect says
// that the member should be asked last for a while: it failed at the
// transport level, refused us, or sent what a member never sends.
type PeerError struct {
	Op, Addr string
	Err      error
	Suspect  bool
}

// Error says which member failed at what.
func (e *PeerError) Error() string { return fmt.Sprintf("peer %s %s: %v", e.Addr, e.Op, e.Err) }

// Unwrap is the member's failure.
func (e *PeerError) Unwrap() error { return e.Err }

// UpstreamError is an origin failure a leader reports: the asker answers
// the player with the same status and does not try another leader, which
// would only ask the failing origin again.
type UpstreamError struct {
	Status int
	Reason string
}

// Error says what the leader reported.
func (e *UpstreamError) Error() string {
	return fmt.Sprintf("origin failure reported by the leader: %d %s", e.Status, e.Reason)
}
