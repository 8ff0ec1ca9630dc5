package origin

import (
	"io"
	"net/http"
	"sync/atomic"
)

// countingWriter counts the body bytes a handler writes, into the server's
// total and for the request's log line.
type countingWriter struct {
	http.ResponseWriter
	total   *atomic.Int64
	status  int
	written int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.add(int64(n))
	return n, err
}

// ReadFrom keeps http.ServeContent on the underlying writer's fast path
// (sendfile for files) while still counting: io.Copy hands the reader to
// the real ResponseWriter's own ReadFrom.
func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.add(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *countingWriter) add(n int64) {
	w.written += n
	w.total.Add(n)
}
