package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/edgecache/edgecache/bench"
	"github.com/edgecache/edgecache/origin"
)

const benchSynopsis = `Measure a deployment as its viewers would: throughput, latency and
time to first byte, origin offload, rebuffering, and what a node loss does
to them. Point it at any CDN with --target (or at several with --compare),
or let it start a synthetic origin and N edges in-process with --local N.
Every byte of a synthetic object is verified; any mismatch fails the run.

  edgecache bench --local 3 --workload video --concurrency 200 --bitrate 5Mbps
  edgecache bench --compare edgecache=http://edge:8080 --compare nginx=http://nginx:80 \
      --origin-stats http://origin:9000`

// benchFlags are the parsed flags of `edgecache bench`.
type benchFlags struct {
	targets       listValue
	compare       compareValue
	local         int
	readaheadNext int
	cacheSize     sizeValue
	chunkSize     sizeValue

	workload    string
	objects     int
	objectSize  sizeValue
	paths       string
	segmentSize sizeValue
	rangeSize   sizeValue
	zipf        float64
	bitrate     bitrateValue
	startup     int
	buffer      int

	concurrency int
	sustainMax  int
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	requests    int64
	timeout     time.Duration
	seed        uint64

	verifyOrigin string
	verifySample float64
	originStats  string
	kills        killValue

	jsonFile, htmlFile string
	logs               logFlags
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.targets, "target", "base URL of the deployment under test; repeat or comma-separate for several nodes (workers are spread over them)")
	fs.Var(&f.compare, "compare", "name=URL[,URL...]: a deployment to compare, run in turn with the same workload and seed; repeat for each (in the environment, separate them with ';')")
	fs.IntVar(&f.local, "local", 0, "start a synthetic origin and this many edges in-process on loopback, and measure them")
	f.cacheSize, f.chunkSize = 512<<20, 1<<20
	fs.Var(&f.cacheSize, "cache-size", "with --local: cache memory of each edge")
	fs.Var(&f.chunkSize, "chunk-size", "with --local: chunk size of each edge")
	fs.IntVar(&f.readaheadNext, "readahead-next", 4, "with --local: chunks past a sequential request each edge fetches for the next one (0: off)")

	fs.StringVar(&f.workload, "workload", string(bench.WorkloadVideo), "video (viewers reading objects in segment-size ranges), range (random ranges) or segments (whole objects)")
	fs.IntVar(&f.objects, "objects", bench.DefaultConfig().Objects, "number of synthetic objects in the catalogue")
	f.objectSize = sizeValue(bench.DefaultConfig().ObjectSize)
	fs.Var(&f.objectSize, "object-size", "size of each synthetic object")
	fs.StringVar(&f.paths, "paths", "", "file listing the object paths to read instead of synthetic ones, one 'PATH [SIZE]' a line")
	f.segmentSize = sizeValue(bench.DefaultConfig().SegmentSize)
	fs.Var(&f.segmentSize, "segment-size", "video: bytes of each range request")
	f.rangeSize = sizeValue(bench.DefaultConfig().RangeSize)
	fs.Var(&f.rangeSize, "range-size", "range: bytes of each request")
	fs.Float64Var(&f.zipf, "zipf", bench.DefaultConfig().Zipf, "popularity skew s: rank k is chosen with probability proportional to (1+k)^-s; 0 for uniform, else greater than 1")
	fs.Var(&f.bitrate, "bitrate", "video: pace each viewer at this bitrate (e.g. 5Mbps) and count rebuffers; 0 reads as fast as served")
	fs.IntVar(&f.startup, "startup-segments", bench.DefaultConfig().StartupSegments, "video: segments buffered before playback starts")
	fs.IntVar(&f.buffer, "buffer-segments", bench.DefaultConfig().BufferSegments, "video: segments a paced viewer buffers ahead of its playhead")

	fs.IntVar(&f.concurrency, "concurrency", bench.DefaultConfig().Concurrency, "workers: viewers (video), parallel requests (closed loop), or most requests in flight (open loop)")
	fs.Float64Var(&f.rate, "rate", 0, "open loop: requests per second, latency measured from each request's intended send time; 0 for closed loop")
	fs.DurationVar(&f.duration, "duration", bench.DefaultConfig().Duration, "length of the measured run")
	fs.DurationVar(&f.warmup, "warmup", 0, "run the workload this long before measuring")
	fs.Int64Var(&f.requests, "requests", 0, "end after this many measured requests (0: no count bound; --duration still applies)")
	fs.DurationVar(&f.timeout, "timeout", bench.DefaultConfig().Timeout, "bound on one request, send to last byte")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of every random choice: the same seed asks for the same objects")

	fs.StringVar(&f.verifyOrigin, "verify-origin", "", "trusted origin base URL: sampled responses of non-synthetic objects are compared with the same range from it")
	fs.Float64Var(&f.verifySample, "verify-sample", bench.DefaultConfig().VerifySample, "fraction of non-synthetic responses checked against --verify-origin")
	fs.StringVar(&f.originStats, "origin-stats", "", "reference origin URL whose /.edgecache/stats gives origin egress and offload (automatic with --local)")
	fs.IntVar(&f.sustainMax, "sustain-max", 0, "video: search for the most viewers sustained with under 1% of segments rebuffered, from --concurrency up to this many (doubling, then bisecting; each step a full run); 0: one run")
	fs.Var(&f.kills, "kill", "with --local: NODE@TIME stops edge NODE (1 to N) TIME into the measured run, e.g. 2@5s; repeatable")

	fs.StringVar(&f.jsonFile, "json", "", "write the report as JSON (schema_version "+strconv.Itoa(bench.SchemaVersion)+") to this file")
	fs.StringVar(&f.htmlFile, "html", "", "write the report as a self-contained HTML page to this file")
	f.logs.register(fs)
}

// runBench is the `edgecache bench` command.
func runBench(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", benchSynopsis, stdout)
	var f benchFlags
	f.register(fs)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	log, err := f.logs.logger(stderr)
	if err != nil {
		return err
	}
	cfg, err := f.config(stderr)
	if err != nil {
		return err
	}
	deployments := f.compare.deps
	if f.local > 0 {
		cluster, err := startLocalCluster(ctx, localClusterConfig{
			Edges:         f.local,
			CacheSize:     int64(f.cacheSize),
			ChunkSize:     int64(f.chunkSize),
			ReadaheadNext: cmp.Or(f.readaheadNext, -1),
			Origin:        origin.ServerConfig{Synthetic: true},
			Logger:        log,
		})
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Close(); err != nil {
				log.Warn("stopping the local cluster", "err", err)
			}
		}()
		cfg.Targets = cluster.Targets()
		if cfg.OriginStats == "" {
			cfg.OriginStats = cluster.OriginURL()
		}
		for _, k := range f.kills {
			cfg.Faults = append(cfg.Faults, bench.Fault{
				At:     k.at,
				Name:   fmt.Sprintf("kill edge %d", k.node),
				Inject: func() error { return cluster.Kill(k.node - 1) },
			})
		}
		log.Info("local cluster", "origin", cluster.OriginURL(), "edges", strings.Join(cfg.Targets, ","))
	}
	cfg.Logger = log

	var results []*bench.Result
	var runErr error
	var sustained *bench.SustainResult
	switch {
	case f.sustainMax > 0:
		sustained, runErr = bench.Sustain(ctx, cfg, f.sustainMax)
		if sustained != nil && sustained.Best != nil {
			results = append(results, sustained.Best)
		}
	case len(deployments) > 0:
		results, runErr = bench.Compare(ctx, cfg, deployments)
	default:
		var res *bench.Result
		res, runErr = bench.Run(ctx, cfg)
		if res != nil {
			results = append(results, res)
		}
	}
	var ce *bench.ConfigError
	if errors.As(runErr, &ce) {
		return usagef("edgecache bench: %s: %s", flagOf(ce.Field), ce.Msg)
	}
	if len(results) == 0 {
		return runErr
	}
	rep := bench.NewReport(cfg, time.Now(), results...)
	rep.Sustain = sustained
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if err := writeReportFile(f.jsonFile, rep.WriteJSON); err != nil {
		return err
	}
	if err := writeReportFile(f.htmlFile, rep.WriteHTML); err != nil {
		return err
	}
	if runErr == nil && ctx.Err() != nil {
		// The report covers what ran, but the run was cut short.
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return runErr
}

// check judges what the bench package cannot: how the flags combine.
func (f *benchFlags) check() error {
	sources := 0
	for _, given := range []bool{len(f.targets) > 0, len(f.compare.deps) > 0, f.local > 0} {
		if given {
			sources++
		}
	}
	switch {
	case f.local < 0:
		return usagef("edgecache bench: --local must be a number of edges >= 1")
	case sources == 0:
		return usagef("edgecache bench: give --target URL, --compare name=URL or --local N")
	case sources > 1:
		return usagef("edgecache bench: --target, --compare and --local are alternatives; give one")
	case f.sustainMax < 0:
		return usagef("edgecache bench: --sustain-max must be a number of viewers >= 0")
	case f.sustainMax > 0 && len(f.compare.deps) > 0:
		return usagef("edgecache bench: --sustain-max and --compare are alternatives: search one deployment at a time")
	case f.sustainMax > 0 && len(f.kills) > 0:
		return usagef("edgecache bench: --sustain-max and --kill are alternatives: a search needs steady runs")
	case len(f.kills) > 0 && f.local == 0:
		return usagef("edgecache bench: --kill needs --local: the bench can only stop edges it started")
	case f.local > 0 && (f.cacheSize <= 0 || f.chunkSize <= 0):
		return usagef("edgecache bench: --cache-size and --chunk-size must be positive")
	}
	for _, k := range f.kills {
		if k.node > f.local {
			return usagef("edgecache bench: --kill %d@%v: there are only %d edges", k.node, k.at, f.local)
		}
	}
	return nil
}

// config maps the flags onto a bench.Config; the bench package validates it.
func (f *benchFlags) config(stderr io.Writer) (bench.Config, error) {
	cfg := bench.Config{
		Targets:         f.targets,
		Workload:        bench.Workload(f.workload),
		Objects:         f.objects,
		ObjectSize:      int64(f.objectSize),
		SegmentSize:     int64(f.segmentSize),
		RangeSize:       int64(f.rangeSize),
		Zipf:            f.zipf,
		Bitrate:         int64(f.bitrate),
		StartupSegments: f.startup,
		BufferSegments:  f.buffer,
		Concurrency:     f.concurrency,
		Rate:            f.rate,
		Duration:        f.duration,
		Warmup:          f.warmup,
		Requests:        f.requests,
		Timeout:         f.timeout,
		Seed:            f.seed,
		VerifyOrigin:    f.verifyOrigin,
		VerifySample:    f.verifySample,
		OriginStats:     f.originStats,
	}
	// Zero means "default" to bench.Config; on the command line every
	// default is already filled in, so a zero is a mistake to report.
	for name, v := range map[string]int64{
		"objects": int64(f.objects), "object-size": int64(f.objectSize), "segment-size": int64(f.segmentSize),
		"range-size": int64(f.rangeSize), "startup-segments": int64(f.startup), "buffer-segments": int64(f.buffer),
		"concurrency": int64(f.concurrency), "duration": int64(f.duration), "timeout": int64(f.timeout),
	} {
		if v <= 0 {
			return cfg, usagef("edgecache bench: --%s must be positive", name)
		}
	}
	if f.verifySample <= 0 {
		return cfg, usagef("edgecache bench: --verify-sample must be in (0, 1]")
	}
	if f.paths != "" {
		file, err := os.Open(f.paths)
		if err != nil {
			return cfg, usagef("edgecache bench: --paths: %v", err)
		}
		defer file.Close()
		cfg.Catalogue, err = bench.ReadCatalogue(file)
		if err != nil {
			return cfg, usagef("edgecache bench: --paths %s: %v", f.paths, err)
		}
	}
	if fl, ok := stderr.(*os.File); ok && term.IsTerminal(int(fl.Fd())) {
		cfg.Progress = stderr
	}
	return cfg, nil
}

// flagOf names the flag of a bench.Config field, for usage errors.
func flagOf(field string) string {
	names := map[string]string{
		"Targets": "--target", "Workload": "--workload", "Catalogue": "--paths", "Objects": "--objects",
		"ObjectSize": "--object-size", "SegmentSize": "--segment-size", "RangeSize": "--range-size",
		"Zipf": "--zipf", "Bitrate": "--bitrate", "StartupSegments": "--startup-segments",
		"BufferSegments": "--buffer-segments", "Concurrency": "--concurrency", "Rate": "--rate",
		"Duration": "--duration", "Warmup": "--warmup", "Requests": "--requests", "Timeout": "--timeout",
		"VerifyOrigin": "--verify-origin", "VerifySample": "--verify-sample", "OriginStats": "--origin-stats",
		"Faults": "--kill",
	}
	if n, ok := names[field]; ok {
		return n
	}
	return field
}

// writeReportFile writes one report format to path, if a path was given.
func writeReportFile(path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(file); err != nil {
		_ = file.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return file.Close()
}

// listValue is a repeatable flag whose values may also be comma-separated.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// compareValue collects --compare name=URL[,URL...] deployments.
type compareValue struct{ deps []bench.Deployment }

func (c *compareValue) String() string {
	var parts []string
	for _, d := range c.deps {
		parts = append(parts, d.Name+"="+strings.Join(d.Targets, ","))
	}
	return strings.Join(parts, ";")
}

func (c *compareValue) Set(v string) error {
	for _, one := range strings.Split(v, ";") {
		name, urls, ok := strings.Cut(strings.TrimSpace(one), "=")
		if !ok || name == "" || urls == "" {
			return fmt.Errorf("want name=URL[,URL...], got %q", one)
		}
		if slices.ContainsFunc(c.deps, func(d bench.Deployment) bool { return d.Name == name }) {
			return fmt.Errorf("deployment %q given twice", name)
		}
		var l listValue
		_ = l.Set(urls)
		c.deps = append(c.deps, bench.Deployment{Name: name, Targets: l})
	}
	return nil
}

// kill is one --kill NODE@TIME.
type kill struct {
	node int // 1-based, as printed
	at   time.Duration
}

// killValue collects --kill faults; comma-separated values are allowed, for
// the environment twin.
type killValue []kill

func (k *killValue) String() string {
	var parts []string
	for _, x := range *k {
		parts = append(parts, fmt.Sprintf("%d@%v", x.node, x.at))
	}
	return strings.Join(parts, ",")
}

func (k *killValue) Set(v string) error {
	for _, one := range strings.Split(v, ",") {
		node, at, ok := strings.Cut(strings.TrimSpace(one), "@")
		n, err := strconv.Atoi(node)
		if !ok || err != nil || n < 1 {
			return fmt.Errorf("want NODE@TIME with NODE from 1, e.g. 2@5s; got %q", one)
		}
		d, err := time.ParseDuration(at)
		if err != nil || d < 0 {
			return fmt.Errorf("bad time in %q: want a duration such as 5s", one)
		}
		*k = append(*k, kill{node: n, at: d})
	}
	slices.SortStableFunc(*k, func(a, b kill) int { return int(a.at - b.at) })
	return nil
}

// bitrateValue is bits per second, with decimal units as bitrates use:
// 5000000, 5M, 5Mbps, 5Mbit/s, 800k, 800kbps, 1.5G.
type bitrateValue int64

func (b *bitrateValue) String() string {
	if *b == 0 {
		return "0"
	}
	return strconv.FormatInt(int64(*b), 10) + "bps"
}

func (b *bitrateValue) Set(v string) error {
	s := strings.ToLower(strings.TrimSpace(v))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "bit/s"), "bps")
	mult := 1.0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k':
			mult, s = 1e3, s[:n-1]
		case 'm':
			mult, s = 1e6, s[:n-1]
		case 'g':
			mult, s = 1e9, s[:n-1]
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*mult > 1e15 {
		return fmt.Errorf("not a bitrate: %q (use e.g. 5Mbps, 800kbps, 2500000)", v)
	}
	*b = bitrateValue(f * mult)
	return nil
}
