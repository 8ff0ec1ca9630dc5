package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgecache/edgecache/chunk"
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
	return e.leadFill(o, key)
}

// askLeader asks addr to fill a chunk as its leader. done is false when
// the leader itself failed, and the next owner is to be asked; an origin
// failure the leader reports is final.
func (e *Engine) askLeader(o *Object, key chunk.Key, addr string) (r fillResult, done bool, err error) {
	want := e.ChunkLen(o, key.Index)
	r, err = patient(e, "fill", addr, func() (fillResult, error) {
		data, src, err := e.peers.Fill(addr, key, o.Meta, want)
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

// remoteObject asks an object's leader what the object is now, so that the
// origin sees one metadata request per object for the cluster. ok is false
// when this node leads, or no leader answered: then it asks the origin.
func (e *Engine) remoteObject(_ context.Context, key string) (*Object, bool, error) {
	if e.cluster.Alone() {
		return nil, false, nil
	}
	for _, addr := range e.cluster.objectOwners(key, 2) {
		if addr == e.cluster.Self() {
			return nil, false, nil
		}
		if e.cluster.IsSuspect(addr) {
			continue
		}
		r, err := patient(e, "meta", addr, func() (MetaAnswer, error) { return e.peers.Meta(addr, key) })
		var pe *PeerError
		switch {
		case errors.As(err, &pe):
			continue
		case err != nil:
			return nil, true, fmt.Errorf("object %s via leader %s: %w", key, addr, err)
		case !r.Found:
			return e.objects.negative(key, r.Fetched), true, nil
		default:
			return e.objects.newObject(key, r.Meta, r.Fetched), true, nil
		}
	}
	return nil, false, nil
}
