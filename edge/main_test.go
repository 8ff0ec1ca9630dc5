package edge

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a node
// that stops must stop every fill, placement, repair, connection and
// listener it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, fasthttpTimers()...)
}

// fasthttpTimers ignores fasthttp's own timers, none of which holds a
// connection or a request:
//   - the server's Date header refresher, started once per process and
//     never stopped (updateServerDate);
//   - the default dialer's DNS cache cleaner, started by the first dial of
//     the process (fasthttp.DialTimeout) and never stopped (tcpAddrsClean;
//     it waits on a channel, so it is the top function);
//   - a client's cleaners, which sleep up to MaxIdleConnDuration (30 s for
//     the peer client, 10 s for a default one) after the last connection
//     closed before they notice and exit (mCleaner, connsCleaner). A node's
//     Close closes the peer client's idle connections, so they hold none;
//   - a server's idle-worker cleaner, which sleeps MaxIdleWorkerDuration
//     (10 s) between rounds and sees that the server stopped only after
//     (workerPool.Start.func2). The workers themselves are stopped.
//
// The others sit in time.Sleep, so IgnoreTopFunction cannot name them:
// the function that started the sleep is below it.
func fasthttpTimers() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	}
}
