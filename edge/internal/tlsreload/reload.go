package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// recheckFiles is how often, at most, a handshake looks whether the TLS
// files changed: a stat per handshake would be cheap too, but a burst of
// reconnecting players need not stat the files thousands of times.
const recheckFiles = time.Second

// stamp tells whether a file changed: its size and modification time, as
// os.Stat sees them through symlinks (a Kubernetes Secret volume swaps a
// symlink to a new directory).
type stamp struct {
	size int64
	mod  time.Time
}

func stampOf(files ...string) ([]stamp, error) {
	st := make([]stamp, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		st[i] = stamp{fi.Size(), fi.ModTime()}
	}
	return st, nil
}

// Reloading holds what was last loaded from some files and loads it again
// when they change, so that a rotated certificate (cert-manager, a renewed
// Kubernetes Secret) is used without a restart. A load that fails (a
// rotation half written) is logged, and the last good value kept.
type Reloading[T any] struct {
	files []string
	load  func() (T, error)
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	val     T
	stamps  []stamp
	checked time.Time
}

// New loads the value once, from files; that first load must succeed.
func New[T any](log *slog.Logger, now func() time.Time, load func() (T, error), files ...string) (*Reloading[T], error) {
	st, err := stampOf(files...)
	if err != nil {
		return nil, err
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	return &Reloading[T]{files: files, load: load, log: log, now: now, val: v, stamps: st, checked: now()}, nil
}

// Get returns the current value, loading it again if the files changed.
func (r *Reloading[T]) Get() T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= recheckFiles {
		r.checked = now
		st, err := stampOf(r.files...)
		if err == nil && !sameStamps(st, r.stamps) {
			v, err := r.load()
			if err != nil {
				r.log.Warn("TLS files changed but do not load; keeping the last good ones", "files", r.files, "err", err)
			} else {
				r.val, r.stamps = v, st
				r.log.Info("TLS files reloaded", "files", r.files)
			}
		}
	}
	return r.val
}

func sameStamps(a, b []stamp) bool {
	for i := range a {
		if a[i].size != b[i].size || !a[i].mod.Equal(b[i].mod) {
			return false
		}
	}
	return true
}

// KeyPair watches a certificate and key file pair.
func KeyPair(log *slog.Logger, now func() time.Time, certFile, keyFile string) (*Reloading[*tls.Certificate], error) {
	return New(log, now, func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		return &c, err
	}, certFile, keyFile)
}

// CAPool watches a file of PEM CA certificates.
func CAPool(log *slog.Logger, now func() time.Time, caFile string) (*Reloading[*x509.CertPool], error) {
	return New(log, now, func() (*x509.CertPool, error) {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA: no PEM certificate in %s", caFile)
		}
		return pool, nil
	}, caFile)
}
