// Package chunk holds edgecache's chunk-level building blocks: the names of
// chunks (Key, Version), the Reed-Solomon codec that splits a chunk into k
// data + m parity shards and rebuilds it from any k (Codec), the
// self-describing frame a shard travels and rests in (Shard, AppendFrame,
// DecodeFrame), and the byte-bounded LRU memory stores (Store).
//
// A chunk is a fixed-size slice of one version of one object. Its Key names
// the object, the version and the index, so a changed object never mixes
// with an old one, and its String is the input of the ring's placement hash.
//
// # Integrity
//
// Every shard carries xxhash64 checksums of itself and of its whole chunk.
// DecodeFrame rejects a shard whose checksum fails (ErrCorrupt: treat it as
// missing); Reconstruct and Rebuild reject shards that do not belong together
// (ErrMismatch) and never return a chunk whose checksum fails (ErrCorrupt).
//
// # Frame format
//
// All integers big-endian; n is the key length, L the shard length:
//
//	offset  size  field
//	0       4     magic "ECSH"
//	4       1     format version (1)
//	5       1     k, data shards (1..255)
//	6       1     m, parity shards (0..255, k+m <= 256)
//	7       1     shard index (0..k+m-1)
//	8       4     chunk length (>= 1)
//	12      4     shard length L (= ceil(chunk length / k))
//	16      2     key length n
//	18      n     key, Key.String()
//	18+n    8     xxhash64 of the shard bytes
//	26+n    8     xxhash64 of the whole chunk
//	34+n    8     xxhash64 of bytes [0, 34+n): the header checksum
//	42+n    L     shard bytes
//
// DecodeFrame accepts a frame only if every field is in range and the
// lengths add up to exactly the bytes given; the decoded Shard's Bytes alias
// the frame.
//
// # What this package must never do
//
// It sits at the bottom of the import graph: it must never import edge,
// ring, origin or bench, nor do I/O (network, files, clocks, logging). It
// computes on bytes it is given, which keeps it testable without sockets and
// lets every higher layer share it. Anything it is given by a peer (frames,
// keys) is untrusted: no input may make it panic or read outside its bounds.
package chunk
