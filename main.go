// Command edgecache is a P2P content-delivery edge cache: one binary whose
// subcommands run an edge node, a reference origin, the benchmark and a
// local demo (package internal/cli). Every flag is also read from its
// EDGECACHE_* environment twin.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgecache/edgecache/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
