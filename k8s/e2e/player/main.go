// Command player is the Kubernetes suite's stand-in for a video player in a
// pod: it reads synthetic objects through one base URL (the client Service),
// checks every byte against what the reference origin serves, and prints one
// JSON summary line on standard output for the test to read from the pod's
// log.
//
// It retries what k8s/README.md tells players to retry and nothing else: a
// connection that could not be made (the node's edge is restarting, so the
// Service has no local endpoint). A request that reached an edge and failed,
// a wrong status and a wrong byte are all counted, never retried.
//
//	player --url http://edgecache.edgecache.svc.cluster.local:8080 --objects 8 --object-size 8MiB
//	player --url ... --duration 60s --rate 10 --range-size 1MiB
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "player:", err)
		os.Exit(2)
	}
}

// run parses args, reads, and writes the summary to stdout. Only a usage
// error or a failure to write the summary is an error: what the reads did is
// in the summary, for the caller to judge.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	sum := newReader(cfg, nil).run(ctx)
	return json.NewEncoder(stdout).Encode(sum)
}

// parseConfig reads the command line into a config and validates it.
func parseConfig(args []string) (config, error) {
	fs := flag.NewFlagSet("player", flag.ContinueOnError)
	var c config
	var objectSize, rangeSize string
	fs.StringVar(&c.URL, "url", "", "base URL to read through (required)")
	fs.IntVar(&c.Objects, "objects", 8, "synthetic objects obj-0.bin .. obj-<N-1>.bin")
	fs.StringVar(&objectSize, "object-size", "8MiB", "size of each object")
	fs.IntVar(&c.Passes, "passes", 1, "whole mode: read every object whole this many times, in order")
	fs.DurationVar(&c.Duration, "duration", 0, "range mode: read random ranges for this long (0: whole mode)")
	fs.Float64Var(&c.Rate, "rate", 10, "range mode: requests started per second")
	fs.StringVar(&rangeSize, "range-size", "1MiB", "range mode: bytes of each request")
	fs.IntVar(&c.Workers, "workers", 4, "range mode: most requests in flight")
	fs.Int64Var(&c.Seed, "seed", 1, "range mode: seed of the random choices")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "bound on one attempt, connect to last byte")
	fs.DurationVar(&c.RetryFor, "retry-for", 90*time.Second, "how long a request retries connections that cannot be made")
	fs.DurationVar(&c.RetryEvery, "retry-every", 250*time.Millisecond, "pause between two connection attempts")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.ObjectSize, err = parseSize(objectSize); err != nil {
		return c, fmt.Errorf("--object-size: %w", err)
	}
	if c.RangeSize, err = parseSize(rangeSize); err != nil {
		return c, fmt.Errorf("--range-size: %w", err)
	}
	return c, c.validate()
}

// parseSize reads a byte count with an optional KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive size such as 1048576, 512KiB or 8MiB")
	}
	return n * mult, nil
}
