package edge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
)

// poisoningDisk lends what the disk tier lends, and overwrites each buffer
// as it is given back: a body that sent a lent chunk's bytes after their
// release would send 0xEE bytes, which the tests' byte checks see.
type poisoningDisk struct {
	engine.Disk
	lent, outstanding *atomic.Int64
}

func (d poisoningDisk) Lend(ctx context.Context, key string) (engine.Lent, error) {
	v, err := d.Disk.(engine.Lender).Lend(ctx, key)
	if err != nil {
		return nil, err
	}
	d.lent.Add(1)
	d.outstanding.Add(1)
	return &poisoned{Lent: v, outstanding: d.outstanding}, nil
}

type poisoned struct {
	engine.Lent
	outstanding *atomic.Int64
	once        sync.Once
}

func (p *poisoned) Release() {
	p.once.Do(func() {
		b := p.Bytes()
		for i := range b {
			b[i] = 0xEE
		}
		p.outstanding.Add(-1)
		p.Lent.Release()
	})
}

// Chunks read from the disk for a response are lent by the disk (no
// fresh buffer each), sent whole before their buffers go back, and every
// buffer goes back: after whole responses, multipart ones, and one whose
// client left halfway.
func TestDiskLentChunksAreSentBeforeTheirRelease(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 8
	paths := []string{"/lent-whole.mp4", "/lent-multi.mp4", "/lent-gone.mp4"}
	data := map[string][]byte{}
	for _, p := range paths {
		data[p] = putMovie(org, p, chunks)
	}
	var lent, outstanding atomic.Int64
	n := startDiskNodeWith(t, org.URL(), t.TempDir(), func(cfg *Config) {
		cfg.Readahead = 3 // several lent chunks in flight for one body
		cfg.wrapDisk = func(d engine.Disk) engine.Disk {
			return poisoningDisk{Disk: d, lent: &lent, outstanding: &outstanding}
		}
	})
	for _, p := range paths {
		readAll(t, n.Node, p, data[p], chunks)
	}
	n.eng.Settle()
	n.eng.Store().RemoveFunc(func(engine.StoreKey) bool { return true })

	whole := data[paths[0]]
	if res := do(t, http.MethodGet, "http://"+n.Addr()+paths[0], nil); res.status != http.StatusOK || !bytes.Equal(res.body, whole) {
		t.Fatalf("whole object from the disk: status %d, identical=%v", res.status, bytes.Equal(res.body, whole))
	}
	if lent.Load() < chunks {
		t.Errorf("%d chunks lent for a whole object of %d read from the disk, want all", lent.Load(), chunks)
	}

	multi := data[paths[1]]
	a, b := clusterChunk/2, 5*clusterChunk+100
	res := do(t, http.MethodGet, "http://"+n.Addr()+paths[1], http.Header{"Range": {fmt.Sprintf("bytes=0-9,%d-%d", a, b)}})
	if res.status != http.StatusPartialContent || !bytes.Contains(res.body, multi[a:b+1]) || !bytes.Contains(res.body, multi[:10]) {
		t.Fatalf("multipart ranges from the disk: status %d, the parts there: %v %v", res.status,
			bytes.Contains(res.body, multi[:10]), bytes.Contains(res.body, multi[a:b+1]))
	}

	conn, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: edge\r\n\r\n", paths[2])
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("a client that leaves halfway: %q, %v", line, err)
	}
	conn.Close()

	deadline := time.Now().Add(10 * time.Second)
	for outstanding.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if k := outstanding.Load(); k != 0 {
		t.Errorf("%d lent buffers never given back", k)
	}
}
