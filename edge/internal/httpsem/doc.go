// Package httpsem holds the HTTP semantics an edge applies to a request
// for one representation, as RFC 9110 gives them: byte ranges (§14) and
// preconditions (§13), answering as net/http's ServeContent does except
// where the edge departs from it on purpose (docs/design.md, "Range
// semantics").
//
// It works on header values and validators only: it never sees a
// connection, a body or the cache, and on the hit path it allocates
// nothing. Every parser takes bytes from a client and must never panic.
package httpsem
