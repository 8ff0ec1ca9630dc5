// Package peerwire is the peer protocol's wire format: the endpoints and
// headers edges exchange, the streamed shard list, the small JSON messages
// (fill requests, metadata answers, purges), and the HMAC signature that
// every peer and admin request carries.
//
// It turns bytes into values and back, and checks signatures; it never
// acts on what it decodes. Every decoder takes bytes from a peer and must
// never panic, never trust a length it has not checked, and never buffer
// more than its caller bounded. It imports chunk and origin for their
// types and nothing else of the module.
package peerwire
