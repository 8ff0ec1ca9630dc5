package main

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
Both support ranges and conditional requests; GET /.edgecache/stats reports
the requests and body bytes served, to measure origin offload.`

// originShutdownGrace is how long in-flight responses may take to finish
// once the command is asked to stop.
const originShutdownGrace = 5 * time.Second

// runOrigin is the origin subcommand: it serves until ctx ends, then shuts
// down gracefully.
func runOrigin(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("origin", originSynopsis, stdout)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on (port 0 picks a free port; the log says which)")
	dir := fs.String("dir", "", "directory whose files are served")
	synthetic := fs.Bool("synthetic", false, "serve synthetic objects at /synthetic/<size>/<name>")
	cacheControl := fs.String("cache-control", "public, max-age=3600", "Cache-Control sent with every object")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if *dir == "" && !*synthetic {
		return usagef("edgecache origin: give --dir DIR or --synthetic")
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	srv, err := origin.NewServer(origin.ServerConfig{
		Dir:          *dir,
		Synthetic:    *synthetic,
		Logger:       log,
		CacheControl: *cacheControl,
	})
	if err != nil {
		return usagef("edgecache origin: invalid value %q for --dir: %v", *dir, err)
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
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
	log.Info("origin listening", "url", "http://"+ln.Addr().String(), "dir", *dir, "synthetic", *synthetic)

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err // Serve never returns nil; it failed before any shutdown
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), originShutdownGrace)
	defer cancel()
	err = hs.Shutdown(sctx)
	if err != nil {
		// The grace period ran out: cut the remaining connections.
		err = errors.Join(fmt.Errorf("shutdown: %w", err), hs.Close())
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	st := srv.Stats()
	log.Info("origin stopped", "requests", st.Requests, "body_bytes", st.BodyBytes)
	return err
}
