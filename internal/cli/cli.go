// Package cli is the edgecache command: its subcommands (edge, origin,
// bench, demo, healthcheck, purge), their flags and EDGECACHE_* environment
// twins, and the mapping of their errors to exit statuses. main calls Run
// and exits with what it returns; nothing here exits the process.
//
// Flags are read by the standard library's flag package, then ff sets
// each one the command line did not give from its EDGECACHE_* twin. A
// command's defaults are the ones its package documents (edge.
// DefaultConfig, bench.DefaultConfig): the flags point into such a Config
// and show its values as their defaults. Every problem of a configuration
// is reported at once, one line each, with exit status 2.
//
// What it must never do: hold process state between runs (signals and
// os.Exit are main's), print a secret, or start serving a configuration
// with a known problem.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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

// command is one subcommand: it parses its own flags, read from args and
// the process environment, and runs until ctx ends.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands are the subcommands by name.
var commands = map[string]command{
	"edge":        runEdge,
	"origin":      runOrigin,
	"bench":       runBench,
	"healthcheck": runHealthcheck,
	"demo":        runDemo,
	"purge":       runPurge,
}

// Commands returns the names of the subcommands.
func Commands() []string {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	return names
}

// Run runs the edgecache command line args (without the program name),
// with its flags' twins from the process environment, until ctx ends. It
// returns the exit status: 0 for success or --help, 2 for a usage error
// (each problem on its own line, naming the flag), 1 for any other
// failure.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
	err := cmd(ctx, args[1:], stdout, stderr)
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
