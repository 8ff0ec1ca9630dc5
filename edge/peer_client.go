package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// peerClient speaks the peer protocol to other edges. Every request is
// signed; a peer that fails at the transport level is marked suspect so
// that reads skip it at once.
type peerClient struct {
	hc      *fasthttp.Client
	scheme  string // "http://", or "https://" with peer TLS
	auth    *peerwire.Auth
	self    string
	timeout time.Duration // shard reads and pushes
	// fillTimeout bounds requests a leader may answer only after asking
	// the origin: fills and metadata.
	fillTimeout time.Duration
	cluster     *cluster
	// hedge is how long a slow leader may take before it is pinged;
	// pingTimeout is how long the ping may take before the leader counts
	// as dead. The ping gets more than a hedge delay because a leader that
	// is merely busy (a saturated CPU answers in tens of milliseconds) must
	// not be abandoned: that would fetch the chunk from the origin twice.
	hedge       time.Duration
	pingTimeout time.Duration
	onError     func(op string) // counts failures by operation

	observe func(op string, took time.Duration) // times requests by operation; nil: not timed
}

func newPeerClient(self string, auth *peerwire.Auth, c *cluster, dialTimeout, timeout, fillTimeout, hedge time.Duration) *peerClient {
	return &peerClient{
		hc: &fasthttp.Client{
			Name: "edgecache-peer",
			// Fail fast: a dead peer must cost milliseconds, not the
			// seconds of a default dial.
			Dial:                func(addr string) (net.Conn, error) { return fasthttp.DialTimeout(addr, dialTimeout) },
			ReadTimeout:         timeout,
			WriteTimeout:        timeout,
			MaxConnsPerHost:     1024,
			MaxIdleConnDuration: 30 * time.Second,
			MaxResponseBodySize: 128 << 20,
		},
		scheme:      "http://",
		auth:        auth,
		self:        self,
		timeout:     timeout,
		fillTimeout: fillTimeout,
		hedge:       hedge,
		pingTimeout: max(hedge, minPingTimeout),
		cluster:     c,
		onError:     func(string) {},
	}
}

// peerError is a failure of the peer itself (unreachable, slow, refusing
// us): the caller tries another member.
type peerError struct {
	op, addr string
	err      error
}

func (e *peerError) Error() string { return fmt.Sprintf("peer %s %s: %v", e.addr, e.op, e.err) }
func (e *peerError) Unwrap() error { return e.err }

// upstreamError is an origin failure a leader reports: the asker answers
// the player with the same status and does not try another leader, which
// would only ask the failing origin again.
type upstreamError struct {
	status int
	reason string
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("origin failure reported by the leader: %d %s", e.status, e.reason)
}

// do sends one signed request, leaves the answer in resp, and times it.
func (p *peerClient) do(op, addr, method, uri string, body []byte, resp *fasthttp.Response, timeout time.Duration) error {
	defer p.timed(op, time.Now())
	return p.send(op, addr, method, uri, body, resp, timeout)
}

// send is do untimed, for a caller that times a streamed body too.
func (p *peerClient) send(op, addr, method, uri string, body []byte, resp *fasthttp.Response, timeout time.Duration) error {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(p.scheme + addr + uri)
	req.Header.SetMethod(method)
	if body != nil {
		req.SetBodyRaw(body)
	}
	p.auth.SignRequest(req, p.self)
	if err := p.hc.DoTimeout(req, resp, timeout); err != nil {
		p.cluster.markSuspect(addr, err)
		p.onError(op)
		return &peerError{op: op, addr: addr, err: err}
	}
	switch sc := resp.StatusCode(); {
	case sc == fasthttp.StatusUnauthorized || sc == fasthttp.StatusConflict:
		// A peer we cannot talk to: wrong secret or other chunk
		// parameters. Skip it like a dead one.
		err := fmt.Errorf("refused (%d): %s", sc, trimBody(resp.Body()))
		p.cluster.markSuspect(addr, err)
		p.onError(op)
		return &peerError{op: op, addr: addr, err: err}
	case sc >= 500 && len(resp.Header.Peek(peerwire.HdrUpstream)) == 0:
		p.onError(op)
		return &peerError{op: op, addr: addr, err: fmt.Errorf("status %d: %s", sc, trimBody(resp.Body()))}
	}
	return nil
}

func trimBody(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// patient sends a request a leader may answer only after asking the
// origin (a fill, a metadata lookup), so it may take up to the fill
// timeout. If no answer comes within the hedge delay, the leader is pinged:
// one that does not answer the ping (pingTimeout) is dead or stalled, and
// the caller moves on to the next owner instead of waiting.
// The caller releases the returned response.
func (p *peerClient) patient(op, addr, method, uri string, body []byte) (*fasthttp.Response, error) {
	type answer struct {
		resp *fasthttp.Response
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp := fasthttp.AcquireResponse()
		err := p.do(op, addr, method, uri, body, resp, p.fillTimeout)
		done <- answer{resp, err}
	}()
	abandon := func() {
		go func() {
			if a := <-done; a.resp != nil {
				fasthttp.ReleaseResponse(a.resp)
			}
		}()
	}
	timer := time.NewTimer(p.hedge)
	defer timer.Stop()
	select {
	case a := <-done:
		if a.err != nil {
			fasthttp.ReleaseResponse(a.resp)
			return nil, a.err
		}
		return a.resp, nil
	case <-timer.C:
	}
	if err := p.ping(addr); err != nil {
		abandon()
		p.cluster.markSuspect(addr, err)
		return nil, &peerError{op: op, addr: addr, err: fmt.Errorf("slow and not answering a ping: %w", err)}
	}
	a := <-done
	if a.err != nil {
		fasthttp.ReleaseResponse(a.resp)
		return nil, a.err
	}
	return a.resp, nil
}

// minPingTimeout is the least time a leader gets to answer a ping.
const minPingTimeout = time.Second

// ping checks that addr answers at all.
func (p *peerClient) ping(addr string) error {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := p.do("ping", addr, fasthttp.MethodGet, peerwire.PingPath, nil, resp, p.pingTimeout); err != nil {
		return err
	}
	if resp.StatusCode() != fasthttp.StatusNoContent {
		return fmt.Errorf("ping answered %d", resp.StatusCode())
	}
	return nil
}

// shards asks addr for every shard of key it holds, at most maxFrames of
// sl bytes, and reads them as they arrive where into places them
// (readShardList): the response is streamed, never buffered whole.
// progress counts the bytes read (and 1 for the header), so that the
// caller can tell a peer that answers slowly from one that has stalled.
func (p *peerClient) shards(addr string, key chunk.Key, maxFrames, sl int, into peerwire.Placer, progress *atomic.Int64) (bad int, err error) {
	defer p.timed("shards", time.Now())
	resp := fasthttp.AcquireResponse()
	// Releasing the response closes its body stream; a stream not read to
	// its end closes the connection, which only a clean read reuses.
	defer fasthttp.ReleaseResponse(resp)
	resp.StreamBody = true
	if err := p.send("shards", addr, fasthttp.MethodGet, peerwire.ShardsPath+"?key="+url.QueryEscape(key.String()), nil, resp, p.timeout); err != nil {
		return 0, err
	}
	switch resp.StatusCode() {
	case fasthttp.StatusOK:
	case fasthttp.StatusNotFound:
		return 0, nil
	default:
		return 0, &peerError{op: "shards", addr: addr, err: fmt.Errorf("status %d", resp.StatusCode())}
	}
	progress.Add(1)
	limit := int64(maxFrames) * (4 + chunk.MaxFrameHeaderLen + int64(sl))
	if cl := int64(resp.Header.ContentLength()); cl > limit {
		err := fmt.Errorf("%w: a shard list of %d bytes, more than %d frames hold", peerwire.ErrBadMessage, cl, maxFrames)
		p.cluster.markSuspect(addr, err)
		p.onError("shards")
		return 0, &peerError{op: "shards", addr: addr, err: err}
	}
	body := progressReader{r: io.LimitReader(resp.BodyStream(), limit), n: progress}
	bad, err = peerwire.ReadShardList(body, maxFrames, into)
	if err != nil && !errors.Is(err, errRebuildDone) {
		p.cluster.markSuspect(addr, err) // a member never sends a broken list
		p.onError("shards")
		return bad, &peerError{op: "shards", addr: addr, err: err}
	}
	return bad, err
}

// progressReader counts what it reads in n.
type progressReader struct {
	r io.Reader
	n *atomic.Int64
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	return n, err
}

// pushShard stores one shard frame on addr.
func (p *peerClient) pushShard(addr string, frame []byte) error {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := p.do("push", addr, fasthttp.MethodPut, peerwire.ShardsPath, frame, resp, p.timeout); err != nil {
		return err
	}
	if resp.StatusCode() != fasthttp.StatusNoContent {
		return &peerError{op: "push", addr: addr, err: fmt.Errorf("status %d: %s", resp.StatusCode(), trimBody(resp.Body()))}
	}
	return nil
}

// fill asks leader addr to fill a chunk and returns its bytes.
func (p *peerClient) fill(addr string, o *object, key chunk.Key, want int) ([]byte, source, error) {
	body, err := json.Marshal(peerwire.FillRequest{Key: key.String(), Meta: o.meta})
	if err != nil {
		return nil, srcOrigin, err
	}
	resp, err := p.patient("fill", addr, fasthttp.MethodPost, peerwire.FillPath, body)
	if err != nil {
		return nil, srcOrigin, err
	}
	defer fasthttp.ReleaseResponse(resp)
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		if len(resp.Header.Peek(peerwire.HdrUpstream)) > 0 {
			return nil, srcOrigin, &upstreamError{status: sc, reason: trimBody(resp.Body())}
		}
		return nil, srcOrigin, &peerError{op: "fill", addr: addr, err: fmt.Errorf("status %d: %s", sc, trimBody(resp.Body()))}
	}
	data := append([]byte(nil), resp.Body()...)
	sum, err := strconv.ParseUint(string(resp.Header.Peek(peerwire.HdrFillSum)), 16, 64)
	if err != nil || len(data) != want || xxhash.Sum64(data) != sum {
		err := errors.New("chunk failed its length or checksum")
		p.cluster.markSuspect(addr, err) // a leader never sends a broken chunk
		p.onError("fill")
		return nil, srcOrigin, &peerError{op: "fill", addr: addr, err: err}
	}
	src := srcOrigin
	if string(resp.Header.Peek(peerwire.HdrFillSource)) == "cache" {
		src = srcPeer
	}
	return data, src, nil
}

// meta asks addr, an object's leader, for the object's metadata.
func (p *peerClient) meta(addr, key string) (peerwire.MetaResponse, error) {
	resp, err := p.patient("meta", addr, fasthttp.MethodGet, peerwire.MetaPath+"?path="+url.QueryEscape(key), nil)
	if err != nil {
		return peerwire.MetaResponse{}, err
	}
	defer fasthttp.ReleaseResponse(resp)
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		if len(resp.Header.Peek(peerwire.HdrUpstream)) > 0 {
			return peerwire.MetaResponse{}, &upstreamError{status: sc, reason: trimBody(resp.Body())}
		}
		return peerwire.MetaResponse{}, &peerError{op: "meta", addr: addr, err: fmt.Errorf("status %d", sc)}
	}
	m, err := peerwire.DecodeMetaResponse(resp.Body())
	if err != nil {
		return m, &peerError{op: "meta", addr: addr, err: err}
	}
	return m, nil
}
