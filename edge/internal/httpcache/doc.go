// Package httpcache holds the rules of a shared HTTP cache (RFC 9111, with
// RFC 9110's field syntax and RFC 9213's targeted cache fields) as pure
// functions of header values and times: which responses may be stored,
// for how long they are fresh, how old they are, which request directives
// a stored response must satisfy, how Vary selects a variant, which
// fields are stored and how a 304 refreshes them.
//
// The edge asks it questions; it answers from the values it is given. It
// parses untrusted input (origin responses, client requests) and is
// fuzzed: no input may make it panic or allocate without bound.
//
// # What this package must never do
//
// It must never import edge or any other edgecache package, nor do I/O or
// read a clock: every time is a parameter, so that freshness is tested
// without waiting.
package httpcache
