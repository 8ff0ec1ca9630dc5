package origin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// StatsPath is where the Server answers with its ServerStats as JSON. It is
// a dot path, so it can never collide with a file of ServerConfig.Dir or FS
// (dotfiles are refused), and requests to it are not counted; nor are
// requests to /, the page that shows the same counters to a person.
const StatsPath = "/.edgecache/stats"

// maxSyntheticSize caps synthetic objects at 1 TiB: far beyond any test,
// and a bound on what a typo in a URL can make the server generate.
const maxSyntheticSize = 1 << 40

// ServerConfig configures the reference origin. At least one of Dir, FS and
// Synthetic must be set; Dir and FS exclude each other.
type ServerConfig struct {
	// Dir is a directory whose regular files are served ("" for none).
	Dir string
	// FS is a file system whose regular files are served (nil for none),
	// such as an embed.FS: the demo's built-in media library. Its files
	// must implement io.Seeker (those of embed.FS, os.DirFS and
	// fstest.MapFS do); others are answered with 500. A file without a
	// modification time (embed.FS has none) gets an ETag from a hash of
	// its content, computed once per name: such a file must not change
	// while the Server serves it.
	FS fs.FS
	// Synthetic serves SyntheticPrefix + "<size>/<name>" objects, generated
	// by SyntheticFill. They take precedence over Dir and FS for that prefix.
	Synthetic bool
	// Logger receives one debug line per request and a warning per
	// unexpected failure. Default: discard.
	Logger *slog.Logger
	// CacheControl is sent with every object response (200, 206, 304).
	// Default "public, max-age=3600".
	CacheControl string
	// Index lists the files of Dir or FS (not dotfiles, at most 1000) on
	// the page at /, which otherwise shows the counters and the synthetic
	// paths only. Default false: a directory's names stay its own.
	Index bool
}

// DefaultCacheControl is the Cache-Control a Server sends unless its
// ServerConfig says otherwise.
const DefaultCacheControl = "public, max-age=3600"

// Server is the reference origin: an http.Handler serving a directory (or
// an fs.FS) and synthetic objects with full RFC 9110 range and conditional support (it
// uses http.ServeContent for both). It counts requests and body bytes so
// that tests and the benchmark can measure origin egress.
type Server struct {
	cfg       ServerConfig
	root      *os.Root // nil without Dir
	files     fs.FS    // root.FS() or cfg.FS; nil for neither
	sums      sync.Map // name → ETag of a file of FS without a modification time
	log       *slog.Logger
	requests  atomic.Int64
	bodyBytes atomic.Int64
}

// ServerStats are the server's counters since it was created. Requests to
// StatsPath and to / are not counted.
type ServerStats struct {
	Requests  int64 `json:"requests"`   // requests answered, whatever their status
	BodyBytes int64 `json:"body_bytes"` // response body bytes written
}

// NewServer returns a Server for cfg. It fails if none of Dir, FS and
// Synthetic is set, if both Dir and FS are, or if Dir is not a directory.
// Close releases the directory.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Dir == "" && cfg.FS == nil && !cfg.Synthetic {
		return nil, errors.New("origin: server needs a Dir or an FS, Synthetic, or both")
	}
	if cfg.Dir != "" && cfg.FS != nil {
		return nil, errors.New("origin: server takes a Dir or an FS, not both")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CacheControl == "" {
		cfg.CacheControl = DefaultCacheControl
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if cfg.Dir != "" {
		fi, err := os.Stat(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("origin: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("origin: %s is not a directory", cfg.Dir)
		}
		// os.Root resolves every name inside Dir, symlinks included, and
		// refuses any that would leave it: escapes are impossible by
		// construction, not by filtering alone.
		root, err := os.OpenRoot(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("origin: %w", err)
		}
		s.root = root
		// Served through its fs.FS view, the same code path as
		// ServerConfig.FS: the view still resolves every name with root.
		s.files = root.FS()
	}
	if cfg.FS != nil {
		s.files = cfg.FS
	}
	return s, nil
}

// Close releases the served directory. The server must not serve after it.
func (s *Server) Close() error {
	if s.root == nil {
		return nil
	}
	return s.root.Close()
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{Requests: s.requests.Load(), BodyBytes: s.bodyBytes.Load()}
}

// ServeHTTP serves StatsPath, synthetic objects and files of Dir or FS, GET
// and HEAD only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case StatsPath:
		s.serveStats(w, r)
		return
	case "/":
		s.serveIndex(w, r)
		return
	}
	start := time.Now()
	s.requests.Add(1)
	cw := &countingWriter{ResponseWriter: w, total: &s.bodyBytes}
	s.serve(cw, r)
	if !s.log.Enabled(r.Context(), slog.LevelDebug) {
		return // skip building the record: this is the benchmark's hot path
	}
	s.log.Debug("origin request", "method", r.Method, "path", r.URL.Path, "range", r.Header.Get("Range"),
		"status", cw.status, "bytes", cw.written, "duration", time.Since(start))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if s.cfg.Synthetic && strings.HasPrefix(r.URL.Path, SyntheticPrefix) {
		s.serveSynthetic(w, r)
		return
	}
	if s.files != nil {
		s.serveFile(w, r)
		return
	}
	http.NotFound(w, r)
}

func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	if err := json.NewEncoder(w).Encode(s.Stats()); err != nil {
		s.log.Debug("origin stats write failed", "err", err)
	}
}
