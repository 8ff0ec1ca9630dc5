package edge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/valyala/fasthttp"
)

// serveInProcess runs one request through the client handler and writes the
// response to w, as the server would, without sockets.
func serveInProcess(b *testing.B, n *Node, ctx *fasthttp.RequestCtx, req *fasthttp.Request, w *bufio.Writer) {
	req.CopyTo(&ctx.Request)
	n.serveClient(ctx)
	if err := ctx.Response.Write(w); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if c := ctx.Response.StatusCode(); c != fasthttp.StatusPartialContent {
		b.Fatalf("status %d", c)
	}
	ctx.Response.Reset()
}

// BenchmarkHit_1MiB_Range is the hot path: a 1 MiB range of a cached
// object, aligned and unaligned (two chunks), served from local memory,
// with the node's metrics off, on (the default), and on with an access log
// (written to io.Discard, so the figure is the cost of building and
// buffering the lines). All must stay at 0 allocs/op.
func BenchmarkHit_1MiB_Range(b *testing.B) {
	const cs = 1 << 20
	org := newTestOrigin(b)
	org.put("/big.bin", &testObject{data: make([]byte, 8*cs), etag: `"big"`, modTime: confModTime})
	for _, obs := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"metrics=off", func(c *Config) { c.DisableMetrics = true }},
		{"metrics=on", func(*Config) {}},
		{"metrics=on,accesslog=on", func(c *Config) { c.AccessLog = io.Discard }},
	} {
		n := startNode(b, org.URL(), func(c *Config) {
			c.ChunkSize = cs
			c.CacheSize = 64 << 20
			obs.mutate(c)
		})
		for _, off := range []int{0, 673} {
			b.Run(fmt.Sprintf("%s/offset=%d", obs.name, off), func(b *testing.B) {
				var ctx fasthttp.RequestCtx
				var req fasthttp.Request
				ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
				req.SetRequestURI("/big.bin")
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", 2*cs+off, 3*cs+off-1))
				w := bufio.NewWriterSize(io.Discard, 64<<10)
				serveInProcess(b, n, &ctx, &req, w) // fill
				serveInProcess(b, n, &ctx, &req, w) // a sequential read: its next chunks are read ahead
				for len(n.ahead.slots) > 0 {
					runtime.Gosched() // measure the steady state, not the readahead's fills
				}
				b.SetBytes(cs)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					serveInProcess(b, n, &ctx, &req, w)
				}
			})
		}
	}
}

// BenchmarkPeerRebuild_1MiB_4x2 rebuilds a 1 MiB chunk from the shards its
// owners hold, over loopback HTTP: the cost of an X-Cache: PEER chunk.
// The rebuilt chunk is not kept, so every iteration goes to the peers.
func BenchmarkPeerRebuild_1MiB_4x2(b *testing.B) {
	const cs = 1 << 20
	org := newTestOrigin(b)
	const chunks = 8
	org.put("/r.bin", &testObject{data: make([]byte, chunks*cs), etag: `"r"`, modTime: confModTime})
	var nodes []*Node
	var sources []*testSource
	for range 6 {
		src := newTestSource()
		nodes = append(nodes, startNode(b, org.URL(), func(c *Config) {
			c.ChunkSize = cs
			c.CacheSize = 256 << 20
			c.Membership = src
			c.ClusterSecret = testSecret
		}))
		sources = append(sources, src)
	}
	var members []string
	for _, n := range nodes {
		members = append(members, n.Advertise())
	}
	for _, s := range sources {
		s.set <- members
	}
	for _, n := range nodes {
		for n.Stats().RingMembers != 6 {
			runtime.Gosched()
		}
	}
	o, err := lookupObject(nodes[0], context.Background(), "/r.bin")
	if err != nil {
		b.Fatal(err)
	}
	for idx := range int64(chunks) {
		if _, _, err := nodes[0].eng.Chunk(context.Background(), o, idx); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range nodes {
		n.eng.Settle()
	}
	reader := nodes[5]
	b.SetBytes(cs)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		key := o.ChunkKey(int64(i % chunks))
		i++
		data, err := reader.eng.Rebuild(key, int(cs))
		if err != nil || len(data) != cs {
			b.Fatalf("rebuild: %v (%d bytes)", err, len(data))
		}
	}
}
