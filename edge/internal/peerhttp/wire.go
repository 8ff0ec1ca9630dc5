package peerhttp

import (
	"net/http"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/forward"
	"github.com/edgecache/edgecache/edge/internal/httpcache"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
	"github.com/edgecache/edgecache/origin"
)

// The engine's values as peerwire messages, and back.

func fieldsMessage(f httpcache.Fields) []peerwire.Field {
	out := make([]peerwire.Field, len(f))
	for i, x := range f {
		out[i] = peerwire.Field{[]byte(x.Name), []byte(x.Value)}
	}
	return out
}

func fieldsFrom(m []peerwire.Field) httpcache.Fields {
	out := make(httpcache.Fields, len(m))
	for i, x := range m {
		out[i] = httpcache.Field{Name: string(x[0]), Value: string(x[1])}
	}
	return out
}

func headerMessage(h http.Header) []peerwire.Field {
	var out []peerwire.Field
	for name, values := range h {
		for _, v := range values {
			out = append(out, peerwire.Field{[]byte(name), []byte(v)})
		}
	}
	return out
}

func headerFrom(m []peerwire.Field) http.Header {
	h := http.Header{}
	for _, x := range m {
		name := string(x[0])
		h[name] = append(h[name], string(x[1]))
	}
	return h
}

func objectMessage(o *engine.Object) *peerwire.Object {
	m := &peerwire.Object{
		Key: []byte(o.Key), Variant: o.Variant, Status: o.Status, Header: fieldsMessage(o.Header),
		Size: o.Meta.Size, ETag: []byte(o.Meta.ETag), Version: []byte(o.Version), Fetch: headerMessage(o.Fetch),
		Vary: o.Vary, Lifetime: int64(o.Fresh.Lifetime), StaleWhileRevalidate: int64(o.Fresh.StaleWhileRevalidate),
		StaleIfError: int64(o.Fresh.StaleIfError), NoCache: o.Fresh.NoCache, MustRevalidate: o.Fresh.MustRevalidate,
		Ranges: o.Ranges, Piecewise: o.Piecewise, Shareable: o.Shareable, Pass: o.Pass,
	}
	if !o.Meta.LastModified.IsZero() {
		m.LastModified = o.Meta.LastModified.Unix()
	}
	return m
}

// objectFrom is the object a message describes; its age is the caller's
// to set.
func objectFrom(m *peerwire.Object) *engine.Object {
	o := &engine.Object{
		Key: string(m.Key), Variant: m.Variant, Status: m.Status, Header: fieldsFrom(m.Header),
		Meta: origin.Meta{Size: m.Size, ETag: string(m.ETag)}, Version: string(m.Version), Fetch: headerFrom(m.Fetch),
		Vary: m.Vary, Ranges: m.Ranges, Piecewise: m.Piecewise, Shareable: m.Shareable, Pass: m.Pass,
		Fresh: httpcache.Freshness{Lifetime: time.Duration(m.Lifetime), StaleWhileRevalidate: time.Duration(m.StaleWhileRevalidate),
			StaleIfError: time.Duration(m.StaleIfError), NoCache: m.NoCache, MustRevalidate: m.MustRevalidate},
	}
	if m.LastModified != 0 {
		o.Meta.LastModified = time.Unix(m.LastModified, 0).UTC()
	}
	return o
}

func requestMessage(req *engine.Request) peerwire.MetaRequest {
	return peerwire.MetaRequest{Key: []byte(req.Key), Header: fieldsMessage(req.Header.All()),
		Client: clientMessage(req.Header.Client())}
}

func clientMessage(c forward.Client) peerwire.Client {
	return peerwire.Client{IP: c.IP, Host: []byte(c.Host), Proto: c.Proto}
}

func requestFrom(m peerwire.MetaRequest) *engine.Request {
	return engine.NewRequest(string(m.Key), fieldsFrom(m.Header),
		forward.Client{IP: m.Client.IP, Host: string(m.Client.Host), Proto: m.Client.Proto})
}
