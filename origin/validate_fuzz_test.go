package origin

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// fuzzResponse builds the response an origin might send, header by header,
// as net/http's client would hand it over: ContentLength is -1 unless the
// Content-Length header is a plain number.
func fuzzResponse(status int, contentRange, contentLength, etag, lastModified, encoding string, body []byte) *http.Response {
	h := http.Header{}
	for k, v := range map[string]string{"Content-Range": contentRange, "Content-Length": contentLength, "ETag": etag,
		"Last-Modified": lastModified, "Content-Encoding": encoding} {
		if v != "" {
			h.Set(k, v)
		}
	}
	cl := int64(-1)
	if n, err := strconv.ParseInt(contentLength, 10, 64); err == nil && n >= 0 {
		cl = n
	}
	return &http.Response{StatusCode: status, Header: h, ContentLength: cl, Body: io.NopCloser(bytes.NewReader(body))}
}

// FuzzCheckRange: no response makes the validator of ranged reads panic,
// and whatever it accepts is exactly the bytes asked of the version asked:
// a 206 whose Content-Range is the range asked over the object's size, or
// a 200 for a read of the whole object; same validators; the body is the
// destination, byte for byte.
func FuzzCheckRange(f *testing.F) {
	lm := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	lmText := lm.Format(http.TimeFormat)
	f.Add(206, "bytes 10-19/100", "10", `"v1"`, lmText, "", []byte("0123456789"), int64(10), 10)
	f.Add(206, "bytes 10-19/*", "", `"v1"`, "", "", []byte("0123456789"), int64(10), 10)
	f.Add(206, "bytes 10-19/100", "10", `"v2"`, "", "", []byte("0123456789"), int64(10), 10)
	f.Add(200, "", "100", `"v1"`, lmText, "", bytes.Repeat([]byte("x"), 100), int64(0), 100)
	f.Add(200, "", "", "", "", "gzip", []byte("short"), int64(0), 100)
	f.Add(206, "bytes 0-4/100", "5", "", "", "identity", []byte("01234"), int64(0), 5)
	f.Add(416, "bytes */100", "", "", "", "", []byte{}, int64(0), 1)
	f.Fuzz(func(t *testing.T, status int, contentRange, contentLength, etag, lastModified, encoding string, body []byte, off int64, n int) {
		m := Meta{Size: 100, ETag: `"v1"`, LastModified: lm}
		if n <= 0 || n > 100 || off < 0 || off > m.Size-int64(n) {
			return // ReadRange never asks for such a range
		}
		dst := make([]byte, n)
		err := checkRange(fuzzResponse(status, contentRange, contentLength, etag, lastModified, encoding, body), m, off, dst)
		if err != nil {
			return
		}
		want := fmt.Sprintf("bytes %d-%d/%d", off, off+int64(n)-1, m.Size)
		switch {
		case !bytes.Equal(dst, body):
			t.Fatalf("accepted a body of %d bytes for %d: %q", len(body), n, body)
		case status == http.StatusPartialContent:
			cr, perr := parseContentRange(contentRange)
			if perr != nil || fmt.Sprintf("bytes %d-%d/%d", cr.First, cr.Last, cr.Total) != want {
				t.Fatalf("accepted Content-Range %q for %s", contentRange, want)
			}
		case status == http.StatusOK:
			if off != 0 || int64(n) != m.Size {
				t.Fatalf("accepted a 200 for %s", want)
			}
		default:
			t.Fatalf("accepted status %d", status)
		}
		if etag != "" && etag != m.ETag {
			t.Fatalf("accepted ETag %q for %q", etag, m.ETag)
		}
		if t2 := parseHTTPTime(lastModified); !t2.IsZero() && !t2.Equal(lm) {
			t.Fatalf("accepted Last-Modified %q", lastModified)
		}
	})
}

// FuzzSizeFromRangedGet: no answer to GET Range: bytes=0-0 makes the size
// probe panic, and an accepted size is never negative and agrees with the
// answer.
func FuzzSizeFromRangedGet(f *testing.F) {
	f.Add(206, "bytes 0-0/12345", "1", "")
	f.Add(206, "bytes 0-0/*", "1", "")
	f.Add(200, "", "777", "")
	f.Add(200, "", "", "")
	f.Add(416, "bytes */0", "", "")
	f.Add(416, "bytes */5", "", "")
	f.Add(206, "bytes 0-0/9", "1", "br")
	f.Fuzz(func(t *testing.T, status int, contentRange, contentLength, encoding string) {
		resp := fuzzResponse(status, contentRange, contentLength, "", "", encoding, nil)
		m, err := sizeFromRangedGet(resp)
		if err != nil {
			return
		}
		switch status {
		case http.StatusPartialContent:
			cr, perr := parseContentRange(contentRange)
			if perr != nil || cr.First != 0 || cr.Last != 0 || cr.Total != m.Size {
				t.Fatalf("size %d from Content-Range %q", m.Size, contentRange)
			}
		case http.StatusOK:
			if m.Size != resp.ContentLength {
				t.Fatalf("size %d from Content-Length %q", m.Size, contentLength)
			}
		case http.StatusRequestedRangeNotSatisfiable:
			if m.Size != 0 {
				t.Fatalf("size %d from a 416 with %q", m.Size, contentRange)
			}
		default:
			t.Fatalf("accepted status %d", status)
		}
		if m.Size < 0 {
			t.Fatalf("negative size %d", m.Size)
		}
	})
}
