package disk_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/chunk/disk/disktest"
)

// TestCrashAtAnyByte crashes a store at points every 1500 bytes of its
// write stream (so inside records, headers, summaries and footers alike)
// and restarts it: what was flushed before is all there; of what was
// being written, a prefix survives, each value whole; and a store that
// carries on after the torn tail writes records that survive the next
// restart.
func TestCrashAtAnyByte(t *testing.T) {
	base := disktest.New()
	s := mustOpen(t, testConfig(base))
	durable := map[string][]byte{}
	for i := range 10 {
		k := fmt.Sprintf("d%d", i)
		durable[k] = value(k, 500*i+1)
		s.Put(k, "g", durable[k])
	}
	mustClose(t, s)

	later := make([]string, 30)
	for i := range later {
		later[i] = fmt.Sprintf("l%d", i)
	}
	size := func(i int) int { return 300 + i*997%9000 }
	for cut := int64(0); cut < 80*disk.BlockSize; cut += 1500 {
		fs := base.Restart()
		s := mustOpen(t, testConfig(fs))
		fs.CrashAfter(cut)
		for i, k := range later {
			s.Put(k, "g", value(k, size(i)))
		}
		s.Close(context.Background()) //nolint:errcheck // the device is dead
		if !fs.Crashed() {
			break // the whole stream fitted before the cut: every point was tried
		}

		fs = fs.Restart()
		s = mustOpen(t, testConfig(fs))
		for k, v := range durable {
			mustGet(t, s, k, v)
		}
		kept := 0
		for i, k := range later {
			got, err := s.Get(context.Background(), k)
			switch {
			case err != nil:
			case !bytes.Equal(got, value(k, size(i))):
				t.Fatalf("cut at %d: %s holds wrong bytes", cut, k)
			case kept != i:
				t.Fatalf("cut at %d: %s survived but %s did not", cut, k, later[kept])
			default:
				kept++
			}
		}
		s.Put("after", "g", value("after", 5000))
		mustClose(t, s)
		s = mustOpen(t, testConfig(fs.Restart()))
		mustGet(t, s, "after", value("after", 5000))
		if s.Len() != len(durable)+kept+1 {
			t.Fatalf("cut at %d: %d entries after the second restart, want %d", cut, s.Len(), len(durable)+kept+1)
		}
		mustClose(t, s)
	}
}
