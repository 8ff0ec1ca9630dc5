package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/edgecache/edgecache/origin"
)

const originSynopsis = `Run the reference origin: the files of a directory, and/or synthetic
objects at /synthetic/<size>/<name> whose bytes any client can recompute.
Both support ranges and conditional requests; / lists what it serves with
its counters, and GET /.edgecache/stats reports the requests and body bytes
served as JSON, to measure origin offload.`

// originShutdownGrace is how long in-flight responses may take to finish
// once the command is asked to stop.
const originShutdownGrace = 5 * time.Second

// runOrigin is the origin subcommand: it serves until ctx ends, then shuts
// down gracefully.
func runOrigin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("origin", originSynopsis, stdout)
	listen := "127.0.0.1:9000"
	cfg := origin.ServerConfig{CacheControl: origin.DefaultCacheControl}
	f.Addr(&listen, "listen", "address to listen on (port 0 picks a free port; the log says which)")
	f.String(&cfg.Dir, "dir", "directory whose files are served")
	f.Bool(&cfg.Synthetic, "synthetic", "serve synthetic objects at /synthetic/<size>/<name>")
	f.String(&cfg.CacheControl, "cache-control", "Cache-Control sent with every object")
	f.Bool(&cfg.Index, "index", "list the files of --dir on the page at / (which always shows the counters)")
	var logs logFlags
	logs.register(f, "info")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	f.require("listen", listen, "127.0.0.1:9000")
	if cfg.Dir == "" && !cfg.Synthetic {
		f.p.addf("give --dir DIR or --synthetic")
	}
	log, err := logs.logger(stderr)
	f.p.add(err)
	if err := f.problems(); err != nil {
		return err
	}
	cfg.Logger = log
	srv, err := origin.NewServer(cfg)
	if err != nil {
		return usagef("edgecache origin: invalid value %q for --dir: %v", cfg.Dir, err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", listen, err)
	}
	log.Info("origin listening", "url", "http://"+ln.Addr().String(), "dir", cfg.Dir, "synthetic", cfg.Synthetic)
	err = serveOrigin(ctx, ln, srv, log)
	st := srv.Stats()
	log.Info("origin stopped", "requests", st.Requests, "body_bytes", st.BodyBytes)
	return err
}

// serveOrigin serves srv on ln until ctx ends, then lets the responses in
// flight finish for originShutdownGrace.
func serveOrigin(ctx context.Context, ln net.Listener, srv http.Handler, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		// Requests are GET and HEAD, without bodies worth waiting for.
		ReadTimeout: 10 * time.Second,
		// No WriteTimeout: a full GET of a multi-GiB object legitimately
		// takes minutes. A stalled reader is bounded by TCP keep-alives.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err // Serve never returns nil; it failed before any shutdown
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), originShutdownGrace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		// The grace period ran out: cut the remaining connections.
		err = errors.Join(fmt.Errorf("shutdown: %w", err), hs.Close())
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
