package edge

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edgecache/edgecache/chunk"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// fakePeer is a ring member that keeps the shards pushed to it but answers
// reads wrongly, one way per mode. It does not check signatures: it stands
// for a faulty member, not an outsider.
type fakePeer struct {
	mode  string
	total int
	ln    net.Listener

	mu     sync.Mutex
	frames map[string][]byte // "key#index" -> frame
	reads  atomic.Int64      // shard reads answered
	stalls atomic.Int64      // answers left hanging ("stall mid-list")
}

func newFakePeer(t *testing.T, mode string, total int) *fakePeer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{mode: mode, total: total, ln: ln, frames: map[string][]byte{}}
	srv := &http.Server{Handler: p}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *fakePeer) addr() string { return p.ln.Addr().String() }

func (p *fakePeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == peerwire.ShardsPath && r.Method == http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		s, err := chunk.DecodeFrame(b)
		if err != nil {
			http.Error(w, "bad frame", http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.frames[s.Key.String()+"#"+strconv.Itoa(s.Index)] = b
		p.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == peerwire.ShardsPath && r.Method == http.MethodGet:
		p.reads.Add(1)
		p.serveShards(r.Context(), w, r.URL.Query().Get("key"))
	case r.URL.Path == peerwire.PingPath:
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == peerwire.FillPath && p.mode == "wrong fill":
		// A chunk whose checksum header does not match its bytes.
		w.Header().Set(peerwire.HdrFillSum, "1234")
		w.Header().Set(peerwire.HdrFillSource, "cache")
		w.Write(make([]byte, clusterChunk))
	default:
		// Fills and metadata: a leader that fails, so the next owner leads.
		http.Error(w, "fake peer", http.StatusServiceUnavailable)
	}
}

func (p *fakePeer) serveShards(ctx context.Context, w http.ResponseWriter, key string) {
	var list []byte
	p.mu.Lock()
	for i := range p.total {
		f, ok := p.frames[key+"#"+strconv.Itoa(i)]
		if !ok {
			continue
		}
		f = p.mangle(f)
		list = binary.BigEndian.AppendUint32(list, uint32(len(f)))
		list = append(list, f...)
	}
	p.mu.Unlock()
	switch {
	case len(list) == 0:
		w.WriteHeader(http.StatusNotFound)
	case p.mode == "garbage list":
		w.Write(randomBytes(rand.New(rand.NewPCG(1, 2)), 1000))
	case p.mode == "stall mid-list":
		// Half the list, then nothing until the test ends: a member that
		// answers and then hangs.
		w.Header().Set("Content-Length", strconv.Itoa(len(list)))
		w.WriteHeader(http.StatusOK)
		w.Write(list[:len(list)/2])
		w.(http.Flusher).Flush()
		p.stalls.Add(1)
		<-ctx.Done()
	case p.mode == "oversized":
		// An answer far larger than k+m frames: refused from its length,
		// never read.
		w.Header().Set("Content-Length", strconv.Itoa(1<<30))
		w.WriteHeader(http.StatusOK)
		w.Write(list) // then the connection is cut short
	default:
		w.Write(list)
	}
}

// mangle returns a frame altered the way the mode says.
func (p *fakePeer) mangle(f []byte) []byte {
	s, err := chunk.DecodeFrame(f)
	if err != nil {
		return f
	}
	switch p.mode {
	case "corrupt shard":
		g := append([]byte(nil), f...)
		g[len(g)-1] ^= 0x55 // the header and its checksum are intact
		return g
	case "foreign key":
		s.Key.Index += 1000 // a well-formed frame of another chunk
		return s.AppendFrame(nil)
	case "relabelled index":
		s.Index = (s.Index + 1) % p.total // consistent checksums, wrong place
		return s.AppendFrame(nil)
	}
	return f
}
