package peerhttp_test

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/engine/enginetest"
	"github.com/edgecache/edgecache/edge/internal/peerhttp"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// loopback carries the peer protocol between members over HTTP on
// loopback: each member a Server on a listener of its own, reached by a
// Client, as between edges.
type loopback struct {
	mu  sync.Mutex
	lns map[string]net.Listener
}

var secret = []byte("0123456789abcdef-test-secret")

func auth() *peerwire.Auth {
	return peerwire.NewAuth(secret, peerwire.ClusterParams(enginetest.ChunkSize, 4, 2), time.Minute, time.Now)
}

func listen(t testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func (l *loopback) Addr(t testing.TB) string {
	ln := listen(t)
	t.Cleanup(func() { ln.Close() })
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lns[ln.Addr().String()] = ln
	return ln.Addr().String()
}

func (l *loopback) Dead(t testing.TB) string {
	ln := listen(t)
	ln.Close()
	return ln.Addr().String()
}

func (l *loopback) Peers(t testing.TB, self string) engine.Peers {
	codec, err := chunk.NewCodec(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	c := peerhttp.NewClient(peerhttp.ClientConfig{
		Self: self, Auth: auth(), DialTimeout: time.Second, Timeout: 2 * time.Second,
		FillTimeout: 5 * time.Second, PingTimeout: time.Second,
		MaxResponse: peerhttp.MaxResponse(enginetest.ChunkSize, codec),
	})
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func (l *loopback) Serve(t testing.TB, addr string, e *engine.Engine) {
	l.mu.Lock()
	ln := l.lns[addr]
	l.mu.Unlock()
	s := &peerhttp.Server{Engine: e, Auth: auth(), Log: slog.New(slog.DiscardHandler)}
	srv := &fasthttp.Server{Handler: s.Serve, CloseOnShutdown: true}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
}

// The HTTP client and server keep the contract of engine.Peers that the
// in-memory network keeps.
func TestHTTPPeers(t *testing.T) {
	enginetest.TestPeers(t, &loopback{lns: map[string]net.Listener{}})
}
