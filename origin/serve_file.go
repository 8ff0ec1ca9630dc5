package origin

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
)

// serveFile serves a regular file of Dir through http.ServeContent.
// Anything that is not plainly a regular, non-hidden file inside Dir is a
// 404, so that probing learns nothing about what lies around it.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	name, ok := fileName(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	// Stat before Open: opening a FIFO or a device could block or have
	// side effects; only regular files are ever opened.
	fi, err := s.root.Stat(name)
	if err != nil {
		s.fileError(w, r, name, err)
		return
	}
	if !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	f, err := s.root.Open(name)
	if err != nil {
		s.fileError(w, r, name, err)
		return
	}
	defer f.Close()
	// Stat the open file too: the name may have been replaced in between,
	// and the validators must describe the bytes actually served.
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("ETag", fileETag(fi))
	h.Set("Content-Type", contentType(name))
	h.Set("Cache-Control", s.cfg.CacheControl)
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// fileETag is a strong validator from the file's modification time (to the
// nanosecond) and size: any rewrite of the file changes it in practice.
func fileETag(fi fs.FileInfo) string {
	return fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size())
}

// fileError answers a failed Stat or Open with a 404 whatever the cause
// (missing, unreadable, or an escape refused by os.Root), so that a probe
// cannot tell a forbidden name from an absent one. The cause is logged.
func (s *Server) fileError(w http.ResponseWriter, r *http.Request, name string, err error) {
	if !errors.Is(err, fs.ErrNotExist) {
		s.log.Debug("origin refused file", "name", name, "err", err)
	}
	http.NotFound(w, r)
}

// fileName returns the name under Dir that a request asks for, or false if
// the request must not reach the filesystem at all: a path that is not
// absolute, holds a NUL or a backslash, has an empty, ".", ".." or hidden
// (dot) segment, or whose raw form encodes a slash or backslash (%2F, %5C),
// which would make the decoded segments differ from those the client sent.
// os.Root still checks the result; this only keeps obvious probes, and
// dotfiles, away from it.
func fileName(r *http.Request) (string, bool) {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") || len(p) == 1 || strings.ContainsAny(p, "\x00\\") {
		return "", false
	}
	for _, raw := range []string{r.URL.EscapedPath(), r.RequestURI} {
		raw, _, _ = strings.Cut(raw, "?")
		raw = strings.ToLower(raw)
		if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.Contains(raw, "%00") {
			return "", false
		}
	}
	name := p[1:]
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg[0] == '.' {
			return "", false
		}
	}
	return name, true
}
