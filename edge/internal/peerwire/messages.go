package peerwire

import "errors"

// Peer endpoints, on the peer listener only.
const (
	ShardsPath = "/peer/v1/shards" // GET ?key=K: the frames held; PUT: store one frame
	FillPath   = "/peer/v2/fill"   // POST FillRequest: the leader fills a chunk once for all
	MetaPath   = "/peer/v2/meta"   // POST MetaRequest: what answers a request, from the object's leader
	ObjectPath = "/peer/v2/object" // POST ObjectPush: a copy of an object, for the owners after its leader
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
