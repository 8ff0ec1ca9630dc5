// Package e2e is the container cluster suite: the edgecache image, an
// origin and six edges on a private Docker network, discovering each other
// through Docker's DNS for a shared network alias exactly as they would
// through a Kubernetes headless Service, while the bench drives load from
// the host and edges are killed, cut off and restarted.
//
// The tests are behind the build tag e2e and need Docker and the image
// (`make e2e` builds it, then runs them):
//
//	make e2e
//	go test -tags e2e -count=1 -v ./e2e/   # with edgecache:dev already built
//
// EDGECACHE_E2E_IMAGE names another image.
//
// What this suite must never do: reach beyond the host's loopback (every
// request from the host goes to a port published on 127.0.0.1), leave a
// container or a network behind (each test removes what it started, also
// when it fails), or wait without a bound (every loop is bounded in count
// and time).
package e2e
