package edge

import (
	"context"
	"testing"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
)

// busyDisk is a disk tier whose reads each take delay, as a device busy
// under load answers: late, but it answers, and it ends other reads all
// along (LastRead is always now).
type busyDisk struct {
	engine.Disk
	delay time.Duration
}

func (busyDisk) LastRead() time.Time { return time.Now() }

func (d busyDisk) Get(ctx context.Context, key string) ([]byte, error) {
	t := time.NewTimer(d.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.Disk.Get(ctx, key)
}

// An edge alone, restarted on a disk slower than the hedge delay, serves
// the object and its chunks from the disk rather than ask the origin, its
// only other source: a busy disk is waited for up to the peer timeout.
func TestDiskBusyAfterRestartIsWaitedFor(t *testing.T) {
	org := newTestOrigin(t)
	const chunks = 3
	data := putMovie(org, "/busy.mp4", chunks)
	dir := t.TempDir()
	n := startDiskNode(t, org.URL(), dir)
	readAll(t, n.Node, "/busy.mp4", data, chunks)
	n.stop()
	before := allGets(org, "/busy.mp4")
	m := startDiskNodeWith(t, org.URL(), dir, func(cfg *Config) {
		cfg.HedgeDelay = 20 * time.Millisecond
		cfg.PeerTimeout = 5 * time.Second
		cfg.wrapDisk = func(d engine.Disk) engine.Disk { return busyDisk{Disk: d, delay: 100 * time.Millisecond} }
	})
	readAll(t, m.Node, "/busy.mp4", data, chunks)
	if after := allGets(org, "/busy.mp4"); after != before {
		t.Errorf("origin GETs went from %d to %d with the disk busy", before, after)
	}
	if s := m.Stats(); s.ObjectsFromDisk != 1 || s.DiskSlow != 0 {
		t.Errorf("%d objects from the disk, %d slow disk reads; want 1 and 0", s.ObjectsFromDisk, s.DiskSlow)
	}
}
