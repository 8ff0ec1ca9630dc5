// Package origin talks to the HTTP origin that edgecache sits in front of,
// and provides a reference origin to put behind it.
//
// The [Client] is the edge's only way to the origin: [Client.Stat] learns an
// object's size and validators, [Client.Revalidate] asks whether a cached
// version is still current, and [Client.ReadRange] fetches one byte range of
// one exact version. Reads are strict on purpose: a response is accepted only
// when its status, Content-Range, validators and body length prove that the
// bytes are the requested range of the requested version. Everything else is
// an error that names its class ([ErrNotFound], [ErrChanged],
// [ErrBadResponse], [ErrUnreachable], [ErrTimeout], [*StatusError]), and
// [HTTPStatus] is the one place that turns such an error into the status a
// player sees.
//
// The [Server] is the reference origin used by tests, the demo and the
// benchmark: it serves a directory, or an [io/fs.FS] such as the demo's
// embedded media, with full RFC 9110 range and conditional support, and
// deterministic synthetic objects of any size (see [SyntheticFill]) whose
// bytes any client can recompute to verify a response.
// It counts its requests and body bytes so that origin offload is measurable,
// and shows them with what it serves on the page at /.
//
// What this package must never do:
//   - hand a caller bytes that are not exactly the requested range of the
//     requested version (a mismatch is an error, never a best effort);
//   - decompress, transcode or otherwise alter the bytes it reads;
//   - serve a file outside the server's directory or a dotfile, or list
//     files anywhere but the page at / and only when asked (ServerConfig.Index);
//   - allocate in proportion to an object's size (objects may be many GiB);
//   - import the other edgecache packages: it sits at the bottom of the graph.
package origin
