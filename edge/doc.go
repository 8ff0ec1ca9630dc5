// Package edge is one edgecache node: the listeners, the handling of a
// player's request, the admin surface and the node's lifecycle, around the
// cache engine of edge/internal/engine.
//
// A node has three listeners, so that a player can never reach what is
// not for players:
//
//   - the client listener (server.go, body.go): GET and HEAD of any origin
//     path, with RFC 9110 ranges and conditionals (internal/httpsem),
//     answered from the engine chunk by chunk as the body streams;
//   - the peer listener: other edges only, every request signed
//     (internal/peerhttp, internal/peerwire);
//   - the admin listener (admin.go): the status page, purges, probes,
//     metrics, counters and profiles, for operators.
//
// New builds a node from a Config (DefaultConfig is the one source of the
// defaults) and binds its listeners; Run serves until its context ends and
// then drains; Close stops at once.
//
// # Contract
//
// A response is what the origin would have answered for that version and
// range, whichever path served it; nothing a client, a peer or an origin
// sends may crash a node or make it serve another object's bytes; the hit
// path allocates nothing. The node never decides where a chunk comes from
// (the engine does), never parses a peer message or a playlist itself
// (its internal packages do), and never keeps process-global state: the
// metrics registry, the logger and the clock come from its Config.
//
// # Layout
//
// edge/internal/* are leaf packages the node is built from: the engine,
// its fakes and conformance suite (engine, engine/enginetest), the peer
// protocol over HTTP and on the wire (peerhttp, peerwire), HTTP semantics
// (httpsem), playlists (playlist) and TLS reload (tlsreload). They may
// import chunk, ring, origin and each other, and never import edge:
// TestInternalPackagesDoNotImportEdge checks it with go list.
package edge
