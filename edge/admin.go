package edge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminServer is the admin listener's server, for operators only (players
// cannot reach it): the status page and its JSON twin, purges, liveness
// and readiness probes, metrics, the counters and the Go profiles, on one
// mux. "/{$}" is the root alone: every other unknown path is a 404.
func (n *Node) adminServer(metrics prometheus.Gatherer) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", n.serveStatusPage)
	mux.HandleFunc("GET /status.json", n.serveStatusJSON)
	mux.HandleFunc("POST /purge", n.serveAdminPurge)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", n.serveReady)
	if metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(n.Stats())
	})
	// The first tool an operator wants when an edge burns CPU.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

func (n *Node) serveReady(w http.ResponseWriter, _ *http.Request) {
	switch {
	case !n.ready.Load():
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	case !n.cluster.Synced():
		http.Error(w, "not ready: waiting for the first member list", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}
