// Package bench measures what an operator needs to know about a content
// delivery deployment: how many viewers it carries, how fast it serves, how
// its latency is distributed, how much of the traffic still reaches the
// origin, and what a node loss does to all of that.
//
// It is an HTTP client of any CDN. It speaks plain HTTP/1.1 with Range
// requests to whatever base URLs it is given, so the same run, with the same
// seed, can be pointed at edgecache, nginx, Varnish or anything else that
// honours Range, and the results compared side by side.
//
// A run is described by a [Config]: a workload (video viewers reading
// objects sequentially, random ranges, or whole segments), a load model
// (closed loop with a fixed number of workers, or open loop at a fixed
// arrival rate whose latency is measured from each request's intended send
// time, so that a stalled server cannot hide its stalls), a catalogue of
// objects chosen by Zipf popularity, and bounds in time and count. [Run]
// returns a [Result]; [NewReport] turns results into the text table, the
// versioned JSON document and the self-contained HTML page.
//
// Every byte is checked: a synthetic object (see origin.SyntheticPath) is
// recomputed from its URL and compared as the body streams in; other objects
// are checked by sampling, against a reference fetch of the same range from
// a trusted origin (see verify.go). A mismatch is an error that fails the
// run. Status, Content-Range and length are checked on every response.
//
// A video viewer is modelled as a player: it buffers StartupSegments
// segments before playing, keeps at most BufferSegments ahead of its
// playhead, and a segment that arrives after it was due to play is a
// rebuffer that stalls playback (see playback in schedule.go). A worker
// whose node refuses connections moves to the next target, as a player
// moves to another node, so that a node loss shows as load moving to the
// rest of the cluster and as origin egress, not as an endless error loop;
// a request that got no response at all (refused, or its connection
// closed before a response byte) goes to the next target too and is
// counted as a failover, not an error.
//
// What this package must never do:
//   - import edge, chunk or ring: it measures a CDN from the outside, as a
//     player would, and must not know or depend on how edgecache works
//     inside (the command wires a local cluster and hands its URLs over);
//   - buffer whole bodies or allocate per byte: the client streams each body
//     through a reused buffer so that the benchmark, not the tool, is
//     measured;
//   - retry a failed request behind the caller's back, or measure latency
//     from the actual send time in open loop: both hide what a viewer saw
//     (the retries allowed are of requests that never reached a server:
//     one sent on a kept-alive connection the server had already closed,
//     which every HTTP client retries, and one that got no response byte,
//     which goes to the next target, as a player's would, and is counted);
//   - run unbounded: every run ends after its duration (plus at most one
//     request timeout to drain) or its request count, whichever comes first.
package bench
