// Package enginetest has what tests of the engine need and the engine
// itself must not hold: an in-memory origin (Origin), an in-memory network
// of engines with faults to inject (Network: slow, down, hanging, lying
// and stalling members), and the conformance suite of engine.Peers
// (TestPeers) that the in-memory network and the edge's HTTP client and
// server both pass, so that what the engine is tested against in memory
// is what it gets over the network.
//
// Everything here follows the real clock (time.Sleep, timers), so that a
// test inside a testing/synctest bubble runs in virtual time: a member
// that hangs for the whole peer timeout costs the test nothing.
package enginetest
