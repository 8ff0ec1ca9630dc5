// Package tlsreload holds TLS material that follows its files: a
// certificate and key, or a CA pool, loaded again when the files change
// (cert-manager, a renewed Kubernetes Secret) so that a rotation needs no
// restart; and the TLS configurations an edge builds from them, for its
// players and for mutual TLS between edges.
//
// A reload that fails keeps the last good material and is logged; only
// the first load is an error. It knows nothing of the node or its
// listeners.
package tlsreload
