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

// Config describes one run. The zero value of each field means its default,
// which the field's comment states; Run validates the whole Config in one
// place (see Config.validate) before it sends anything.
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
	// realistic skew sets it (the command's --zipf defaults to DefaultZipf).
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

	// Faults are injected during the measured run, in order of At.
	Faults []Fault

	// Progress, when set, receives a live progress line once a second,
	// rewritten in place with '\r'. Set it only for a terminal.
	Progress io.Writer
	// Logger receives setup notes and fault outcomes. Nil discards them.
	Logger *slog.Logger
}

// Defaults of the fields of Config, for documentation and flags.
const (
	DefaultObjects         = 100
	DefaultObjectSize      = 32 << 20
	DefaultSegmentSize     = 2 << 20
	DefaultRangeSize       = 1 << 20
	DefaultZipf            = 1.1 // for commands; Config's zero Zipf is uniform
	DefaultStartupSegments = 2
	DefaultBufferSegments  = 4
	DefaultConcurrency     = 16
	DefaultDuration        = 10 * time.Second
	DefaultTimeout         = 30 * time.Second
	DefaultVerifySample    = 0.05
)

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

// withDefaults returns c with every zero field that has a default set to it.
func (c Config) withDefaults() Config {
	setDefault(&c.Workload, WorkloadVideo)
	setDefault(&c.Objects, DefaultObjects)
	setDefault(&c.ObjectSize, DefaultObjectSize)
	setDefault(&c.SegmentSize, DefaultSegmentSize)
	setDefault(&c.RangeSize, DefaultRangeSize)
	setDefault(&c.StartupSegments, DefaultStartupSegments)
	setDefault(&c.BufferSegments, DefaultBufferSegments)
	setDefault(&c.Concurrency, DefaultConcurrency)
	setDefault(&c.Duration, DefaultDuration)
	setDefault(&c.Timeout, DefaultTimeout)
	setDefault(&c.VerifySample, DefaultVerifySample)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks a Config that has its defaults applied. It is the one
// place where a Config is judged; its errors are *ConfigError, the first
// problem found.
func (c Config) validate() error {
	for _, check := range []func() error{c.checkTargets, c.checkObjects, c.checkPacing, c.checkLoad, c.checkVerify, c.checkFaults} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// checkTargets checks the URLs the load goes to.
func (c Config) checkTargets() error {
	if len(c.Targets) == 0 {
		return fieldErr("Targets", "at least one target URL is required")
	}
	for _, t := range c.Targets {
		if _, err := parseTarget(t); err != nil {
			return fieldErr("Targets", "%v", err)
		}
	}
	return nil
}

// checkObjects checks the workload and the objects it asks for.
func (c Config) checkObjects() error {
	switch c.Workload {
	case WorkloadVideo, WorkloadRange, WorkloadSegments:
	default:
		return fieldErr("Workload", "unknown workload %q (use video, range or segments)", c.Workload)
	}
	if c.Objects < 1 {
		return fieldErr("Objects", "must be at least 1, got %d", c.Objects)
	}
	if c.ObjectSize < 1 {
		return fieldErr("ObjectSize", "must be at least 1 byte, got %d", c.ObjectSize)
	}
	if c.SegmentSize < 1 {
		return fieldErr("SegmentSize", "must be at least 1 byte, got %d", c.SegmentSize)
	}
	if c.RangeSize < 1 {
		return fieldErr("RangeSize", "must be at least 1 byte, got %d", c.RangeSize)
	}
	for i, o := range c.Catalogue {
		if !strings.HasPrefix(o.Path, "/") {
			return fieldErr("Catalogue", "entry %d: path %q must start with /", i+1, o.Path)
		}
		if o.Size < 0 {
			return fieldErr("Catalogue", "entry %d: negative size", i+1)
		}
	}
	return nil
}

// checkPacing checks how objects are drawn and how viewers pace
// themselves.
func (c Config) checkPacing() error {
	if c.Zipf != 0 && (c.Zipf <= 1 || math.IsNaN(c.Zipf) || math.IsInf(c.Zipf, 0)) {
		return fieldErr("Zipf", "must be 0 (uniform) or greater than 1, got %g", c.Zipf)
	}
	if c.Bitrate < 0 {
		return fieldErr("Bitrate", "must not be negative")
	}
	if c.Bitrate > 0 && c.Workload != WorkloadVideo {
		return fieldErr("Bitrate", "paces the video workload only")
	}
	if c.StartupSegments < 1 {
		return fieldErr("StartupSegments", "must be at least 1, got %d", c.StartupSegments)
	}
	if c.BufferSegments < 1 {
		return fieldErr("BufferSegments", "must be at least 1, got %d", c.BufferSegments)
	}
	return nil
}

// checkLoad checks how much load is offered and for how long.
func (c Config) checkLoad() error {
	if c.Concurrency < 1 || c.Concurrency > 1<<20 {
		return fieldErr("Concurrency", "must be between 1 and 1048576, got %d", c.Concurrency)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return fieldErr("Rate", "must be a finite number of requests per second >= 0")
	}
	if c.Rate > 0 && c.Workload == WorkloadVideo {
		return fieldErr("Rate", "open loop applies to the range and segments workloads; video viewers pace themselves with Bitrate")
	}
	if c.Duration <= 0 {
		return fieldErr("Duration", "must be positive: every run is bounded in time")
	}
	if c.Warmup < 0 {
		return fieldErr("Warmup", "must not be negative")
	}
	if c.Requests < 0 {
		return fieldErr("Requests", "must not be negative")
	}
	if c.Timeout <= 0 {
		return fieldErr("Timeout", "must be positive")
	}
	return nil
}

// checkVerify checks where answers are verified and origin figures read.
func (c Config) checkVerify() error {
	if c.VerifyOrigin != "" {
		if _, err := parseTarget(c.VerifyOrigin); err != nil {
			return fieldErr("VerifyOrigin", "%v", err)
		}
	}
	if !(c.VerifySample > 0 && c.VerifySample <= 1) {
		return fieldErr("VerifySample", "must be in (0, 1], got %g", c.VerifySample)
	}
	if c.OriginStats != "" {
		if _, err := parseTarget(c.OriginStats); err != nil {
			return fieldErr("OriginStats", "%v", err)
		}
	}
	return nil
}

// checkFaults checks the faults injected during the run.
func (c Config) checkFaults() error {
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

// setDefault sets *p to v when it holds its zero value.
func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
