package edge

import (
	"runtime"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/edgecache/edgecache/edge/internal/engine"
)

// readahead fetches, in the background, the chunks a sequential player
// will ask for next (Config.ReadaheadNext), in bounded slots so that it
// never crowds out what players wait for.
type readahead struct {
	positions *lru.Cache[uint64, readPos] // where each connection's last range ended
	slots     chan struct{}               // a token per readahead fetch running (aheadInFlight)
	keys      sync.Map                    // chunk.Key -> struct{}: the chunks being read ahead
}

// aheadInFlight is how many readahead fetches (ReadaheadNext) an edge
// runs at once; past it, more are dropped, not queued. Without a bound, 30
// players starting together made 120 readahead fills that their own first
// segments queued behind: the slowest 1% of segment requests took 1.9 s
// against 0.7 s with no readahead. A few per core keep a paced audience's
// next chunks coming.
func aheadInFlight() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// readPos is where a connection's last range request ended: the object,
// and the chunk after its last.
type readPos struct {
	o    *engine.Object
	next int64
}

// readPositions is how many connections' last positions are remembered:
// beyond it the least recent connection forgets, and its next range counts
// as a seek.
const readPositions = 16384

func newReadahead() *readahead {
	positions, _ := lru.New[uint64, readPos](readPositions) // cannot fail: the size is positive
	return &readahead{positions: positions, slots: make(chan struct{}, aheadInFlight())}
}

// sequential records that connection conn reads chunks [first, last] of o
// and reports whether that continues its previous range: it starts the
// object, or starts where the same connection's previous range of the
// same object ended (or in its last chunk).
func (r *readahead) sequential(conn uint64, o *engine.Object, first, last int64) bool {
	prev, seen := r.positions.Get(conn)
	r.positions.Add(conn, readPos{o: o, next: last + 1})
	return first == 0 || seen && prev.o == o && (first == prev.next || first == prev.next-1)
}

// fetch starts fetching chunk idx of o for a player's next request, if a
// slot is free; it holds the slot until the fill ends (under the node's
// context: the response it rode on is done long before). A chunk already
// being read ahead takes no second slot: players reading together would
// otherwise fill every slot with the same few chunks.
func (r *readahead) fetch(n *Node, o *engine.Object, idx int64) {
	key := o.ChunkKey(idx)
	if _, running := r.keys.LoadOrStore(key, struct{}{}); running {
		n.stats.readaheadNext.Add(1) // joins the fetch running
		return
	}
	select {
	case r.slots <- struct{}{}:
	default:
		r.keys.Delete(key)
		n.stats.readaheadDropped.Add(1)
		return
	}
	n.stats.readaheadNext.Add(1)
	go func() {
		defer func() { <-r.slots }()
		defer r.keys.Delete(key)
		_, _, _ = n.eng.Chunk(n.baseCtx, o, idx)
	}()
}
