package origin

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// First is the origin's first answer about an object: its status, its
// fields and the first window of its body, from one request. An origin
// that honours Range answers the window alone (206); one that does not
// sends the whole body (200), which the caller reads on from Rest; any
// other status comes with its own body.
type First struct {
	// Status is the origin's status, 200 for a 206 that answered the
	// window of a whole object (the status the object has).
	Status int
	// Header holds the fields as received, less the framing of a 206
	// window (its Content-Range and Content-Length, which describe the
	// window, not the object).
	Header http.Header
	// Size is the body's whole length: the 206's total, the announced or
	// counted length of any other body; -1 when the origin did not say and
	// the body goes on past the window.
	Size int64
	// Head is the start of the body: the window, or all of a shorter body.
	Head []byte
	// Rest is the open remainder of a body the origin sent whole and that
	// goes on past the window; nil otherwise. The caller must close it.
	Rest io.ReadCloser
	// Ranges reports that the origin answered the window with 206: later
	// parts of the body can be read as ranges.
	Ranges bool
}

// First asks for the object at path with one GET carrying the fields of
// header (sent as they are) and Range for its first window bytes. With
// old, it is a revalidation: If-None-Match and If-Modified-Since carry
// old's validators, and a 304 comes back as Status 304 with its fields. A
// 416 that says the object is empty is asked again without Range. Any
// status is an answer; an error means there is none, or that a 206 was
// not the window asked for (ErrBadResponse).
func (c *Client) First(ctx context.Context, path string, header http.Header, window int64, old *Meta) (*First, error) {
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if old != nil {
		if old.ETag != "" {
			h.Set("If-None-Match", old.ETag)
		}
		if !old.LastModified.IsZero() {
			h.Set("If-Modified-Since", old.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	h.Set("Range", "bytes=0-"+strconv.FormatInt(window-1, 10))
	f, err := c.first(ctx, path, h, window)
	if err == nil && f.Status == http.StatusRequestedRangeNotSatisfiable && emptyObject(f.Header) {
		h.Del("Range")
		f, err = c.first(ctx, path, h, window)
	}
	if err != nil {
		return nil, c.fail(err, "GET %s", path)
	}
	return f, nil
}

func (c *Client) first(ctx context.Context, path string, h http.Header, window int64) (*First, error) {
	resp, err := c.Fetch(ctx, Request{Path: path, Header: h})
	if err != nil {
		return nil, err
	}
	f := &First{Status: resp.Status, Header: resp.Header, Size: resp.ContentLength}
	if resp.Status == http.StatusPartialContent {
		defer resp.Body.Close()
		return f, f.window(resp, window)
	}
	if resp.Status == http.StatusNotModified {
		resp.Body.Close()
		f.Size = -1
		return f, nil
	}
	buf := make([]byte, window)
	n, err := readUpTo(resp.Body, buf)
	f.Head = buf[:n]
	switch {
	case err == io.EOF:
		resp.Body.Close()
		f.Size = int64(n)
	case err != nil:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: reading the first %d bytes: %w", ErrBadResponse, window, err)
	case f.Size == int64(n):
		resp.Body.Close()
	default:
		f.Rest = resp.Body
	}
	return f, nil
}

// readUpTo fills buf from r, and returns io.EOF only for a body that
// ended cleanly before buf was full. io.ReadFull cannot tell that end
// from a cut one: net/http reports a body shorter than its Content-Length,
// or a broken chunked body, as io.ErrUnexpectedEOF, and ReadFull says the
// same of any short body.
func readUpTo(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// window reads a 206 that must hold bytes [0, n) of the object, n at most
// the window, and makes it the object's first answer.
func (f *First) window(resp *Response, window int64) error {
	raw := resp.Header.Get("Content-Range")
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	cr, err := parseContentRange(raw)
	switch {
	case ct == "multipart/byteranges":
		return badResponse("206 as multipart/byteranges for one range")
	case err != nil || cr.First != 0 || cr.Total < 0 || cr.Last >= window:
		return badResponse("206 with Content-Range %q for bytes 0-%d", raw, window-1)
	case resp.ContentLength >= 0 && resp.ContentLength != cr.Last+1:
		return badResponse("206 of %d bytes with Content-Range %q", resp.ContentLength, raw)
	}
	f.Head = make([]byte, cr.Last+1)
	if err := readExact(resp.Body, f.Head); err != nil {
		return err
	}
	f.Status, f.Size, f.Ranges = http.StatusOK, cr.Total, true
	f.Header.Del("Content-Range")
	f.Header.Del("Content-Length")
	return nil
}

// emptyObject reports whether a 416's Content-Range says the object has no
// bytes at all ("bytes */0"), which no range can satisfy.
func emptyObject(h http.Header) bool {
	cr, err := parseContentRange(h.Get("Content-Range"))
	return err == nil && cr.Total == 0
}

// Stream opens the body of the version m describes from offset off to its
// end, as one request with the fields of header (those of the request that
// selected the version, so that every part comes from the same
// representation), for a caller that cuts it into chunks as it flows:
// from an origin that ignores Range, or for a version whose validators are
// too weak to read it piecewise without mixing versions. From off > 0 it
// asks for a range with If-Range, as ReadRange does. The answer must
// prove to be that version from off: a 206 "bytes off-end/m.Size", or, from
// 0, a 200 of m.Size bytes, with m's validators. The caller closes the
// body; its reads fail if it ends before m.Size.
func (c *Client) Stream(ctx context.Context, path string, m Meta, header http.Header, off int64) (io.ReadCloser, error) {
	if off < 0 || off >= m.Size {
		return nil, c.fail(fmt.Errorf("origin: offset %d outside an object of %d bytes", off, m.Size), "stream %s", path)
	}
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if off > 0 {
		h.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
		if v := ifRange(m); v != "" {
			h.Set("If-Range", v)
		}
	}
	resp, err := c.Fetch(ctx, Request{Path: path, Header: h})
	if err != nil {
		return nil, err // Fetch counted and described it
	}
	if err := checkStream(resp, m, off); err != nil {
		resp.Body.Close()
		return nil, c.fail(err, "stream %s from %d", path, off)
	}
	return resp.Body, nil
}

// checkStream accepts an answer only if it is m's body from off.
func checkStream(resp *Response, m Meta, off int64) error {
	h := resp.Header
	switch resp.Status {
	case http.StatusOK:
		if off != 0 {
			return changed("200 for bytes from %d: the object changed or the origin ignored Range", off)
		}
		if resp.ContentLength >= 0 && resp.ContentLength != m.Size {
			return changed("200 with Content-Length %d: size is no longer %d", resp.ContentLength, m.Size)
		}
	case http.StatusPartialContent:
		raw := h.Get("Content-Range")
		cr, err := parseContentRange(raw)
		switch {
		case err != nil:
			return badResponse("Content-Range %q", raw)
		case cr.Total >= 0 && cr.Total != m.Size:
			return changed("Content-Range %q: size is no longer %d", raw, m.Size)
		case cr.First != off || cr.Last != m.Size-1:
			return badResponse("Content-Range %q, want bytes %d-%d/%d", raw, off, m.Size-1, m.Size)
		}
	default:
		return statusError(resp.Status)
	}
	return validatorsMatch(m, h)
}

// ifRange is the If-Range value that makes an origin send a changed
// version whole instead of a range of it: a strong ETag, else the
// Last-Modified date; "" when m has neither.
func ifRange(m Meta) string {
	switch {
	case isStrongETag(m.ETag):
		return m.ETag
	case !m.LastModified.IsZero():
		return m.LastModified.UTC().Format(http.TimeFormat)
	}
	return ""
}
