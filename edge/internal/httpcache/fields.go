package httpcache

import (
	"net/textproto"
	"strings"
)

// Field is one header field line.
type Field struct{ Name, Value string }

// Fields is a message's header fields in the order they came, one entry
// per line. Names compare without regard to case.
type Fields []Field

// Values returns the values of every line named name.
func (f Fields) Values(name string) []string {
	var out []string
	for _, x := range f {
		if strings.EqualFold(x.Name, name) {
			out = append(out, x.Value)
		}
	}
	return out
}

// Get returns the value of the first line named name, or "".
func (f Fields) Get(name string) string {
	for _, x := range f {
		if strings.EqualFold(x.Name, name) {
			return x.Value
		}
	}
	return ""
}

// All returns the fields themselves, so that Fields serves where the edge
// asks for a request's fields lazily.
func (f Fields) All() Fields { return f }

// Has reports whether a line named name is present.
func (f Fields) Has(name string) bool {
	for _, x := range f {
		if strings.EqualFold(x.Name, name) {
			return true
		}
	}
	return false
}

// Size is the bytes the fields take on the wire ("Name: value\r\n"), the
// measure of the limit on what a stored response may carry.
func (f Fields) Size() int {
	n := 0
	for _, x := range f {
		n += len(x.Name) + len(x.Value) + 4
	}
	return n
}

// hopByHop are the fields that describe one connection, not the message
// (RFC 9110 §7.6.1), and the proxy authentication fields a reverse proxy
// consumes: never forwarded, never stored.
var hopByHop = map[string]bool{
	"Connection":                true,
	"Keep-Alive":                true,
	"Proxy-Connection":          true,
	"Te":                        true,
	"Transfer-Encoding":         true,
	"Upgrade":                   true,
	"Trailer":                   true,
	"Proxy-Authenticate":        true,
	"Proxy-Authentication-Info": true,
	"Proxy-Authorization":       true,
}

// IsHopByHop reports whether a field named name belongs to the connection
// rather than to the message.
func IsHopByHop(name string) bool {
	return hopByHop[textproto.CanonicalMIMEHeaderKey(name)]
}

// connectionListed returns the field names the Connection lines name: they
// are hop-by-hop for this message (RFC 9110 §7.6.1).
func connectionListed(connection []string) map[string]bool {
	var out map[string]bool
	for _, line := range connection {
		for tok := range strings.SplitSeq(line, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				if out == nil {
					out = map[string]bool{}
				}
				out[textproto.CanonicalMIMEHeaderKey(tok)] = true
			}
		}
	}
	return out
}

// EndToEnd returns the fields of f that travel end to end: without the
// hop-by-hop fields, those the Connection field lists, and those in drop
// (canonical names), which the caller owns (for a response, the framing
// and the fields the cache generates). The result shares no memory with f.
func EndToEnd(f Fields, drop map[string]bool) Fields {
	listed := connectionListed(f.Values("Connection"))
	out := make(Fields, 0, len(f))
	for _, x := range f {
		name := textproto.CanonicalMIMEHeaderKey(x.Name)
		if hopByHop[name] || listed[name] || drop[name] {
			continue
		}
		out = append(out, Field{Name: name, Value: x.Value})
	}
	return out
}

// notUpdated are the stored fields a 304 or a HEAD response must not
// replace (RFC 9111 §3.2): the stored body's length is the stored body's.
var notUpdated = map[string]bool{"Content-Length": true}

// Refresh returns the stored fields updated by those of a 304 (RFC 9111
// §4.3.4) or of a HEAD response (§4.3.5): every field the new response
// carries replaces the stored lines of that name; the others are kept.
// fresh must already be end-to-end (EndToEnd).
func Refresh(stored, fresh Fields) Fields {
	replaced := map[string]bool{}
	for _, x := range fresh {
		if !notUpdated[x.Name] {
			replaced[x.Name] = true
		}
	}
	out := make(Fields, 0, len(stored)+len(fresh))
	for _, x := range stored {
		if !replaced[x.Name] {
			out = append(out, x)
		}
	}
	for _, x := range fresh {
		if replaced[x.Name] {
			out = append(out, x)
		}
	}
	return out
}
