package edge

import (
	"github.com/edgecache/edgecache/chunk"
)

// wholeChunk is the shard number of a decoded chunk in the store.
const wholeChunk = -1

// storeKey names what the node keeps in memory: a decoded chunk it served
// recently (shard == wholeChunk) or one shard frame of a chunk it owns.
// Both live in one byte-bounded store, so the budget is one number; shards
// are its durable class, which decoded chunks cannot evict beyond their
// reserve (see chunk.Store and Config.HotShare).
type storeKey struct {
	chunk.Key
	shard int
}

func chunkEntry(k chunk.Key) storeKey        { return storeKey{Key: k, shard: wholeChunk} }
func shardEntry(k chunk.Key, i int) storeKey { return storeKey{Key: k, shard: i} }

// entryCost charges an entry its bytes, its key strings and the store's
// bookkeeping, so that the budget bounds memory, not payload.
func entryCost(k storeKey, v []byte) int64 {
	return int64(len(v)+len(k.Object)+len(k.Version)) + chunk.EntryOverhead
}

func newStore(maxBytes, hotReserve int64) (*chunk.Store[storeKey, []byte], error) {
	// Entries are filed by object, so that a purge finds an object's
	// chunks and shards without scanning the store.
	return chunk.NewStore(chunk.StoreConfig[storeKey, []byte]{MaxBytes: maxBytes, Cost: entryCost,
		Durable: isShard, CopyReserve: hotReserve, Group: func(k storeKey) string { return k.Object }})
}

func isShard(k storeKey) bool { return k.shard != wholeChunk }
