package bench

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"time"
)

// Workload names what the simulated clients ask for.
type Workload string

const (
	// WorkloadVideo is viewers each reading one object at a time from start
	// to end in ranges of Config.SegmentSize, optionally paced at
	// Config.Bitrate as a player would; a segment that arrives after its
	// playback deadline is a rebuffer.
	WorkloadVideo Workload = "video"
	// WorkloadRange is random byte ranges of Config.RangeSize, the access
	// pattern of seeking players and of large-file downloaders.
	WorkloadRange Workload = "range"
	// WorkloadSegments is whole objects without a Range header, the access
	// pattern of HLS/DASH players fetching small segment files.
	WorkloadSegments Workload = "segments"
)

// Object is one entry of the catalogue the workload draws from.
type Object struct {
	// Path is the URL path, joined to a target's base URL.
	Path string
	// Size is the object's length in bytes. Zero means unknown: Run asks the
	// first target with a HEAD request before the measurement starts.
	Size int64
}

// Fault is an action injected at a fixed time of the measured run, such as
// stopping an edge node. The report splits the run into phases at each
// fault, so that errors, latency and origin egress before and after it can
// be compared. The bench never knows what a fault does: the caller supplies
// Inject.
type Fault struct {
	// At is the offset from the start of measurement (after warmup).
	At time.Duration
	// Name labels the phase the fault starts, e.g. "kill edge 2".
	Name string
	// Inject performs the fault. It runs on the goroutine that drives the
	// run, so it should return promptly (stopping a node does); an error
	// is recorded in the report, and the run goes on.
	Inject func() error
}

// Config describes one run. Start from DefaultConfig, the one source of
// the defaults (the bench command's flags read theirs from it), and set
// Targets: Run takes the fields as they are, so a zero count, size or
// duration is an error, not a default. Run validates the whole Config in
// one place (see Config.validate) before it sends anything.
type Config struct {
	// Targets are the base URLs (http or https, optional path prefix) of the
	// deployment under test. Workers are spread over them round-robin, as
	// players spread over nodes. Required.
	Targets []string

	// Workload is what is asked for. Default WorkloadVideo.
	Workload Workload
	// Catalogue lists the objects to read. Empty means Objects synthetic
	// objects of ObjectSize bytes, named obj-<i>.bin (origin.SyntheticPath).
	Catalogue []Object
	// Objects is the size of the default synthetic catalogue. Default 100.
	Objects int
	// ObjectSize is the size of each default synthetic object. Default 32 MiB.
	ObjectSize int64
	// SegmentSize is the length of each range request of a video viewer.
	// Default 2 MiB.
	SegmentSize int64
	// RangeSize is the length of each request of the range workload.
	// Default 1 MiB.
	RangeSize int64
	// Zipf is the exponent s of the popularity of the catalogue: the object
	// of rank k (0-based) is chosen with probability proportional to
	// (1+k)^-s, so rank 0 is 2^s times as popular as rank 1. It must be 0,
	// meaning uniform popularity, or greater than 1 (math/rand/v2's Zipf
	// needs s > 1). Zero is uniform, not a default: a caller that wants a
	// realistic skew keeps DefaultConfig's 1.1.
	Zipf float64
	// Bitrate paces video viewers, in bits per second: each segment must
	// arrive before it is due to play. Zero means unpaced: each viewer reads
	// as fast as the deployment serves, and no rebuffer is counted.
	Bitrate int64
	// StartupSegments is how many segments a viewer buffers before playback
	// starts (the startup buffer); no deadline applies to them. Default 2.
	StartupSegments int
	// BufferSegments is how many segments a paced viewer keeps buffered
	// ahead of its playhead: it requests segment k once segment
	// k-BufferSegments starts playing, so a segment has BufferSegments
	// segment durations to arrive. Default 4.
	BufferSegments int

	// Concurrency is the number of workers: parallel requests in closed
	// loop, viewers in the video workload, and the most requests in flight
	// in open loop. Default 16.
	Concurrency int
	// Rate, in requests per second, selects the open-loop model: requests
	// are due at evenly spaced intended times and their latency is measured
	// from then. Zero means closed loop. Not valid with WorkloadVideo, which
	// paces itself with Bitrate.
	Rate float64

	// Duration bounds the measured part of the run. Default 10 s.
	Duration time.Duration
	// Warmup runs the workload before measuring, and records nothing, so
	// that caches and connections are warm. Default 0.
	Warmup time.Duration
	// Requests, when positive, ends the run after that many measured
	// requests, whichever of it and Duration comes first. Default 0: no
	// count bound.
	Requests int64
	// Timeout bounds each request, from send to the last body byte. It is
	// also the most the run waits for requests in flight at its end.
	// Default 30 s.
	Timeout time.Duration
	// Seed determines every random choice; per-worker generators are
	// derived from it, so two runs with one seed ask for the same things.
	// Default 1.
	Seed uint64

	// VerifyOrigin is the base URL of a trusted origin. Bodies of objects
	// that are not synthetic are verified by sampling: the xxhash64 of a
	// sampled response is compared with that of the same range fetched from
	// VerifyOrigin, off the timed path. Empty means non-synthetic bodies
	// are checked for length only.
	VerifyOrigin string
	// VerifySample is the fraction of non-synthetic responses verified
	// against VerifyOrigin, in (0, 1]. Default 0.05.
	VerifySample float64
	// OriginStats is the reference origin's stats URL (its base URL, or the
	// full URL of /.edgecache/stats); read before, during and after the run
	// to report origin egress and offload. Empty: origin figures unknown.
	OriginStats string
	// Tiers, if set, reads the deployment's own running totals of the body
	// bytes its edges sent, by where they found them, summed over the
	// edges; it is read where OriginStats is, and the report splits the
	// measured bytes by tier. The bench cannot ask an arbitrary CDN for
	// them: `edgecache bench --local` sets it from its edges. Nil: unknown.
	Tiers func() TierBytes

	// Faults are injected during the measured run, in order of At.
	Faults []Fault

	// Progress, when set, receives a live progress line once a second,
	// rewritten in place with '\r'. Set it only for a terminal.
	Progress io.Writer
	// Logger receives setup notes and fault outcomes. Nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration a run has unless told
// otherwise: every default documented on Config, and no Targets.
func DefaultConfig() Config {
	return Config{
		Workload:        WorkloadVideo,
		Objects:         100,
		ObjectSize:      32 << 20,
		SegmentSize:     2 << 20,
		RangeSize:       1 << 20,
		Zipf:            1.1,
		StartupSegments: 2,
		BufferSegments:  4,
		Concurrency:     16,
		Duration:        10 * time.Second,
		Timeout:         30 * time.Second,
		Seed:            1,
		VerifySample:    0.05,
	}
}

// ConfigError is an invalid Config field. Field is the Go field name, so
// that a command can name its own flag for it.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "bench: " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// validate checks a Config. It is the one place where a Config is
// judged; its errors are *ConfigError, the first problem found.
func (c Config) validate() error {
	for _, check := range []func() error{c.validateTargets, c.validateWorkload, c.validateLoad, c.validateFaults} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateTargets checks every URL the run will read.
func (c Config) validateTargets() error {
	if len(c.Targets) == 0 {
		return fieldErr("Targets", "at least one target URL is required")
	}
	for _, t := range c.Targets {
		if _, err := parseTarget(t); err != nil {
			return fieldErr("Targets", "%v", err)
		}
	}
	if c.VerifyOrigin != "" {
		if _, err := parseTarget(c.VerifyOrigin); err != nil {
			return fieldErr("VerifyOrigin", "%v", err)
		}
	}
	if c.OriginStats != "" {
		if _, err := parseTarget(c.OriginStats); err != nil {
			return fieldErr("OriginStats", "%v", err)
		}
	}
	return nil
}

// validateWorkload checks what is asked for: the workload, the catalogue
// and the sizes of objects and requests.
func (c Config) validateWorkload() error {
	switch c.Workload {
	case WorkloadVideo, WorkloadRange, WorkloadSegments:
	default:
		return fieldErr("Workload", "unknown workload %q (use video, range or segments)", c.Workload)
	}
	for _, f := range []struct {
		field string
		v     int64
		unit  string
	}{
		{"Objects", int64(c.Objects), ""}, {"ObjectSize", c.ObjectSize, " byte"},
		{"SegmentSize", c.SegmentSize, " byte"}, {"RangeSize", c.RangeSize, " byte"},
		{"StartupSegments", int64(c.StartupSegments), ""}, {"BufferSegments", int64(c.BufferSegments), ""},
	} {
		if f.v < 1 {
			return fieldErr(f.field, "must be at least 1%s, got %d", f.unit, f.v)
		}
	}
	for i, o := range c.Catalogue {
		if !strings.HasPrefix(o.Path, "/") {
			return fieldErr("Catalogue", "entry %d: path %q must start with /", i+1, o.Path)
		}
		if o.Size < 0 {
			return fieldErr("Catalogue", "entry %d: negative size", i+1)
		}
	}
	if c.Zipf != 0 && (c.Zipf <= 1 || math.IsNaN(c.Zipf) || math.IsInf(c.Zipf, 0)) {
		return fieldErr("Zipf", "must be 0 (uniform) or greater than 1, got %g", c.Zipf)
	}
	if c.Bitrate < 0 {
		return fieldErr("Bitrate", "must not be negative")
	}
	if c.Bitrate > 0 && c.Workload != WorkloadVideo {
		return fieldErr("Bitrate", "paces the video workload only")
	}
	return nil
}

// validateLoad checks how the workload is driven and bounded.
func (c Config) validateLoad() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 1<<20:
		return fieldErr("Concurrency", "must be between 1 and 1048576, got %d", c.Concurrency)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fieldErr("Rate", "must be a finite number of requests per second >= 0")
	case c.Rate > 0 && c.Workload == WorkloadVideo:
		return fieldErr("Rate", "open loop applies to the range and segments workloads; video viewers pace themselves with Bitrate")
	case c.Duration <= 0:
		return fieldErr("Duration", "must be positive: every run is bounded in time")
	case c.Warmup < 0:
		return fieldErr("Warmup", "must not be negative")
	case c.Requests < 0:
		return fieldErr("Requests", "must not be negative")
	case c.Timeout <= 0:
		return fieldErr("Timeout", "must be positive")
	case !(c.VerifySample > 0 && c.VerifySample <= 1):
		return fieldErr("VerifySample", "must be in (0, 1], got %g", c.VerifySample)
	}
	return nil
}

// validateFaults checks that every fault falls inside the measured run,
// in order.
func (c Config) validateFaults() error {
	for i, f := range c.Faults {
		if f.At < 0 || f.At >= c.Duration {
			return fieldErr("Faults", "fault %d (%s) at %v is outside the measured run (0 to %v)", i+1, f.Name, f.At, c.Duration)
		}
		if f.Inject == nil {
			return fieldErr("Faults", "fault %d (%s) has no Inject function", i+1, f.Name)
		}
		if i > 0 && f.At < c.Faults[i-1].At {
			return fieldErr("Faults", "faults must be in order of time")
		}
	}
	return nil
}

// target is a parsed base URL.
type target struct {
	raw    string
	tls    bool
	host   string // host:port
	prefix string // path prefix without trailing slash
}

// parseTarget accepts http(s)://host[:port][/prefix].
func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("bad URL %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return target{}, fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return target{}, fmt.Errorf("URL %q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return target{}, fmt.Errorf("URL %q: a base URL takes no query or fragment", raw)
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host += ":443"
		} else {
			host += ":80"
		}
	}
	return target{raw: raw, tls: u.Scheme == "https", host: host, prefix: strings.TrimRight(u.EscapedPath(), "/")}, nil
}

// url returns the full URL of path on t.
func (t target) url(path string) string { return string(t.appendURL(nil, path)) }

// appendURL appends the full URL of path on t to dst.
func (t target) appendURL(dst []byte, path string) []byte {
	if t.tls {
		dst = append(dst, "https://"...)
	} else {
		dst = append(dst, "http://"...)
	}
	dst = append(dst, t.host...)
	dst = append(dst, t.prefix...)
	return append(dst, path...)
}
