package origin

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
)

// serveFile serves a regular file of Dir or FS through http.ServeContent.
// Anything that is not plainly a regular, non-hidden file inside them is a
// 404, so that probing learns nothing about what lies around it.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	name, ok := fileName(r)
	if !ok || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	// Stat before Open: opening a FIFO or a device could block or have
	// side effects; only regular files are ever opened.
	fi, err := fs.Stat(s.files, name)
	if err != nil {
		s.fileError(w, r, name, err)
		return
	}
	if !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	f, err := s.files.Open(name)
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
	content, ok := f.(io.ReadSeeker)
	if !ok {
		// ServeContent needs to seek for ranges; reading the file into
		// memory instead would allocate in proportion to its size.
		s.log.Warn("origin file cannot seek", "name", name)
		http.Error(w, "file cannot seek", http.StatusInternalServerError)
		return
	}
	etag, err := s.fileETag(name, fi, content)
	if err != nil {
		s.log.Warn("origin file unreadable", "name", name, "err", err)
		http.Error(w, "file unreadable", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Content-Type", ContentType(name))
	h.Set("Cache-Control", s.cfg.CacheControl)
	http.ServeContent(w, r, name, fi.ModTime(), content)
}

// fileETag is a strong validator of a file. With a modification time it is
// made of that time (to the nanosecond) and the size: any rewrite of the
// file changes it in practice, and nothing is read. Without one (the files
// of an embed.FS), it is a hash of the content, computed on first use and
// remembered by name, which ServerConfig.FS documents; content is left at
// its start.
func (s *Server) fileETag(name string, fi fs.FileInfo, content io.ReadSeeker) (string, error) {
	if !fi.ModTime().IsZero() {
		return fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size()), nil
	}
	if etag, ok := s.sums.Load(name); ok {
		return etag.(string), nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, content); err != nil {
		return "", fmt.Errorf("hashing %s: %w", name, err)
	}
	if _, err := content.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("rewinding %s: %w", name, err)
	}
	// 128 bits of SHA-256 and the size: as strong as the validator needs.
	etag := fmt.Sprintf(`"%x-%x"`, h.Sum(nil)[:16], fi.Size())
	s.sums.Store(name, etag)
	return etag, nil
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

// fileName returns the name under Dir or FS that a request asks for, or
// false if the request must not reach the filesystem at all: a path that is not
// absolute, holds a NUL or a backslash, has an empty, ".", ".." or hidden
// (dot) segment, or whose raw form encodes a slash or backslash (%2F, %5C),
// which would make the decoded segments differ from those the client sent.
// os.Root (for Dir) still checks the result; this only keeps obvious
// probes, and dotfiles, away from it.
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
