// Command edgecache is a P2P content-delivery edge cache: one binary whose
// subcommands run an edge node, a reference origin, the benchmark and a
// local demo. Every flag is also read from its EDGECACHE_* environment twin.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const topUsage = `edgecache: a P2P content-delivery edge cache

usage: edgecache <command> [flags]

commands:
  edge     run an edge node in front of an HTTP origin
  origin   run the reference origin (a directory, or synthetic objects)
  bench    measure throughput, latency and origin offload of a deployment
  demo     stream built-in video through a ring of 3 local edges; open the printed URL
  healthcheck  exit 0 if an edge's admin endpoint answers 2xx (the container health check)
  purge    drop an object from every edge of a cluster (signed with the cluster secret)

Run 'edgecache <command> --help' for the flags of a command.
`

// command is one subcommand: it parses its own flags and runs until ctx ends.
type command func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error

var commands = map[string]command{
	"edge":        runEdge,
	"origin":      runOrigin,
	"bench":       runBench,
	"healthcheck": runHealthcheck,
	"demo":        runDemo,
	"purge":       runPurge,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and maps its error to an exit status:
// 2 for a usage error (one line naming the flag), 1 for any other failure.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, topUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "edgecache: unknown command %q (try 'edgecache --help')\n", args[0])
		return 2
	}
	err := cmd(ctx, args[1:], env, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, ue.msg)
		return 2
	default:
		fmt.Fprintf(stderr, "edgecache %s: %v\n", args[0], err)
		return 1
	}
}
