package ring

import (
	"context"
	"slices"
)

// Static returns a Source that sends addrs (normalized: sorted,
// deduplicated, empty strings dropped) once and then waits for its context
// to end. It is the --peers A,B,C list; the caller includes its own address
// in addrs if it wants to be on the ring.
//
// Run returns an error, without sending, if an address is not host:port
// with a numeric port, so that a typo stops the edge at start-up rather
// than placing shards on a peer nobody can reach.
func Static(addrs []string) Source {
	return static(normalize(addrs))
}

type static []string

func (s static) Run(ctx context.Context, updates chan<- []string) error {
	for _, a := range s {
		if err := checkAddr(a); err != nil {
			return err
		}
	}
	if send(ctx, updates, slices.Clone([]string(s))) {
		<-ctx.Done()
	}
	return nil
}
