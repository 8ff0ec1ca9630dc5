// Package leakcheck holds the goroutine-leak settings that the edge's
// test packages share: fasthttp's process-wide timers, which are not
// leaks. It is imported by tests only.
package leakcheck

import "go.uber.org/goleak"

// FastHTTP ignores fasthttp's own timers, none of which holds a
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
func FastHTTP() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	}
}
