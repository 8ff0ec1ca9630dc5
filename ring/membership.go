package ring

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
)

// Source reports the cluster's members as they change. Static, DNS and
// Gossip are the three sources; the edge turns each update into a new Ring
// and Stores it in a Current.
type Source interface {
	// Run sends the full member list on updates every time it changes:
	// peer addresses (host:port), sorted, deduplicated, including this
	// edge itself where the source knows it. The first list goes out as
	// soon as it is known. Each list is a fresh slice the receiver may
	// keep. Run blocks until ctx ends, then releases everything it holds
	// (sockets, goroutines) and returns nil; it returns an error early
	// only if the source cannot work at all (a bad address, a port it
	// cannot bind).
	//
	// A send waits for the receiver, so a slow receiver delays the next
	// update, never loses the latest one; a send is abandoned when ctx
	// ends. Run must not be called twice at once on one Source.
	Run(ctx context.Context, updates chan<- []string) error
}

// normalize returns addrs sorted and deduplicated, without empty strings,
// in a new slice.
func normalize(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if a != "" {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}

// checkAddr reports whether addr is host:port with a non-empty host and a
// numeric port in 1..65535: the shape of a peer address the edge can dial.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("ring: peer address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("ring: peer address %q: missing host", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("ring: peer address %q: port must be a number in 1..65535", addr)
	}
	return nil
}

// send delivers members on updates, or gives up when ctx ends first. It
// reports whether it delivered.
func send(ctx context.Context, updates chan<- []string, members []string) bool {
	select {
	case updates <- members:
		return true
	case <-ctx.Done():
		return false
	}
}

// orDiscard returns l, or a logger that drops everything when l is nil, so
// that sources never write to a process-wide default logger.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
