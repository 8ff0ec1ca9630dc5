package enginetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// Origin is an in-memory origin: objects with a strong ETag, and the count
// of what it was asked. It is safe for concurrent use.
type Origin struct {
	mu      sync.Mutex
	objects map[string]originObject
	fail    map[string]error
	reads   map[string]int // path -> ranged reads
	stats   int            // Stat and Revalidate calls
}

type originObject struct {
	data []byte
	meta origin.Meta
}

// NewOrigin returns an origin with no objects.
func NewOrigin() *Origin {
	return &Origin{objects: map[string]originObject{}, fail: map[string]error{}, reads: map[string]int{}}
}

// Put makes path hold data, as version etag (a quoted strong ETag).
func (o *Origin) Put(path string, data []byte, etag string) origin.Meta {
	m := origin.Meta{Size: int64(len(data)), ETag: etag, LastModified: time.Unix(1_700_000_000, 0).UTC(),
		ContentType: "video/mp4", CacheControl: "max-age=3600", AcceptRanges: true}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.objects[path] = originObject{data: data, meta: m}
	return m
}

// Fail makes every request for path fail with err (nil: answer again).
func (o *Origin) Fail(path string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		delete(o.fail, path)
		return
	}
	o.fail[path] = err
}

// Reads is how many ranged reads of path the origin served or refused.
func (o *Origin) Reads(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reads[path]
}

// Stats is how many metadata requests (Stat, Revalidate) it had.
func (o *Origin) Stats() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats
}

func (o *Origin) lookup(path string) (originObject, error) {
	if err := o.fail[path]; err != nil {
		return originObject{}, err
	}
	obj, ok := o.objects[path]
	if !ok {
		return originObject{}, fmt.Errorf("%s: %w", path, origin.ErrNotFound)
	}
	return obj, nil
}

// Stat is engine.Origin's.
func (o *Origin) Stat(_ context.Context, path string) (origin.Meta, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats++
	obj, err := o.lookup(path)
	return obj.meta, err
}

// Revalidate is engine.Origin's.
func (o *Origin) Revalidate(_ context.Context, path string, old origin.Meta) (origin.Meta, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats++
	obj, err := o.lookup(path)
	if err != nil {
		return origin.Meta{}, false, err
	}
	return obj.meta, !obj.meta.SameVersion(old), nil
}

// ReadRange is engine.Origin's: the version m names, or ErrChanged.
func (o *Origin) ReadRange(_ context.Context, path string, m origin.Meta, off int64, dst []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads[path]++
	obj, err := o.lookup(path)
	switch {
	case err != nil:
		return err
	case !obj.meta.SameVersion(m):
		return fmt.Errorf("%s: %w", path, origin.ErrChanged)
	case off < 0 || off+int64(len(dst)) > int64(len(obj.data)):
		return fmt.Errorf("%s: range %d+%d outside %d bytes: %w", path, off, len(dst), len(obj.data), origin.ErrBadResponse)
	}
	copy(dst, obj.data[off:])
	return nil
}
