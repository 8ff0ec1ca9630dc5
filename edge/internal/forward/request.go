package forward

import (
	"net/http"
	"strings"

	"github.com/edgecache/edgecache/edge/internal/httpcache"
)

// Mode is what a request to the origin is for.
type Mode uint8

const (
	// Fill fetches a response to store: the edge asks for its own ranges,
	// with its own validators and without content coding, and answers the
	// client's Range and conditionals itself from what it stores.
	Fill Mode = iota
	// Pass relays the client's request as it is; the answer goes back to
	// that client alone.
	Pass
)

// fillOwned are the client's fields a fill replaces by the edge's own.
var fillOwned = map[string]bool{
	"Range": true, "If-Range": true, "If-Match": true, "If-None-Match": true,
	"If-Modified-Since": true, "If-Unmodified-Since": true, "Accept-Encoding": true,
}

// always are the client's fields never forwarded: the origin's Host is
// its own, and the edge answers Expect: 100-continue itself.
var always = map[string]bool{"Host": true, "Expect": true, "Content-Length": true}

// Client is what the origin is told about the client a request comes
// from, for Via and X-Forwarded-*.
type Client struct {
	IP    string // the client's address, without port
	Host  string // the Host the client asked for
	Proto string // "http" or "https": how the client reached the edge
}

// Header returns the fields of the request the edge sends the origin for a
// client request with fields f. via names this edge in Via ("1.1 name").
func Header(f httpcache.Fields, mode Mode, c Client, via string) http.Header {
	drop := always
	if mode == Fill {
		drop = fillAndAlways
	}
	h := http.Header{}
	for _, x := range httpcache.EndToEnd(f, drop) {
		h[x.Name] = append(h[x.Name], x.Value)
	}
	if mode == Fill {
		h.Set("Accept-Encoding", "identity") // chunk bytes are the representation's, uncoded
	}
	h.Add("Via", "1.1 "+via)
	if c.IP != "" {
		if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
			h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+c.IP)
		} else {
			h.Set("X-Forwarded-For", c.IP)
		}
	}
	if c.Host != "" && h.Get("X-Forwarded-Host") == "" {
		h.Set("X-Forwarded-Host", c.Host)
	}
	if c.Proto != "" && h.Get("X-Forwarded-Proto") == "" {
		h.Set("X-Forwarded-Proto", c.Proto)
	}
	return h
}

var fillAndAlways = func() map[string]bool {
	m := map[string]bool{}
	for k := range fillOwned {
		m[k] = true
	}
	for k := range always {
		m[k] = true
	}
	return m
}()
