package peerhttp_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgecache/edgecache/edge/internal/engine/enginetest"
	"github.com/edgecache/edgecache/edge/internal/peerhttp"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// The server answers a request that carries no credentials 401, as it
// does a bad signature, and keeps 409 for a request signed by a member
// whose chunk parameters differ: that member is told why; an outsider
// learns nothing but that it must sign. Each refusal is counted.
func TestServeRefusesUnsignedWith401AndOtherParametersWith409(t *testing.T) {
	refused := 0
	s := &peerhttp.Server{Auth: auth(), Log: slog.New(slog.DiscardHandler), Refused: func() { refused++ }}
	otherParams := peerwire.NewAuth(secret, peerwire.ClusterParams(enginetest.ChunkSize, 6, 3), time.Minute, time.Now)
	otherSecret := peerwire.NewAuth([]byte("another-secret-0123456789"), peerwire.ClusterParams(enginetest.ChunkSize, 4, 2), time.Minute, time.Now)
	for _, tc := range []struct {
		name   string
		prep   func(*fasthttp.Request)
		status int
		reason string
	}{
		{"no credentials", func(*fasthttp.Request) {}, fasthttp.StatusUnauthorized, "unsigned request"},
		{"parameters but no signature", func(r *fasthttp.Request) {
			r.Header.Set(peerwire.HdrCluster, peerwire.ClusterParams(enginetest.ChunkSize, 6, 3))
		}, fasthttp.StatusUnauthorized, "unsigned request"},
		{"another secret", func(r *fasthttp.Request) { otherSecret.SignRequest(r, "10.0.0.9:8081") },
			fasthttp.StatusUnauthorized, "bad signature"},
		{"signed, other chunk parameters", func(r *fasthttp.Request) { otherParams.SignRequest(r, "10.0.0.9:8081") },
			fasthttp.StatusConflict, "other chunk parameters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := refused
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI("http://peer" + peerwire.PingPath)
			tc.prep(&ctx.Request)
			s.Serve(&ctx)
			if got, body := ctx.Response.StatusCode(), string(ctx.Response.Body()); got != tc.status || !strings.Contains(body, tc.reason) {
				t.Errorf("%d %q, want %d with %q", got, body, tc.status, tc.reason)
			}
			if refused != before+1 {
				t.Errorf("refusals counted %d, want %d", refused, before+1)
			}
		})
	}
}
