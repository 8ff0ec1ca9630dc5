package peerhttp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// Server answers other edges on the peer listener from a node's engine.
// Nothing here is reachable from the client listener, and nothing is
// answered before the request proves it comes from a member of this
// cluster.
type Server struct {
	Engine *engine.Engine
	// Context is what the engine calls of a request derive from and end
	// with; nil is context.Background. Never the fasthttp RequestCtx: a
	// timer context derived from it reads it when the timer fires, after
	// fasthttp may have reset it for the connection's next request.
	Context context.Context
	Auth    *peerwire.Auth
	Log     *slog.Logger
	// Refused counts a request refused for its signature or parameters;
	// may be nil.
	Refused func()
}

func (s *Server) context() context.Context {
	if s.Context == nil {
		return context.Background()
	}
	return s.Context
}

// Serve is the peer listener's fasthttp handler.
func (s *Server) Serve(ctx *fasthttp.RequestCtx) {
	if err := s.Auth.VerifyRequest(&ctx.Request); err != nil {
		status := fasthttp.StatusUnauthorized
		if errors.Is(err, peerwire.ErrMismatch) {
			status = fasthttp.StatusConflict
		}
		if s.Refused != nil {
			s.Refused()
		}
		s.Log.Warn("peer request refused", "remote", ctx.RemoteAddr().String(),
			"from", string(ctx.Request.Header.Peek(peerwire.HdrFrom)), "path", string(ctx.Path()), "err", err)
		ctx.Error(err.Error(), status)
		return
	}
	switch path, method := string(ctx.Path()), string(ctx.Method()); {
	case path == peerwire.ShardsPath && method == fasthttp.MethodGet:
		s.serveShards(ctx)
	case path == peerwire.ShardsPath && method == fasthttp.MethodPut:
		s.storeShard(ctx)
	case path == peerwire.FillPath && method == fasthttp.MethodPost:
		s.serveFill(ctx)
	case path == peerwire.ObjectPath && method == fasthttp.MethodPost:
		s.adoptObject(ctx)
	case path == peerwire.MetaPath && method == fasthttp.MethodPost:
		s.serveMeta(ctx)
	case path == peerwire.PurgePath && method == fasthttp.MethodPost:
		s.servePurge(ctx)
	case path == peerwire.PingPath && method == fasthttp.MethodGet:
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		ctx.Error("no such peer endpoint", fasthttp.StatusNotFound)
	}
}

// serveShards answers with every shard of the chunk this node holds.
func (s *Server) serveShards(ctx *fasthttp.RequestCtx) {
	key, err := chunk.ParseKey(string(ctx.QueryArgs().Peek("key")))
	if err != nil {
		ctx.Error("bad chunk key: "+err.Error(), fasthttp.StatusBadRequest)
		return
	}
	frames := s.Engine.ShardFrames(s.context(), key)
	if len(frames) == 0 {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	list := peerwire.NewShardList(frames)
	ctx.SetBodyStream(list, list.Size())
	ctx.SetContentType("application/octet-stream")
}

// storeShard keeps a shard a leader or a repairing reader pushed here.
func (s *Server) storeShard(ctx *fasthttp.RequestCtx) {
	frame := append([]byte(nil), ctx.Request.Body()...)
	err := s.Engine.StoreShard(frame, string(ctx.Request.Header.Peek(peerwire.HdrFrom)))
	switch {
	case errors.Is(err, engine.ErrShardMismatch):
		ctx.Error(err.Error(), fasthttp.StatusConflict)
	case err != nil:
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
	default:
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	}
}

// serveFill fills a chunk for another edge, as (or in place of) the
// chunk's leader.
func (s *Server) serveFill(ctx *fasthttp.RequestCtx) {
	r, err := peerwire.DecodeFillRequest(ctx.Request.Body())
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		return
	}
	key, err := chunk.ParseKey(string(r.Key))
	if err != nil {
		ctx.Error("bad chunk key: "+err.Error(), fasthttp.StatusBadRequest)
		return
	}
	data, src, err := s.Engine.FillAsLeader(key, objectFrom(&r.Object))
	switch {
	case errors.Is(err, engine.ErrOutside):
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		return
	case err != nil:
		upstream(ctx, err)
		return
	}
	from := "origin"
	if src != engine.SourceOrigin {
		from = "cache"
	}
	ctx.Response.Header.Set(peerwire.HdrFillSource, from)
	ctx.Response.Header.Set(peerwire.HdrFillSum, strconv.FormatUint(xxhash.Sum64(data), 16))
	ctx.SetContentType("application/octet-stream")
	ctx.Response.SetBodyRaw(data)
}

// upstream answers with the status an origin failure maps to, marked as
// the origin's, so that the asker does not try another leader. The mark
// is set after ctx.Error, which resets the response's headers.
func upstream(ctx *fasthttp.RequestCtx, err error) {
	status, reason := engine.StatusFor(err)
	ctx.Error(reason, status)
	ctx.Response.Header.Set(peerwire.HdrUpstream, "1")
}

// serveMeta answers for an object this node leads: from its own cache, or
// from the origin once for the cluster.
func (s *Server) serveMeta(ctx *fasthttp.RequestCtx) {
	m, err := peerwire.DecodeMetaRequest(ctx.Request.Body())
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		return
	}
	a, err := s.Engine.MetaFor(s.context(), requestFrom(m))
	if err != nil {
		upstream(ctx, err)
		return
	}
	msg := peerwire.MetaAnswer{Age: int64(a.Age), Pass: a.Pass, Fetched: a.Fetched, Revalidated: a.Revalidated}
	var raw []byte
	if a.Object != nil {
		msg.Object = objectMessage(a.Object)
		if a.Head != nil {
			msg.Raw, raw = "head", a.Head
		}
	}
	if a.Answer != nil {
		msg.Answer = &peerwire.Answer{Status: a.Answer.Status, Header: fieldsMessage(a.Answer.Header), Size: a.Answer.Size}
		msg.Raw, raw = "answer", a.Answer.Head
	}
	b, err := peerwire.EncodeMetaAnswer(msg, raw)
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
		return
	}
	ctx.SetContentType("application/octet-stream")
	ctx.SetBody(b)
}

// adoptObject keeps a copy of an object its leader stored.
func (s *Server) adoptObject(ctx *fasthttp.RequestCtx) {
	p, err := peerwire.DecodeObjectPush(ctx.Request.Body())
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		return
	}
	s.Engine.AdoptObject(objectFrom(&p.Object), time.Duration(p.Age))
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// servePurge drops an object another member was asked to purge.
func (s *Server) servePurge(ctx *fasthttp.RequestCtx) {
	var m peerwire.PurgeMessage
	if err := json.Unmarshal(ctx.Request.Body(), &m); err != nil || len(m.Key) == 0 || m.Key[0] != '/' {
		ctx.Error("bad purge message", fasthttp.StatusBadRequest)
		return
	}
	var a peerwire.PurgeAnswer
	a.Metadata, a.Entries = s.Engine.Purge(m.Key)
	b, _ := json.Marshal(a) // a struct of a bool and an int
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
