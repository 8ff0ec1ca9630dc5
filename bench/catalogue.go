package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// ReadCatalogue parses a list of object paths, one per line, as given to
// `edgecache bench --paths FILE`:
//
//	# comment lines and blank lines are ignored
//	/videos/a.mp4 73400320     a path and its size in bytes
//	/videos/b.mp4              a path alone: its size is asked for with HEAD
//
// Synthetic paths (origin.SyntheticPath) carry their own size.
func ReadCatalogue(r io.Reader) ([]Object, error) {
	var objs []Object
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) > 2 {
			return nil, fmt.Errorf("line %d: want PATH [SIZE], got %d fields", line, len(fields))
		}
		o := Object{Path: fields[0]}
		if !strings.HasPrefix(o.Path, "/") {
			return nil, fmt.Errorf("line %d: path %q must start with /", line, o.Path)
		}
		if len(fields) == 2 {
			n, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("line %d: size %q is not a positive byte count", line, fields[1])
			}
			o.Size = n
		}
		objs = append(objs, o)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("no paths")
	}
	return objs, nil
}

// object is a catalogue entry ready for the workload: its size is known and,
// when it is synthetic, so is the name its bytes derive from.
type object struct {
	id        int // the first object of the catalogue with this path: the same bytes
	path      string
	size      int64
	synthetic bool
	name      string // the synthetic name, for origin.SyntheticFill
}

// syntheticCatalogue is the default catalogue: n objects of size bytes.
func syntheticCatalogue(n int, size int64) []object {
	objs := make([]object, n)
	for i := range objs {
		name := "obj-" + strconv.Itoa(i) + ".bin"
		objs[i] = object{path: origin.SyntheticPath(size, name), size: size, synthetic: true, name: name}
	}
	return objs
}

// resolveCatalogue turns the configured catalogue into objects with sizes,
// asking base (a target or the verify origin) with HEAD for the sizes the
// list does not give. This happens before measurement starts.
func resolveCatalogue(ctx context.Context, list []Object, base target, timeout time.Duration) ([]object, error) {
	objs := make([]object, 0, len(list))
	hc := &http.Client{Timeout: timeout}
	for _, o := range list {
		ob := object{path: o.Path, size: o.Size}
		if size, name, ok := origin.ParseSyntheticPath(o.Path); ok {
			if o.Size != 0 && o.Size != size {
				return nil, fmt.Errorf("%s: listed size %d but the synthetic path says %d", o.Path, o.Size, size)
			}
			ob.size, ob.synthetic, ob.name = size, true, name
		}
		if ob.size == 0 {
			n, err := headSize(ctx, hc, base.url(o.Path))
			if err != nil {
				return nil, err
			}
			ob.size = n
		}
		if ob.size < 1 {
			return nil, fmt.Errorf("%s: empty object", o.Path)
		}
		objs = append(objs, ob)
	}
	return objs, nil
}

func headSize(ctx context.Context, hc *http.Client, u string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", u, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("size of %s: HEAD answered %s", u, resp.Status)
	}
	if resp.ContentLength < 0 {
		return 0, fmt.Errorf("size of %s: HEAD gave no Content-Length", u)
	}
	return resp.ContentLength, nil
}
