package edge

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// servePeer answers other edges on the peer listener. Nothing here is
// reachable from the client listener, and nothing is answered before the
// request proves it comes from a member of this cluster.
func (n *Node) servePeer(ctx *fasthttp.RequestCtx) {
	if err := n.auth.VerifyRequest(&ctx.Request); err != nil {
		status := fasthttp.StatusUnauthorized
		if errors.Is(err, peerwire.ErrMismatch) {
			status = fasthttp.StatusConflict
		}
		n.stats.peerRefused.Add(1)
		n.log.Warn("peer request refused", "remote", ctx.RemoteAddr().String(),
			"from", string(ctx.Request.Header.Peek(peerwire.HdrFrom)), "path", string(ctx.Path()), "err", err)
		ctx.Error(err.Error(), status)
		return
	}
	switch path, method := string(ctx.Path()), string(ctx.Method()); {
	case path == peerwire.ShardsPath && method == fasthttp.MethodGet:
		n.serveShards(ctx)
	case path == peerwire.ShardsPath && method == fasthttp.MethodPut:
		n.storeShard(ctx)
	case path == peerwire.FillPath && method == fasthttp.MethodPost:
		n.serveFill(ctx)
	case path == peerwire.MetaPath && method == fasthttp.MethodGet:
		n.serveMeta(ctx)
	case path == peerwire.PurgePath && method == fasthttp.MethodPost:
		n.servePeerPurge(ctx)
	case path == peerwire.PingPath && method == fasthttp.MethodGet:
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		ctx.Error("no such peer endpoint", fasthttp.StatusNotFound)
	}
}

// serveShards answers with every shard of the chunk this node holds,
// whichever index it is: a shard that moved with a membership change is
// still found.
func (n *Node) serveShards(ctx *fasthttp.RequestCtx) {
	key, err := chunk.ParseKey(string(ctx.QueryArgs().Peek("key")))
	if err != nil {
		ctx.Error("bad chunk key: "+err.Error(), fasthttp.StatusBadRequest)
		return
	}
	var frames [][]byte
	for i := range n.codec.Total() {
		if f, ok := n.store.Get(shardEntry(key, i)); ok {
			frames = append(frames, f)
		}
	}
	if len(frames) == 0 {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	list := peerwire.NewShardList(frames)
	ctx.SetBodyStream(list, list.Size())
	ctx.SetContentType("application/octet-stream")
}

// storeShard keeps a shard a leader or a repairing reader pushed here.
func (n *Node) storeShard(ctx *fasthttp.RequestCtx) {
	frame := append([]byte(nil), ctx.Request.Body()...)
	s, err := chunk.DecodeFrame(frame)
	switch {
	case err != nil:
		n.stats.shardsCorrupt.Add(1)
		n.log.Warn("peer pushed a bad shard frame", "peer", string(ctx.Request.Header.Peek(peerwire.HdrFrom)), "err", err)
		ctx.Error("bad shard frame: "+err.Error(), fasthttp.StatusBadRequest)
		return
	case s.Data != n.codec.Data() || s.Parity != n.codec.Parity() || int64(s.ChunkLen) > n.cfg.ChunkSize:
		n.stats.shardsCorrupt.Add(1)
		n.log.Warn("peer pushed a shard of other chunk parameters", "peer", string(ctx.Request.Header.Peek(peerwire.HdrFrom)),
			"chunk", s.Key.String(), "k", s.Data, "m", s.Parity, "chunk_len", s.ChunkLen)
		ctx.Error("shard does not fit this cluster's chunk parameters", fasthttp.StatusConflict)
		return
	}
	n.store.Add(shardEntry(s.Key, s.Index), frame)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// serveFill fills a chunk for another edge: this node is (or stands in for)
// the chunk's leader, so concurrent fills from the whole cluster meet here
// and the origin sees one request per chunk.
func (n *Node) serveFill(ctx *fasthttp.RequestCtx) {
	key, meta, err := peerwire.DecodeFillRequest(ctx.Request.Body())
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		return
	}
	o := n.objects.newObject(key.Object, meta, n.now())
	if key.Index < 0 || key.Index*n.cfg.ChunkSize >= meta.Size {
		ctx.Error("chunk index outside the object", fasthttp.StatusBadRequest)
		return
	}
	r, err := n.leadFill(o, key)
	if err != nil {
		status, reason := statusFor(err)
		ctx.Response.Header.Set(peerwire.HdrUpstream, "1")
		ctx.Error(reason, status)
		return
	}
	src := "origin"
	if r.src != srcOrigin {
		src = "cache"
	}
	ctx.Response.Header.Set(peerwire.HdrFillSource, src)
	ctx.Response.Header.Set(peerwire.HdrFillSum, strconv.FormatUint(xxhash.Sum64(r.data), 16))
	ctx.SetContentType("application/octet-stream")
	ctx.Response.SetBodyRaw(r.data)
}

// serveMeta answers for an object this node leads: from its own cache, or
// from the origin once for the cluster.
func (n *Node) serveMeta(ctx *fasthttp.RequestCtx) {
	key := string(ctx.QueryArgs().Peek("path"))
	if len(key) == 0 || key[0] != '/' {
		ctx.Error("bad path", fasthttp.StatusBadRequest)
		return
	}
	o, err := n.objects.lookupLocal(ctx, key)
	var resp peerwire.MetaResponse
	switch {
	case errors.Is(err, errNotFoundCached):
		resp.Fetched = o.fetched.UnixNano()
	case err != nil:
		status, reason := statusFor(err)
		ctx.Response.Header.Set(peerwire.HdrUpstream, "1")
		ctx.Error(reason, status)
		return
	default:
		resp = peerwire.MetaResponse{Found: true, Meta: o.meta, Fetched: o.fetched.UnixNano()}
	}
	b, _ := json.Marshal(resp)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
