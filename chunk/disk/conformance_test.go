package disk_test

import (
	"context"
	"testing"

	"github.com/edgecache/edgecache/chunk/disk"
	"github.com/edgecache/edgecache/chunk/disk/disktest"
	"github.com/edgecache/edgecache/chunk/storetest"
)

// TestConformance runs the stores' common suite on the disk store, over
// the fake file system, over one that refuses O_DIRECT, and over the real
// one with O_DIRECT and buffered.
func TestConformance(t *testing.T) {
	buffered := func() *disktest.FS { fs := disktest.New(); fs.RefuseDirect(); return fs }
	for name, newFS := range map[string]func(t *testing.T) (disk.FS, string){
		"fake":          func(*testing.T) (disk.FS, string) { return disktest.New(), testDir },
		"fake buffered": func(*testing.T) (disk.FS, string) { return buffered(), testDir },
		"os":            func(t *testing.T) (disk.FS, string) { return disk.OSFS{}, t.TempDir() },
		"os buffered":   func(t *testing.T) (disk.FS, string) { return disk.OSFS{}, t.TempDir() },
	} {
		t.Run(name, func(t *testing.T) {
			type opened struct {
				fs  disk.FS
				cfg disk.Config
			}
			stores := map[storetest.Store]opened{}
			open := func(t *testing.T, cfg disk.Config) storetest.Store {
				s := mustOpen(t, cfg)
				t.Cleanup(func() { s.Close(context.Background()) }) //nolint:errcheck // closed already after a Reopen
				stores[s] = opened{fs: cfg.FS, cfg: cfg}
				return s
			}
			storetest.Run(t, storetest.Harness{
				New: func(t *testing.T, budget int64) storetest.Store {
					fs, dir := newFS(t)
					cfg := disk.Config{Dir: dir, Size: budget, RegionSize: testRegion, FS: fs, Buffered: name == "os buffered"}
					s := open(t, cfg)
					if direct := s.(*disk.Store).Stats().Direct; direct != (name == "fake" || name == "os") {
						t.Errorf("Stats().Direct = %v", direct)
					}
					return s
				},
				Reopen: func(t *testing.T, s storetest.Store) storetest.Store {
					o := stores[s]
					mustClose(t, s.(*disk.Store))
					if fake, ok := o.fs.(*disktest.FS); ok {
						o.cfg.FS = fake.Restart()
					}
					return open(t, o.cfg)
				},
			})
		})
	}
}
