package peerhttp

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Self is the address this node signs its requests from.
	Self string
	// Auth signs the requests.
	Auth *peerwire.Auth
	// DialTimeout bounds connecting: a dead peer must cost milliseconds,
	// not the seconds of a default dial.
	DialTimeout time.Duration
	// Timeout bounds shard reads and pushes, and purges.
	Timeout time.Duration
	// FillTimeout bounds requests a leader may answer only after asking
	// the origin: fills and metadata.
	FillTimeout time.Duration
	// PingTimeout bounds a ping.
	PingTimeout time.Duration
	// MaxResponse bounds the body of any answer (MaxResponse).
	MaxResponse int
	// TLS, if set, makes the client speak HTTPS with it.
	TLS *tls.Config
	// Observe times each request by operation; nil: not timed.
	Observe func(op string, took time.Duration)
	// Failed counts failures by operation; nil: not counted.
	Failed func(op string)
}

// Client speaks the peer protocol to other edges: it is the engine's Peers
// over the network, and sends purges.
type Client struct {
	cfg    ClientConfig
	hc     *fasthttp.Client
	scheme string // "http://", or "https://" with TLS
}

var _ engine.Peers = (*Client)(nil)

// NewClient returns a client.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Observe == nil {
		cfg.Observe = func(string, time.Duration) {}
	}
	if cfg.Failed == nil {
		cfg.Failed = func(string) {}
	}
	dial := cfg.DialTimeout
	c := &Client{cfg: cfg, scheme: "http://", hc: &fasthttp.Client{
		Name:                "edgecache-peer",
		Dial:                func(addr string) (net.Conn, error) { return fasthttp.DialTimeout(addr, dial) },
		ReadTimeout:         cfg.Timeout,
		WriteTimeout:        cfg.Timeout,
		MaxConnsPerHost:     1024,
		MaxIdleConnDuration: 30 * time.Second,
		MaxResponseBodySize: cfg.MaxResponse,
	}}
	if cfg.TLS != nil {
		c.scheme = "https://"
		c.hc.TLSConfig = cfg.TLS
	}
	return c
}

// MaxResponse bounds the body of a peer's answer to what the protocol ever
// sends: a whole chunk (a fill, or a metadata answer with its first chunk
// or an answer's body) or every shard of one (k+m frames, each with a key
// of at most 64 KiB, its length being 16 bits). A faulty peer
// then cannot make a read buffer more than that.
func MaxResponse(chunkSize int64, codec *chunk.Codec) int {
	frame := 4 + 64 + 64<<10 + codec.ShardLen(int(chunkSize)) // length prefix, fixed fields, key, shard
	meta := int(chunkSize) + 4*peerwire.MaxFieldBytes         // an answer's body and its fields, in base64
	return max(meta, codec.Total()*frame)
}

// CloseIdleConnections closes the connections not in use, so that a
// stopped node holds no peer's sockets.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// fail is a failure of member addr at op; suspect says whether the member
// is to be asked last for a while.
func (c *Client) fail(op, addr string, suspect bool, err error) *engine.PeerError {
	c.cfg.Failed(op)
	return &engine.PeerError{Op: op, Addr: addr, Err: err, Suspect: suspect}
}

// do sends one signed request, leaves the answer in resp, and times it.
func (c *Client) do(op, addr, method, uri string, body []byte, resp *fasthttp.Response, timeout time.Duration) error {
	defer c.timed(op, time.Now())
	return c.send(op, addr, method, uri, body, resp, timeout)
}

// timed records one request of op that began at start. The peer client
// keeps real time, as its transport's timeouts do.
func (c *Client) timed(op string, start time.Time) { c.cfg.Observe(op, time.Since(start)) }

// send is do untimed, for a caller that times a streamed body too.
func (c *Client) send(op, addr, method, uri string, body []byte, resp *fasthttp.Response, timeout time.Duration) error {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(c.scheme + addr + uri)
	req.Header.SetMethod(method)
	if body != nil {
		req.SetBodyRaw(body)
	}
	c.cfg.Auth.SignRequest(req, c.cfg.Self)
	if err := c.hc.DoTimeout(req, resp, timeout); err != nil {
		return c.fail(op, addr, true, err)
	}
	switch sc := resp.StatusCode(); {
	case sc == fasthttp.StatusUnauthorized || sc == fasthttp.StatusConflict:
		// A peer we cannot talk to: wrong secret or other chunk
		// parameters. Skip it like a dead one.
		return c.fail(op, addr, true, fmt.Errorf("refused (%d): %s", sc, trimBody(resp.Body())))
	case sc >= 500 && len(resp.Header.Peek(peerwire.HdrUpstream)) == 0:
		return c.fail(op, addr, false, fmt.Errorf("status %d: %s", sc, trimBody(resp.Body())))
	}
	return nil
}

func trimBody(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// Ping checks that addr answers at all.
func (c *Client) Ping(addr string) error {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := c.do("ping", addr, fasthttp.MethodGet, peerwire.PingPath, nil, resp, c.cfg.PingTimeout); err != nil {
		return err
	}
	if resp.StatusCode() != fasthttp.StatusNoContent {
		return &engine.PeerError{Op: "ping", Addr: addr, Err: fmt.Errorf("ping answered %d", resp.StatusCode())}
	}
	return nil
}

// Shards asks addr for every shard of key it holds and reads them as they
// arrive where sink places them (peerwire.ReadShardList): the response is
// streamed, never buffered whole.
func (c *Client) Shards(addr string, key chunk.Key, maxFrames, sl int, sink engine.ShardSink) (bad int, err error) {
	defer c.timed("shards", time.Now())
	resp := fasthttp.AcquireResponse()
	// Releasing the response closes its body stream; a stream not read to
	// its end closes the connection, which only a clean read reuses.
	defer fasthttp.ReleaseResponse(resp)
	resp.StreamBody = true
	if err := c.send("shards", addr, fasthttp.MethodGet, peerwire.ShardsPath+"?key="+url.QueryEscape(key.String()), nil, resp, c.cfg.Timeout); err != nil {
		return 0, err
	}
	switch resp.StatusCode() {
	case fasthttp.StatusOK:
	case fasthttp.StatusNotFound:
		return 0, nil
	default:
		return 0, &engine.PeerError{Op: "shards", Addr: addr, Err: fmt.Errorf("status %d", resp.StatusCode())}
	}
	sink.Progress(1)
	limit := int64(maxFrames) * (4 + chunk.MaxFrameHeaderLen + int64(sl))
	if cl := int64(resp.Header.ContentLength()); cl > limit {
		return 0, c.fail("shards", addr, true, fmt.Errorf("%w: a shard list of %d bytes, more than %d frames hold", peerwire.ErrBadMessage, cl, maxFrames))
	}
	body := peerwire.ProgressReader{R: io.LimitReader(resp.BodyStream(), limit), To: sink}
	bad, err = peerwire.ReadShardList(body, maxFrames, sink)
	if err != nil && !errors.Is(err, engine.ErrEnough) {
		return bad, c.fail("shards", addr, true, err) // a member never sends a broken list
	}
	return bad, err
}

// PushObject gives addr a copy of o.
func (c *Client) PushObject(addr string, o *engine.Object, age time.Duration) error {
	body, err := json.Marshal(peerwire.ObjectPush{Object: *objectMessage(o), Age: int64(age)})
	if err != nil {
		return err
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := c.do("object", addr, fasthttp.MethodPost, peerwire.ObjectPath, body, resp, c.cfg.Timeout); err != nil {
		return err
	}
	if resp.StatusCode() != fasthttp.StatusNoContent {
		return &engine.PeerError{Op: "object", Addr: addr, Err: fmt.Errorf("status %d: %s", resp.StatusCode(), trimBody(resp.Body()))}
	}
	return nil
}

// PushShard stores one shard frame on addr.
func (c *Client) PushShard(addr string, frame []byte) error {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := c.do("push", addr, fasthttp.MethodPut, peerwire.ShardsPath, frame, resp, c.cfg.Timeout); err != nil {
		return err
	}
	if resp.StatusCode() != fasthttp.StatusNoContent {
		return &engine.PeerError{Op: "push", Addr: addr, Err: fmt.Errorf("status %d: %s", resp.StatusCode(), trimBody(resp.Body()))}
	}
	return nil
}

// Fill asks leader addr to fill chunk key of o and returns its bytes.
func (c *Client) Fill(addr string, key chunk.Key, o *engine.Object, want int) ([]byte, engine.Source, error) {
	body, err := json.Marshal(peerwire.FillRequest{Key: []byte(key.String()), Object: *objectMessage(o)})
	if err != nil {
		return nil, engine.SourceOrigin, err
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := c.do("fill", addr, fasthttp.MethodPost, peerwire.FillPath, body, resp, c.cfg.FillTimeout); err != nil {
		return nil, engine.SourceOrigin, err
	}
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		if len(resp.Header.Peek(peerwire.HdrUpstream)) > 0 {
			return nil, engine.SourceOrigin, &engine.UpstreamError{Status: sc, Reason: trimBody(resp.Body())}
		}
		return nil, engine.SourceOrigin, &engine.PeerError{Op: "fill", Addr: addr, Err: fmt.Errorf("status %d: %s", sc, trimBody(resp.Body()))}
	}
	data := append([]byte(nil), resp.Body()...)
	sum, err := strconv.ParseUint(string(resp.Header.Peek(peerwire.HdrFillSum)), 16, 64)
	if err != nil || len(data) != want || xxhash.Sum64(data) != sum {
		// A leader never sends a broken chunk.
		return nil, engine.SourceOrigin, c.fail("fill", addr, true, errors.New("chunk failed its length or checksum"))
	}
	src := engine.SourceOrigin
	if string(resp.Header.Peek(peerwire.HdrFillSource)) == "cache" {
		src = engine.SourcePeer
	}
	return data, src, nil
}

// Meta asks addr, an object's leader, what answers req.
func (c *Client) Meta(addr string, req *engine.Request) (engine.MetaAnswer, error) {
	body, err := json.Marshal(requestMessage(req))
	if err != nil {
		return engine.MetaAnswer{}, err
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := c.do("meta", addr, fasthttp.MethodPost, peerwire.MetaPath, body, resp, c.cfg.FillTimeout); err != nil {
		return engine.MetaAnswer{}, err
	}
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		if len(resp.Header.Peek(peerwire.HdrUpstream)) > 0 {
			return engine.MetaAnswer{}, &engine.UpstreamError{Status: sc, Reason: trimBody(resp.Body())}
		}
		return engine.MetaAnswer{}, &engine.PeerError{Op: "meta", Addr: addr, Err: fmt.Errorf("status %d", sc)}
	}
	m, raw, err := peerwire.DecodeMetaAnswer(resp.Body())
	if err != nil {
		return engine.MetaAnswer{}, c.fail("meta", addr, true, err)
	}
	return metaAnswerFrom(m, raw), nil
}

// metaAnswerFrom is the engine's view of a decoded metadata answer; raw
// is copied, since it aliases a response fasthttp reuses.
func metaAnswerFrom(m peerwire.MetaAnswer, raw []byte) engine.MetaAnswer {
	a := engine.MetaAnswer{Age: time.Duration(m.Age), Pass: m.Pass, Fetched: m.Fetched, Revalidated: m.Revalidated}
	if m.Object != nil {
		a.Object = objectFrom(m.Object)
	}
	switch {
	case m.Raw == "head":
		a.Head = append([]byte(nil), raw...)
	case m.Raw == "answer" && m.Answer != nil:
		body := append([]byte(nil), raw...)
		a.Answer = &engine.Answer{Status: m.Answer.Status, Header: fieldsFrom(m.Answer.Header), Size: max(m.Answer.Size, int64(len(body))), Head: body}
	case m.Answer != nil:
		a.Answer = &engine.Answer{Status: m.Answer.Status, Header: fieldsFrom(m.Answer.Header)}
	}
	return a
}

// Purge tells member addr to drop every version of the object key.
func (c *Client) Purge(addr, key string) (peerwire.PurgeAnswer, error) {
	body, err := json.Marshal(peerwire.PurgeMessage{Key: key})
	if err != nil {
		return peerwire.PurgeAnswer{}, err
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := c.do("purge", addr, fasthttp.MethodPost, peerwire.PurgePath, body, resp, c.cfg.Timeout); err != nil {
		return peerwire.PurgeAnswer{}, err
	}
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		return peerwire.PurgeAnswer{}, fmt.Errorf("peer %s purge: status %d: %s", addr, sc, trimBody(resp.Body()))
	}
	var a peerwire.PurgeAnswer
	if err := json.Unmarshal(resp.Body(), &a); err != nil {
		return peerwire.PurgeAnswer{}, fmt.Errorf("peer %s purge: %w: %w", addr, peerwire.ErrBadMessage, err)
	}
	return a, nil
}
