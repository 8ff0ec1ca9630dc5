package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// Timeouts bound the requests of a Network's members, as the network
// client's do: shard reads and pushes (Peer), fills and metadata lookups
// (Fill), pings (Ping).
type Timeouts struct {
	Peer, Fill, Ping time.Duration
}

// Fault is how a member misbehaves. The zero Fault is a healthy member.
type Fault struct {
	// Down: the member is gone; every request to it fails at once, as
	// against a closed port.
	Down bool
	// Hang: the member takes requests and never answers; each fails at
	// its timeout.
	Hang bool
	// Delay: every answer but a ping's comes this much later; past the
	// request's timeout it fails instead.
	Delay time.Duration
	// Stall: a shard list stops after StallAfter bytes and sends nothing
	// more until the read times out.
	Stall      bool
	StallAfter int
	// Mangle, if set, rewrites every shard frame the member sends (see
	// FlipShardByte, FlipHeaderByte, ForeignShard): a lying member.
	Mangle func(frame []byte) []byte
}

// Network is an in-memory network of engines: what each member's Peers
// reach is the other member's engine itself, through the same calls the
// edge's peer server makes, with the faults of each member applied and
// every request counted. It is a Transport for TestPeers.
type Network struct {
	timeouts Timeouts

	inflight sync.WaitGroup // requests not answered yet, and leaders' work the asker gave up on

	mu      sync.Mutex
	members map[string]*engine.Engine
	faults  map[string]Fault
	asked   map[string]int // "addr op" -> requests
	next    int
}

// NewNetwork returns an empty network whose requests are bounded by t.
func NewNetwork(t Timeouts) *Network {
	return &Network{timeouts: t, members: map[string]*engine.Engine{}, faults: map[string]Fault{}, asked: map[string]int{}}
}

// Addr is Transport's: a new member's address.
func (n *Network) Addr(testing.TB) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	return "member-" + strconv.Itoa(n.next)
}

// Dead is Transport's: an address no member answers at.
func (n *Network) Dead(t testing.TB) string { return n.Addr(t) }

// Serve is Transport's: the member at addr answers with e.
func (n *Network) Serve(_ testing.TB, addr string, e *engine.Engine) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.members[addr] = e
}

// Peers is Transport's: what the member at self reaches the others by.
func (n *Network) Peers(_ testing.TB, self string) engine.Peers {
	return &netClient{net: n, self: self}
}

// Set makes the member at addr misbehave as f says, from now on.
func (n *Network) Set(addr string, f Fault) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults[addr] = f
}

// Asked is how many requests of op ("shards", "push", "fill", "meta",
// "ping") the member at addr was sent.
func (n *Network) Asked(addr, op string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.asked[addr+" "+op]
}

var (
	errRefused = errors.New("connection refused")
	errTimeout = errors.New("timed out")
)

// Wait waits until no request is in flight: a test in a synctest bubble
// calls it before it ends, so that requests the engine gave up on (a
// straggler the hedge stood in for, a hanging leader) run out their
// timeouts in virtual time.
func (n *Network) Wait() { n.inflight.Wait() }

// reach delivers a request of op to addr: the member's engine and fault,
// once the fault's delay has passed, or the failure the fault makes of it.
func (n *Network) reach(addr, op string, timeout time.Duration) (*engine.Engine, Fault, error) {
	n.inflight.Add(1)
	defer n.inflight.Done()
	n.mu.Lock()
	n.asked[addr+" "+op]++
	e, f := n.members[addr], n.faults[addr]
	n.mu.Unlock()
	fail := func(err error) error { return &engine.PeerError{Op: op, Addr: addr, Err: err, Suspect: true} }
	switch delay := f.Delay; {
	case e == nil || f.Down:
		return nil, f, fail(errRefused)
	case f.Hang:
		time.Sleep(timeout)
		return nil, f, fail(errTimeout)
	case op == "ping" || delay <= 0:
	case delay >= timeout:
		time.Sleep(timeout)
		return nil, f, fail(errTimeout)
	default:
		time.Sleep(delay)
	}
	return e, f, nil
}

// netClient is one member's view of the network: its engine.Peers.
type netClient struct {
	net  *Network
	self string
}

// Ping is engine.Peers'.
func (c *netClient) Ping(addr string) error {
	_, _, err := c.net.reach(addr, "ping", c.net.timeouts.Ping)
	return err
}

// PushObject is engine.Peers'.
func (c *netClient) PushObject(addr string, o *engine.Object, age time.Duration) error {
	e, _, err := c.net.reach(addr, "object", c.net.timeouts.Peer)
	if err != nil {
		return err
	}
	e.AdoptObject(o.Copy(), age) // the member decodes its own copy
	return nil
}

// PushShard is engine.Peers'.
func (c *netClient) PushShard(addr string, frame []byte) error {
	e, _, err := c.net.reach(addr, "push", c.net.timeouts.Peer)
	if err != nil {
		return err
	}
	err = e.StoreShard(bytes.Clone(frame), c.self)
	if err != nil {
		// Over HTTP a mismatch is a 409, which marks the member suspect.
		return &engine.PeerError{Op: "push", Addr: addr, Err: err, Suspect: errors.Is(err, engine.ErrShardMismatch)}
	}
	return nil
}

// Shards is engine.Peers'.
func (c *netClient) Shards(addr string, key chunk.Key, maxFrames, sl int, sink engine.ShardSink) (int, error) {
	c.net.inflight.Add(1)
	defer c.net.inflight.Done()
	e, f, err := c.net.reach(addr, "shards", c.net.timeouts.Peer)
	if err != nil {
		return 0, err
	}
	frames := e.ShardFrames(context.Background(), key)
	if len(frames) == 0 {
		return 0, nil
	}
	var list bytes.Buffer
	for _, fr := range frames {
		if f.Mangle != nil {
			fr = f.Mangle(bytes.Clone(fr))
		}
		if err := peerwire.WriteShardListItem(&list, fr); err != nil {
			return 0, err
		}
	}
	sink.Progress(1)
	var r io.Reader = bytes.NewReader(list.Bytes())
	if f.Stall {
		r = &stallReader{r: r, left: f.StallAfter, timeout: c.net.timeouts.Peer}
	}
	bad, err := peerwire.ReadShardList(peerwire.ProgressReader{R: r, To: sink}, maxFrames, sink)
	if err != nil && !errors.Is(err, engine.ErrEnough) {
		return bad, &engine.PeerError{Op: "shards", Addr: addr, Err: err, Suspect: true}
	}
	return bad, err
}

// Fill is engine.Peers'.
func (c *netClient) Fill(addr string, key chunk.Key, o *engine.Object, want int) ([]byte, engine.Source, error) {
	type fill struct {
		data []byte
		src  engine.Source
		err  error
	}
	r, err := answer(c.net, addr, "fill", c.net.timeouts.Fill, func(e *engine.Engine) fill {
		data, src, err := e.FillAsLeader(key, o.Copy()) // the leader decodes its own copy
		if src != engine.SourceOrigin {
			src = engine.SourcePeer // the leader's memory, as far as the asker goes
		}
		return fill{bytes.Clone(data), src, err}
	})
	switch {
	case err != nil:
		return nil, engine.SourceOrigin, err
	case errors.Is(r.err, engine.ErrOutside):
		return nil, engine.SourceOrigin, &engine.PeerError{Op: "fill", Addr: addr, Err: r.err}
	case r.err != nil:
		return nil, engine.SourceOrigin, upstream(r.err)
	case len(r.data) != want:
		return nil, engine.SourceOrigin, &engine.PeerError{Op: "fill", Addr: addr, Err: errors.New("chunk failed its length or checksum"), Suspect: true}
	}
	return r.data, r.src, nil
}

// Meta is engine.Peers'.
func (c *netClient) Meta(addr string, req *engine.Request) (engine.MetaAnswer, error) {
	type meta struct {
		a   engine.MetaAnswer
		err error
	}
	fields := append(httpcache.Fields(nil), req.Header.All()...) // what travels
	r, err := answer(c.net, addr, "meta", c.net.timeouts.Fill, func(e *engine.Engine) meta {
		a, err := e.MetaFor(context.Background(), engine.NewRequest(req.Key, fields, req.Header.Client()))
		return meta{a, err}
	})
	switch {
	case err != nil:
		return engine.MetaAnswer{}, err
	case r.err != nil:
		return engine.MetaAnswer{}, upstream(r.err)
	}
	a := r.a
	if a.Object != nil {
		a.Object = a.Object.Copy() // the asker decodes its own copy
	}
	a.Head = bytes.Clone(a.Head)
	return a, nil
}

// answer runs ask on the member at addr and waits for it within timeout,
// as a client waits for a leader that asks the origin: past the timeout
// the member's work goes on, and the request fails.
func answer[T any](n *Network, addr, op string, timeout time.Duration, ask func(*engine.Engine) T) (T, error) {
	var zero T
	start := time.Now()
	e, _, err := n.reach(addr, op, timeout)
	if err != nil {
		return zero, err
	}
	done := make(chan T, 1)
	n.inflight.Go(func() { done <- ask(e) })
	t := time.NewTimer(timeout - time.Since(start))
	defer t.Stop()
	select {
	case v := <-done:
		return v, nil
	case <-t.C:
		return zero, &engine.PeerError{Op: op, Addr: addr, Err: errTimeout, Suspect: true}
	}
}

// upstream is how a leader's origin failure reaches the asker: its status
// and reason, as the peer protocol carries them.
func upstream(err error) error {
	status, reason := engine.StatusFor(err)
	return &engine.UpstreamError{Status: status, Reason: reason}
}

// stallReader gives left bytes of r, then nothing until timeout.
type stallReader struct {
	r       io.Reader
	left    int
	timeout time.Duration
}

// Read is io.Reader's.
func (s *stallReader) Read(b []byte) (int, error) {
	if s.left <= 0 {
		time.Sleep(s.timeout)
		return 0, fmt.Errorf("reading a shard list: %w", errTimeout)
	}
	n, err := s.r.Read(b[:min(len(b), s.left)])
	s.left -= n
	return n, err
}

// FlipShardByte changes the last byte of a frame's shard: the frame still
// parses, and the rebuild's chunk checksum finds it.
func FlipShardByte(frame []byte) []byte {
	frame[len(frame)-1] ^= 0xff
	return frame
}

// FlipHeaderByte changes a byte of a frame's header: the frame fails its
// header checksum and is counted bad.
func FlipHeaderByte(frame []byte) []byte {
	frame[10] ^= 0xff
	return frame
}

// ForeignShard replaces a frame with the same shard of another chunk of the
// same length: well formed, and not what was asked.
func ForeignShard(frame []byte) []byte {
	s, err := chunk.ParseFrame(frame)
	if err != nil {
		return frame
	}
	codec, err := chunk.NewCodec(s.Data, s.Parity)
	if err != nil {
		return frame
	}
	other := s.Key
	other.Object += ".foreign"
	shards, err := codec.Encode(other, make([]byte, s.ChunkLen))
	if err != nil {
		return frame
	}
	return shards[s.Index].AppendFrame(nil)
}
