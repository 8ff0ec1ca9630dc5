package disk_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/edgecache/edgecache/chunk/disk"
)

// Example keeps two values of one object on disk, reopens the store as a
// restarted process would, and purges the object for good.
func Example() {
	dir, err := os.MkdirTemp("", "edgecache-disk-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	cfg := disk.Config{Dir: dir, Size: 64 << 20}

	s, err := disk.Open(cfg)
	if err != nil {
		log.Fatal(err)
	}
	s.Put("/v/a.mp4#0", "/v/a.mp4", []byte("first chunk"))
	s.Put("/v/a.mp4#1", "/v/a.mp4", []byte("second chunk"))
	if err := s.Close(ctx); err != nil { // writes what is queued
		log.Fatal(err)
	}

	s, err = disk.Open(cfg)
	if err != nil {
		log.Fatal(err)
	}
	v, err := s.Get(ctx, "/v/a.mp4#1")
	fmt.Printf("after a restart: %q %v, %d entries\n", v, err, s.Len())
	n, err := s.RemoveGroup(ctx, "/v/a.mp4") // durable when it returns
	fmt.Println("purged:", n, err)
	if err := s.Close(ctx); err != nil {
		log.Fatal(err)
	}

	s, err = disk.Open(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx) //nolint:errcheck // the example is over
	fmt.Println("after another restart:", s.Len(), "entries")
	// Output:
	// after a restart: "second chunk" <nil>, 2 entries
	// purged: 2 <nil>
	// after another restart: 0 entries
}
