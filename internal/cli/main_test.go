package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// commands run edges, origins and benches in process, and each must stop
// everything it started when its context ends.
//
// fasthttp's own timers are ignored: none holds a connection. The Date
// header refresher and the default dialer's DNS cache cleaner live as long
// as the process; a client's connection cleaners and a server's idle-worker
// cleaner sleep up to 10 s (30 s for an edge's peer client) before they
// notice there is nothing left to do. All but the DNS cleaner sit in
// time.Sleep, so they are named anywhere in the stack rather than at its
// top.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}
