package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// Origin is an in-memory origin: objects with a strong ETag (or the
// fields a test gives them), and the count of what it was asked. It
// answers as origin.Client does for an HTTP origin. It is safe for
// concurrent use.
type Origin struct {
	mu      sync.Mutex
	objects map[string]*originObject
	fail    map[string]error
	lookups map[string]int // path -> First calls
	reads   map[string]int // path -> ranged reads
	streams map[string]int // path -> streamed reads
}

type originObject struct {
	data        []byte
	status      int
	header      http.Header
	ignoreRange bool
}

// NewOrigin returns an origin with no objects.
func NewOrigin() *Origin {
	return &Origin{objects: map[string]*originObject{}, fail: map[string]error{},
		lookups: map[string]int{}, reads: map[string]int{}, streams: map[string]int{}}
}

// LastModified is the Last-Modified of every object Put makes.
var LastModified = time.Unix(1_700_000_000, 0).UTC()

// Put makes path hold data, as version etag (a quoted strong ETag),
// fresh for an hour, served with ranges.
func (o *Origin) Put(path string, data []byte, etag string) {
	o.PutWith(path, http.StatusOK, data, http.Header{
		"Etag":          {etag},
		"Last-Modified": {LastModified.Format(http.TimeFormat)},
		"Content-Type":  {"video/mp4"},
		"Cache-Control": {"max-age=3600"},
	}, false)
}

// PutWith makes path answer status with these fields and data; with
// ignoreRange it answers every request with the whole body, as an origin
// without ranges does.
func (o *Origin) PutWith(path string, status int, data []byte, header http.Header, ignoreRange bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.objects[path] = &originObject{data: data, status: status, header: header, ignoreRange: ignoreRange}
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

// Lookups is how many first requests (First) path had.
func (o *Origin) Lookups(path string) int { return o.count(o.lookups, path) }

// Reads is how many ranged reads of path the origin served or refused.
func (o *Origin) Reads(path string) int { return o.count(o.reads, path) }

// Streams is how many reads of path to its end it served or refused.
func (o *Origin) Streams(path string) int { return o.count(o.streams, path) }

// Requests is every request path had.
func (o *Origin) Requests(path string) int { return o.Lookups(path) + o.Reads(path) + o.Streams(path) }

func (o *Origin) count(m map[string]int, path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return m[path]
}

// Meta is the version of path as ReadRange and Stream take it.
func (o *Origin) Meta(path string) origin.Meta {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj := o.objects[path]
	m := origin.Meta{Size: int64(len(obj.data)), ETag: obj.header.Get("ETag")}
	m.LastModified, _ = http.ParseTime(obj.header.Get("Last-Modified"))
	return m
}

func (o *Origin) lookup(path string) (*originObject, error) {
	if err := o.fail[path]; err != nil {
		return nil, err
	}
	obj, ok := o.objects[path]
	if !ok {
		return &originObject{status: http.StatusNotFound, data: []byte("not found\n"), header: http.Header{}}, nil
	}
	return obj, nil
}

// First is engine.Origin's.
func (o *Origin) First(_ context.Context, path string, _ http.Header, window int64, old *origin.Meta) (*origin.First, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lookups[path]++
	obj, err := o.lookup(path)
	if err != nil {
		return nil, err
	}
	h := obj.header.Clone()
	if old != nil && old.ETag != "" && old.ETag == h.Get("ETag") {
		return &origin.First{Status: http.StatusNotModified, Header: h, Size: -1}, nil
	}
	size := int64(len(obj.data))
	head := obj.data[:min(window, size)]
	f := &origin.First{Status: obj.status, Header: h, Size: size, Head: bytes.Clone(head)}
	switch {
	case obj.status == http.StatusOK && !obj.ignoreRange:
		f.Ranges = true
	case int64(len(head)) < size:
		f.Rest = io.NopCloser(bytes.NewReader(obj.data[len(head):]))
	}
	return f, nil
}

// current checks that m is path's version now.
func (o *Origin) current(path string, m origin.Meta) (*originObject, error) {
	obj, err := o.lookup(path)
	switch {
	case err != nil:
		return nil, err
	case obj.status != http.StatusOK:
		return nil, &origin.StatusError{Code: obj.status}
	case obj.header.Get("ETag") != m.ETag || int64(len(obj.data)) != m.Size:
		return nil, fmt.Errorf("%s: %w", path, origin.ErrChanged)
	}
	return obj, nil
}

// ReadRange is engine.Origin's: the version m names, or ErrChanged.
func (o *Origin) ReadRange(_ context.Context, path string, m origin.Meta, _ http.Header, off int64, dst []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads[path]++
	obj, err := o.current(path, m)
	switch {
	case err != nil:
		return err
	case obj.ignoreRange:
		return fmt.Errorf("%s: 200 for a range: %w", path, origin.ErrBadResponse)
	case off < 0 || off+int64(len(dst)) > int64(len(obj.data)):
		return fmt.Errorf("%s: range %d+%d outside %d bytes: %w", path, off, len(dst), len(obj.data), origin.ErrBadResponse)
	}
	copy(dst, obj.data[off:])
	return nil
}

// Stream is engine.Origin's: the version m names from off, or ErrChanged.
func (o *Origin) Stream(_ context.Context, path string, m origin.Meta, _ http.Header, off int64) (io.ReadCloser, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.streams[path]++
	obj, err := o.current(path, m)
	switch {
	case err != nil:
		return nil, err
	case obj.ignoreRange && off > 0:
		return nil, fmt.Errorf("%s: 200 for bytes from %s: %w", path, strconv.FormatInt(off, 10), origin.ErrChanged)
	}
	return io.NopCloser(bytes.NewReader(obj.data[off:])), nil
}
