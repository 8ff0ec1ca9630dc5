// Package systemtest holds the process-level system tests: real clients
// (headless Chromium, ffmpeg and ffprobe) playing through a ring of edges,
// edgecache processes forming a ring and holding their memory budget, the
// Kubernetes manifests (NetworkPolicies evaluated against the DaemonSet),
// the Grafana dashboard and the Prometheus alert rules checked against the
// binary they deploy, and the status page rendered in a browser.
//
// They run with every `go test ./...`; a test whose tool is missing skips,
// or fails under EDGECACHE_REQUIRE_TOOLS=1 (as `make test` sets it). Two
// optional tools only ever skip: kubectl (rendering the kustomization)
// and promtool (firing the alert rules), which `make tools` does not
// install. The container cluster suite, which needs Docker, is e2e/
// instead.
//
// The package has no code of its own beyond this file: it only tests.
package systemtest
