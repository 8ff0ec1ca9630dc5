package origin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// ReadRange reads into dst exactly the len(dst) bytes at offset off of the
// version of the object at path that m describes, sending the fields of
// header (those of the request that selected the version, so that every
// part comes from the same representation). m must come from Stat or
// Revalidate, and [off, off+len(dst)) must lie within m.Size.
//
// The request carries Range and If-Range (m.ETag when it is strong, else
// m.LastModified as an HTTP date), so that an origin whose object changed
// sends the new version whole instead of mixing versions. The answer is
// accepted only when it is a 206 whose Content-Range is exactly
// "bytes off-end/m.Size", whose ETag and Last-Modified (when both sides have
// them) equal m's, whose Content-Length (when given) is len(dst), and whose
// body is exactly len(dst) bytes; or, when the range is the whole object, a
// 200 that passes the same checks. A changed version is ErrChanged; any
// other mismatch is ErrBadResponse.
//
// On error, dst holds garbage. len(dst) == 0 returns nil without a request.
func (c *Client) ReadRange(ctx context.Context, path string, m Meta, header http.Header, off int64, dst []byte) error {
	if len(dst) == 0 {
		return nil
	}
	n := int64(len(dst))
	end := off + n - 1
	if off < 0 || off > m.Size-n {
		return c.fail(fmt.Errorf("origin: range %d+%d outside an object of %d bytes", off, n, m.Size),
			"read %s", path)
	}
	target, err := c.target(path)
	if err != nil {
		return c.fail(err, "read %s bytes=%d-%d", path, off, end)
	}
	rangeValue := "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(end, 10)
	ifr := ifRange(m)
	setHeader := func(h http.Header) {
		for k, v := range header {
			h[k] = v
		}
		h.Set("Range", rangeValue)
		if ifr != "" {
			h.Set("If-Range", ifr)
		}
	}
	err = c.do(ctx, http.MethodGet, target, setHeader, func(resp *http.Response) error {
		return checkRange(resp, m, off, dst)
	})
	if err != nil {
		return c.fail(err, "read %s bytes=%d-%d", path, off, end)
	}
	return nil
}

// checkRange accepts a response to a ranged GET only if it proves to hold
// bytes [off, off+len(dst)) of version m, and reads its body into dst.
func checkRange(resp *http.Response, m Meta, off int64, dst []byte) error {
	n := int64(len(dst))
	h := resp.Header
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if err := validatorsMatch(m, h); err != nil {
			return err
		}
		if err := checkEncoding(h); err != nil {
			return err
		}
		raw := h.Get("Content-Range")
		if raw == "" {
			return badResponse("206 without Content-Range (Content-Type %q)", h.Get("Content-Type"))
		}
		cr, err := parseContentRange(raw)
		switch {
		case err != nil:
			return badResponse("Content-Range %q", raw)
		case cr.Total >= 0 && cr.Total != m.Size:
			return changed("Content-Range %q: size is no longer %d", raw, m.Size)
		case cr.First != off || cr.Last != off+n-1 || cr.Total < 0:
			return badResponse("Content-Range %q, want bytes %d-%d/%d", raw, off, off+n-1, m.Size)
		}
	case http.StatusOK:
		if err := validatorsMatch(m, h); err != nil {
			return err
		}
		if resp.ContentLength >= 0 && resp.ContentLength != m.Size {
			return changed("200 with Content-Length %d: size is no longer %d", resp.ContentLength, m.Size)
		}
		if off != 0 || n != m.Size {
			return badResponse("200 for a range of %d bytes at %d: the origin ignored Range", n, off)
		}
		if err := checkEncoding(h); err != nil {
			return err
		}
	default:
		return statusError(resp.StatusCode)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != n {
		return badResponse("Content-Length %d, want %d", resp.ContentLength, n)
	}
	return readExact(resp.Body, dst)
}

// readExact fills dst from body and checks that the body ends there. A
// body that ends early or goes on is ErrBadResponse; a read that fails
// for another reason is returned for classify to judge.
func readExact(body io.Reader, dst []byte) error {
	got, err := io.ReadFull(body, dst)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return badResponse("body ended after %d of %d bytes", got, len(dst))
	case err != nil:
		return err
	}
	var one [1]byte
	extra, err := io.ReadFull(body, one[:])
	switch {
	case extra > 0:
		return badResponse("body longer than %d bytes", len(dst))
	case err != io.EOF:
		return err
	}
	return nil
}
