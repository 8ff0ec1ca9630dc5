package origin

import (
	"context"
	"net/http"
)

// Stat returns the metadata of the current version of the object at path
// (see Client.target for the form of path). It asks with HEAD; when the
// origin refuses HEAD (403, 405, 501: some signed URLs and object stores
// allow GET only) or answers it without a usable Content-Length, it asks
// again with GET and Range: bytes=0-0 and reads the size from the
// Content-Range total. On that path a 416 "bytes */0" is an empty object,
// and a 200 means the origin ignores ranges: its Content-Length is the size
// and its body is dropped unread.
func (c *Client) Stat(ctx context.Context, path string) (Meta, error) {
	target, err := c.target(path)
	if err != nil {
		return Meta{}, c.fail(err, "stat %s", path)
	}
	m, _, err := c.stat(ctx, target, nil)
	if err != nil {
		return Meta{}, c.fail(err, "stat %s", path)
	}
	return m, nil
}

// Revalidate asks the origin whether old is still the current version of
// the object at path, with a conditional HEAD (If-None-Match with old.ETag,
// else If-Modified-Since with old.LastModified; with neither, a plain HEAD
// and a comparison of sizes). It falls back to a conditional ranged GET as
// Stat does.
//
// A 304 returns old with CacheControl, Expires and Date refreshed from the
// 304 and changed == false. A full answer returns the new Meta and
// changed == !new.SameVersion(old).
func (c *Client) Revalidate(ctx context.Context, path string, old Meta) (m Meta, changed bool, err error) {
	target, err := c.target(path)
	if err != nil {
		return Meta{}, false, c.fail(err, "revalidate %s", path)
	}
	m, notModified, err := c.stat(ctx, target, &old)
	if err != nil {
		return Meta{}, false, c.fail(err, "revalidate %s", path)
	}
	if notModified {
		return m, false, nil
	}
	return m, !m.SameVersion(old), nil
}

// stat is Stat and, when old is not nil, Revalidate: HEAD first, ranged
// GET when HEAD cannot tell the size. notModified reports a 304, in which
// case m is old refreshed.
func (c *Client) stat(ctx context.Context, target string, old *Meta) (m Meta, notModified bool, err error) {
	cond := func(h http.Header) {
		switch {
		case old == nil:
		case old.ETag != "":
			h.Set("If-None-Match", old.ETag)
		case !old.LastModified.IsZero():
			h.Set("If-Modified-Since", old.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	fallback := false
	err = c.do(ctx, http.MethodHead, target, cond, func(resp *http.Response) error {
		m, notModified, fallback = Meta{}, false, false
		switch {
		case resp.StatusCode == http.StatusNotModified && old != nil:
			m, notModified = old.refresh(resp.Header), true
			return nil
		case resp.StatusCode == http.StatusOK:
			if err := checkEncoding(resp.Header); err != nil {
				return err
			}
			if resp.ContentLength < 0 {
				fallback = true
				return nil
			}
			m = metaFromHeader(resp.Header)
			m.Size = resp.ContentLength
			return nil
		case resp.StatusCode == http.StatusForbidden, resp.StatusCode == http.StatusMethodNotAllowed,
			resp.StatusCode == http.StatusNotImplemented:
			fallback = true
			return nil
		default:
			return statusError(resp.StatusCode)
		}
	})
	if err != nil || !fallback {
		return m, notModified, err
	}
	rangeHeader := func(h http.Header) {
		cond(h)
		h.Set("Range", "bytes=0-0")
	}
	err = c.do(ctx, http.MethodGet, target, rangeHeader, func(resp *http.Response) error {
		m, notModified = Meta{}, false
		if resp.StatusCode == http.StatusNotModified && old != nil {
			m, notModified = old.refresh(resp.Header), true
			return nil
		}
		var err error
		m, err = sizeFromRangedGet(resp)
		return err
	})
	return m, notModified, err
}

// sizeFromRangedGet reads the Meta of an object from the answer to
// GET Range: bytes=0-0.
func sizeFromRangedGet(resp *http.Response) (Meta, error) {
	h := resp.Header
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if err := checkEncoding(h); err != nil {
			return Meta{}, err
		}
		cr, err := parseContentRange(h.Get("Content-Range"))
		if err != nil || cr.First != 0 || cr.Last != 0 || cr.Total < 0 {
			return Meta{}, badResponse("Content-Range %q for bytes=0-0", h.Get("Content-Range"))
		}
		m := metaFromHeader(h)
		m.Size, m.AcceptRanges = cr.Total, true
		return m, nil
	case http.StatusOK:
		if err := checkEncoding(h); err != nil {
			return Meta{}, err
		}
		if resp.ContentLength < 0 {
			return Meta{}, badResponse("200 without Content-Length: size unknown")
		}
		m := metaFromHeader(h)
		m.Size = resp.ContentLength
		return m, nil
	case http.StatusRequestedRangeNotSatisfiable:
		// bytes=0-0 is unsatisfiable only for an empty object.
		cr, err := parseContentRange(h.Get("Content-Range"))
		if err != nil || cr.First >= 0 || cr.Total != 0 {
			return Meta{}, badResponse("416 with Content-Range %q for bytes=0-0", h.Get("Content-Range"))
		}
		m := metaFromHeader(h)
		// A 416 carries no representation headers worth keeping: an error
		// page's Content-Type is not the object's.
		m.ContentType, m.ContentDisposition, m.AcceptRanges = "", "", true
		return m, nil
	default:
		return Meta{}, statusError(resp.StatusCode)
	}
}
