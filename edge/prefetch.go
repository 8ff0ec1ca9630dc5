package edge

import (
	"context"
	"sync"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/playlist"
)

// Playlist prefetch: when an HLS or DASH playlist passes through the edge
// for the first time (its chunk was not in memory), the first segments it
// names are warmed in the background, so that a player starting the stream
// finds them cached.

// prefetchChunksPerRef caps the chunks warmed per reference, so that a
// playlist naming huge objects warms their beginnings, not their whole.
const prefetchChunksPerRef = 8

// prefetcher warms what playlists name, in the background, in a few
// slots: when all are busy a playlist is not prefetched at all (it is an
// optimisation, never a queue).
type prefetcher struct {
	slots chan struct{}
	bg    sync.WaitGroup // prefetches running
}

// prefetchSlots is how many playlists are prefetched at once.
const prefetchSlots = 8

func newPrefetcher() *prefetcher { return &prefetcher{slots: make(chan struct{}, prefetchSlots)} }

// wait waits for the prefetches running.
func (p *prefetcher) wait() { p.bg.Wait() }

// prefetchPlaylist warms the first segments a playlist names.
func (n *Node) prefetchPlaylist(key string, body []byte) {
	if n.cfg.PrefetchSegments <= 0 {
		return
	}
	p := n.prefetch
	select {
	case p.slots <- struct{}{}:
	default:
		return
	}
	refs := playlist.Refs(key, body, n.cfg.PrefetchSegments)
	p.bg.Go(func() {
		defer func() { <-p.slots }()
		ctx, cancel := context.WithTimeout(n.baseCtx, n.cfg.FillTimeout)
		defer cancel()
		for _, ref := range refs {
			k, ok := playlist.RefKey(key, ref)
			if !ok {
				continue
			}
			r, err := n.eng.Lookup(ctx, engine.NewRequest(k, nil, forward.Client{}))
			if r.Answer != nil {
				r.Answer.Close() // not stored: nothing to warm
			}
			o := r.Object
			if err != nil || o == nil || r.Pass || o.Meta.Size <= 0 {
				continue
			}
			chunks := min((o.Meta.Size+n.cfg.ChunkSize-1)/n.cfg.ChunkSize, prefetchChunksPerRef)
			for idx := range chunks {
				if _, _, err := n.eng.Chunk(ctx, o, idx); err != nil {
					n.log.Debug("playlist prefetch failed", "playlist", key, "object", k, "chunk", idx, "err", err)
					break
				}
			}
			n.stats.playlistPrefetches.Add(1)
		}
	})
}
