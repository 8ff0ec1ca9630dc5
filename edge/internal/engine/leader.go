package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
)

// fillFromLeader asks the chunk's leader to fill it; when the leader is
// down, the next live owner leads, and this node leads when it is next.
// Before this node leads because the owners ahead of it are suspect, it
// gives them one more try: leading means asking the origin, and a member
// that timed out once under load is usually alive.
func (e *Engine) fillFromLeader(o *Object, key chunk.Key, owners []string) (fillResult, error) {
	tried := map[string]bool{}
	var suspects []string
	for _, addr := range owners {
		if tried[addr] {
			continue
		}
		tried[addr] = true
		if addr == e.cluster.Self() {
			break
		}
		if e.cluster.IsSuspect(addr) {
			suspects = append(suspects, addr)
			continue
		}
		if r, done, err := e.askLeader(o, key, addr); done {
			return r, err
		}
	}
	for _, addr := range suspects {
		if r, done, err := e.askLeader(o, key, addr); done {
			return r, err
		}
	}
	return e.leadFill(o, key, false) // fill has looked on the disk
}

// askLeader asks addr to fill a chunk as its leader. done is false when
// the leader itself failed, and the next owner is to be asked; an origin
// failure the leader reports is final.
func (e *Engine) askLeader(o *Object, key chunk.Key, addr string) (r fillResult, done bool, err error) {
	want := e.ChunkLen(o, key.Index)
	r, err = patient(e, "fill", addr, func() (fillResult, error) {
		data, src, err := e.peers.Fill(addr, key, o, want)
		return fillResult{data, src}, err
	})
	var pe *PeerError
	switch {
	case err == nil:
		e.keep(o, ChunkEntry(key), r.data)
		return r, true, nil
	case errors.As(err, &pe):
		e.log.Warn("chunk leader failed; trying the next owner", "peer", addr, "chunk", key.String(), "err", err)
		return fillResult{}, false, nil
	default:
		return fillResult{}, true, fmt.Errorf("chunk %s via leader %s: %w", key.String(), addr, err)
	}
}

// patient runs ask, a request to addr that a leader may answer only after
// asking the origin (a fill, a metadata lookup), so it may take up to the
// fill timeout. If no answer comes within the hedge delay, the leader is
// pinged: one that does not answer the ping is dead or stalled, and the
// caller moves on to the next owner instead of waiting. A leader merely
// busy answers the ping, and is waited for: asking another would fetch
// the chunk from the origin twice.
func patient[T any](e *Engine, op, addr string, ask func() (T, error)) (T, error) {
	type answer struct {
		v   T
		err error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := ask()
		e.cluster.Blame(err)
		done <- answer{v, err}
	}()
	timer := time.NewTimer(e.cfg.HedgeDelay)
	defer timer.Stop()
	select {
	case a := <-done:
		return a.v, a.err
	case <-timer.C:
	}
	if err := e.peers.Ping(addr); err != nil {
		e.cluster.Blame(err)
		e.cluster.MarkSuspect(addr, err)
		var zero T
		return zero, &PeerError{Op: op, Addr: addr, Err: fmt.Errorf("slow and not answering a ping: %w", err), Suspect: true}
	}
	a := <-done
	return a.v, a.err
}

// leadsObject reports whether this node is the leader of an object: the
// first owner of its path on the ring.
func (e *Engine) leadsObject(key string) bool {
	if e.cluster.Alone() {
		return true
	}
	owners := e.cluster.objectOwners(key, 1)
	return len(owners) == 1 && owners[0] == e.cluster.Self()
}

// askObjectLeader asks the object's leader what req's key is now, so
// that the origin sees one request per object for the cluster. The
// keepers ahead of this node are asked in turn, suspects last rather than
// never: one that timed out once under load is usually alive, and the
// alternative is the origin. ok is false when this node leads, or no
// keeper ahead of it answered: then it leads.
func (e *Engine) askObjectLeader(ctx context.Context, req *Request, gen uint64) (out *outcome, ok bool, err error) {
	ahead, _ := e.aroundSelf(e.objectKeepers(req.Key))
	for _, addr := range e.suspectsLast(ahead) {
		if ctx.Err() != nil {
			break
		}
		a, err := patient(e, "meta", addr, func() (MetaAnswer, error) { return e.peers.Meta(addr, req) })
		var pe *PeerError
		switch {
		case errors.As(err, &pe):
			continue
		case err != nil:
			return nil, true, fmt.Errorf("object %s via leader %s: %w", req.Key, addr, err)
		}
		return e.fromLeader(req, a, gen), true, nil
	}
	return nil, false, nil
}

// askKeepers asks the keepers of req's key behind this node for a copy
// they hold, when this node leads the key (by the ring, or because the
// keepers ahead of it failed) and holds none: a leader new to the ring
// (a node that joined, or came back empty) takes the response its
// predecessor shared instead of asking the origin again. A keeper answers
// from what it stores only (only-if-cached, stale or not), so it never
// asks anyone itself; a request that wants the origin's word (no-cache)
// skips this. The copy is published here, its age rebased on this clock.
func (e *Engine) askKeepers(ctx context.Context, req *Request, gen uint64) *Object {
	if e.cluster.Alone() || req.directives().NoCache || req.PragmaNoCache {
		return nil
	}
	_, behind := e.aroundSelf(e.objectKeepers(req.Key))
	if len(behind) == 0 {
		return nil
	}
	cached := NewRequest(req.Key, append(req.Header.All(), httpcache.Field{Name: "Cache-Control", Value: "only-if-cached, max-stale"}),
		req.Header.Client())
	for _, addr := range e.suspectsLast(behind) {
		if ctx.Err() != nil {
			break
		}
		a, err := patient(e, "meta", addr, func() (MetaAnswer, error) { return e.peers.Meta(addr, cached) })
		if err != nil || a.Object == nil || a.Pass || a.Object.Pass {
			continue // not held there (504), or a keeper that failed: the next one, then the origin
		}
		o := a.Object.Copy()
		o.Fresh.InitialAge, o.Fresh.ResponseTime = a.Age, e.now()
		return e.publish(o, gen)
	}
	return nil
}

// aroundSelf splits keepers at this node: those ahead of it, and those
// behind it. A node that keeps nothing has every keeper ahead of it.
func (e *Engine) aroundSelf(keepers []string) (ahead, behind []string) {
	for i, addr := range keepers {
		if addr == e.cluster.Self() {
			return keepers[:i], keepers[i+1:]
		}
	}
	return keepers, nil
}

// suspectsLast orders members to be asked: those in good standing first,
// in ring order, then the suspects.
func (e *Engine) suspectsLast(members []string) []string {
	out := make([]string, 0, len(members))
	var suspects []string
	for _, addr := range members {
		if e.cluster.IsSuspect(addr) {
			suspects = append(suspects, addr)
		} else {
			out = append(out, addr)
		}
	}
	return append(out, suspects...)
}

// fromLeader takes in what an object's leader answered: the object (its
// age rebased on this node's clock, as an Age field would be) and its
// first chunk, kept here; or an answer or a pass for this request.
func (e *Engine) fromLeader(req *Request, a MetaAnswer, gen uint64) *outcome {
	switch {
	case a.Answer != nil:
		e.restOf(a.Answer, req.Key, forward.Header(req.Header.All(), forward.Fill, req.Header.Client(), e.cfg.Via))
		return &outcome{answer: a.Answer, fetched: a.Fetched}
	case a.Object == nil:
		return &outcome{pass: true, fetched: a.Fetched}
	}
	o := a.Object.Copy()
	o.Fresh.InitialAge, o.Fresh.ResponseTime = a.Age, e.now()
	e.publish(o, gen)
	if a.Pass || o.Pass {
		return &outcome{obj: o, pass: true, fetched: a.Fetched}
	}
	if len(a.Head) == e.ChunkLen(o, 0) && o.Meta.Size > 0 {
		e.keep(o, ChunkEntry(o.ChunkKey(0)), a.Head)
	}
	return &outcome{obj: o, fetched: a.Fetched, revalidated: a.Revalidated}
}

// MetaFor answers another member that asks this node, as the object's
// leader, what req's key is now.
func (e *Engine) MetaFor(ctx context.Context, req *Request) (MetaAnswer, error) {
	r, err := e.LookupLocal(ctx, req)
	if err != nil {
		return MetaAnswer{}, err
	}
	a := MetaAnswer{Fetched: r.Fetched, Revalidated: r.Revalidated, Pass: r.Pass}
	switch {
	case r.Answer != nil && (r.Answer.Whole() || r.Answer.Windowed()):
		// Whole, or the window of a longer body whose rest the asker
		// fetches itself.
		a.Answer = r.Answer
	case r.Answer != nil:
		// A body sent whole and too long to carry here (an origin that
		// ignores Range): the asker relays the request itself.
		r.Answer.Close()
		a.Pass = true
	case r.Object != nil:
		a.Object, a.Age = r.Object, r.Object.Fresh.Age(e.now())
		// The first chunk came with the origin's answer: it goes with the
		// object to the member that asked for it, whose client is waiting,
		// before its shards are placed. A later lookup gets the object
		// alone, and the chunk from its shards if its client wants it.
		if b, ok := e.store.Peek(ChunkEntry(r.Object.ChunkKey(0))); ok && r.Fetched && !r.Revalidated && !r.Object.Pass {
			a.Head = b
		}
	}
	return a, nil
}

// objectKeepers are the members that hold a key's objects: its leader,
// and the m owners after it, which the leader gives a copy of each object
// it stores (shareObject), so that the key is answered without the origin
// while up to m of them are lost, as its chunks are.
func (e *Engine) objectKeepers(key string) []string {
	return e.cluster.objectOwners(key, e.codec.Parity()+1)
}

// shareObject gives the other keepers of o's key a copy of o, in the
// background: a keeper that misses it looks the key up itself.
func (e *Engine) shareObject(o *Object) {
	if e.cluster.Alone() {
		return
	}
	for _, addr := range e.objectKeepers(o.Key) {
		if addr == e.cluster.Self() {
			continue
		}
		e.background(func() {
			if err := e.peers.PushObject(addr, o, o.Fresh.Age(e.now())); err != nil {
				e.cluster.Blame(err)
				e.log.Debug("object copy not given", "peer", addr, "key", o.Key, "err", err)
			}
		})
	}
}

// AdoptObject keeps o, a copy of an object its key's leader stored, its
// age rebased on this node's clock. A copy of a key this node purged
// recently is refused: it may have been made before the purge, and epochs
// of two members' purges do not compare (this node looks the key up
// itself if it needs it).
func (e *Engine) AdoptObject(o *Object, age time.Duration) {
	if o.Pass {
		return
	}
	o.Fresh.InitialAge, o.Fresh.ResponseTime = age, e.now()
	e.publish(o, 0) // epoch 0: any purge remembered refuses it
}
