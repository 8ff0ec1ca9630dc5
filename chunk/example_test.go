package chunk_test

import (
	"fmt"
	"log"
	"time"

	"github.com/edgecache/edgecache/chunk"
)

// Example encodes a chunk into 4+2 shards, sends them through frames, loses
// two data shards on the way, and rebuilds the chunk from the other four.
func Example() {
	codec, err := chunk.NewCodec(4, 2)
	if err != nil {
		log.Fatal(err)
	}
	version := chunk.Version(`"5f3c2a9e"`, time.Time{}, 0)
	key := chunk.Key{Object: "/videos/intro.mp4", Version: version, Index: 0}
	data := []byte("The quick brown fox jumps over the lazy dog.")

	shards, err := codec.Encode(key, data)
	if err != nil {
		log.Fatal(err)
	}

	// Each surviving shard travels as a frame and is checked on arrival;
	// shards 0 and 2 never arrive.
	var received []chunk.Shard
	for _, s := range shards {
		if s.Index == 0 || s.Index == 2 {
			continue
		}
		got, err := chunk.DecodeFrame(s.AppendFrame(nil))
		if err != nil {
			log.Fatal(err)
		}
		received = append(received, got)
	}

	rebuilt, err := codec.Reconstruct(received)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key)
	fmt.Printf("%d shards of %d bytes, rebuilt from %d\n", len(shards), codec.ShardLen(len(data)), len(received))
	fmt.Printf("%s\n", rebuilt)
	// Output:
	// 17:/videos/intro.mp4,12:e:"5f3c2a9e",0
	// 6 shards of 11 bytes, rebuilt from 4
	// The quick brown fox jumps over the lazy dog.
}
