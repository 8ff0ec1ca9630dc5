// Package peerhttp carries the peer protocol over HTTP with fasthttp: the
// Client other members are reached by, which implements engine.Peers, and
// the Server that answers them on the peer listener from the node's
// engine.
//
// Every request is signed (peerwire.Auth) and nothing is answered before
// its signature is checked. It maps the protocol's statuses onto the
// engine's errors and back, and decides nothing else: which member to ask,
// when to hedge and whom to suspect are the engine's. It never imports
// the edge.
package peerhttp
