package origin

import (
	"errors"
	"io"
	"net/http"
)

// serveSynthetic serves a synthetic object through http.ServeContent, so
// that its range and conditional handling is exactly the directory's.
func (s *Server) serveSynthetic(w http.ResponseWriter, r *http.Request) {
	size, name, ok := ParseSyntheticPath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if size > maxSyntheticSize {
		http.Error(w, "synthetic objects are at most 1 TiB", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("ETag", SyntheticETag(size, name))
	h.Set("Content-Type", ContentType(name))
	h.Set("Cache-Control", s.cfg.CacheControl)
	http.ServeContent(w, r, name, SyntheticModTime, &syntheticReader{size: size, name: name})
}

// syntheticReader generates a synthetic object as it is read: any offset,
// no buffer proportional to the object, so objects can be many GiB.
type syntheticReader struct {
	size int64
	name string
	off  int64
}

func (r *syntheticReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.size-r.off)
	SyntheticFill(p[:n], r.size, r.name, r.off)
	r.off += n
	return int(n), nil
}

var errNegativeSeek = errors.New("origin: seek to a negative offset")

func (r *syntheticReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	case io.SeekStart:
	default:
		return r.off, errors.New("origin: bad whence")
	}
	if offset < 0 {
		return r.off, errNegativeSeek
	}
	r.off = offset
	return offset, nil
}
