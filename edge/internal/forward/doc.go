// Package forward moves what a client asks to the origin and what the
// origin answers to many readers: it derives the origin request from a
// client's (end-to-end fields kept, hop-by-hop ones dropped, Via and
// X-Forwarded-* added; for a cache fill, the edge's own ranges, validators
// and coding in place of the client's), and it cuts one response body into
// chunks as it flows, so that every reader of an object waits on one
// origin request (Stream).
//
// # What this package must never do
//
// It must never import edge or the engine, decide whether a response is
// stored (that is httpcache's and the engine's), or buffer a body whole:
// a Stream holds at most the chunk it is cutting and those readers wait
// for.
package forward
