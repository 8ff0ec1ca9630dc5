package edge

import (
	"fmt"
	"net"
	"strings"
)

// listenerConflicts reports every pair of the client, peer and admin
// listeners that would bind the same port: the same address however it is
// spelled (":8080", "0.0.0.0:8080"), or a wildcard host and any host on one
// port. Port 0 picks a free port each time, so it never conflicts.
func listenerConflicts(client, peer, admin string) []error {
	ls := [...]struct{ name, addr string }{{"client", client}, {"peer", peer}, {"admin", admin}}
	var errs []error
	for i := range ls {
		for j := i + 1; j < len(ls); j++ {
			if sameListener(ls[i].addr, ls[j].addr) {
				errs = append(errs, fmt.Errorf("the %s listener (%s) and the %s listener (%s) would bind the same port",
					ls[i].name, ls[i].addr, ls[j].name, ls[j].addr))
			}
		}
	}
	return errs
}

func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return a == b && a != "" // not addresses; listening says why
	}
	if pa != pb || pa == "0" || pa == "" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return wild(ha) || wild(hb) || strings.EqualFold(ha, hb)
}
