package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/edgecache/edgecache/bench"
	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/localcluster"
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

// benchFlags are the parsed flags of `edgecache bench`: a bench.Config
// and, for --local, the edges' configuration, plus what is neither.
type benchFlags struct {
	cfg        bench.Config
	edge       edge.Config // every --local edge's
	targets    listValue
	compare    compareValue
	local      int
	localLog   string
	diskDir    string
	paths      string
	workload   string
	kills      killValue
	sustainMax int

	jsonFile, htmlFile string
	logs               logFlags
}

// newBenchFlags returns the flags at their defaults: bench.DefaultConfig's,
// and for --local edges edge.DefaultConfig's.
func newBenchFlags() *benchFlags {
	b := &benchFlags{cfg: bench.DefaultConfig(), edge: edge.DefaultConfig()}
	b.workload = string(b.cfg.Workload)
	return b
}

func (b *benchFlags) register(f *flagSet) {
	c := &b.cfg
	f.Var(&b.targets, "target", "base URL of the deployment under test; repeat or comma-separate for several nodes (workers are spread over them)")
	f.Var(&b.compare, "compare", "name=URL[,URL...]: a deployment to compare, run in turn with the same workload and seed; repeat for each (in the environment, separate them with ';')")
	f.Int(&b.local, "local", "start a synthetic origin and this many edges in-process on loopback, and measure them")
	f.Size(&b.edge.CacheSize, "cache-size", "with --local: cache memory of each edge")
	f.Size(&b.edge.ChunkSize, "chunk-size", "with --local: chunk size of each edge")
	f.Int(&b.edge.ReadaheadNext, "readahead-next", "with --local: chunks past a sequential request each edge fetches for the next one (0: off)")
	f.Size(&b.edge.DiskSize, "disk-size", "with --local: a disk tier of this size for each edge, in a directory of its own removed when the bench ends (default: none, memory only)")
	f.String(&b.diskDir, "disk-dir", "with --disk-size: directory the edges' disk tiers are made in, to measure a chosen filesystem (default: the system's temporary directory)")
	f.String(&b.localLog, "local-log", "with --local: file the origin's and the edges' logs are appended to (default: none, so that they do not mix with the report)")

	f.String(&b.workload, "workload", "video (viewers reading objects in segment-size ranges), range (random ranges) or segments (whole objects)")
	f.Int(&c.Objects, "objects", "number of synthetic objects in the catalogue")
	f.Size(&c.ObjectSize, "object-size", "size of each synthetic object")
	f.String(&b.paths, "paths", "file listing the object paths to read instead of synthetic ones, one 'PATH [SIZE]' a line")
	f.Size(&c.SegmentSize, "segment-size", "video: bytes of each range request")
	f.Size(&c.RangeSize, "range-size", "range: bytes of each request")
	f.Float64(&c.Zipf, "zipf", "popularity skew s: rank k is chosen with probability proportional to (1+k)^-s; 0 for uniform, else greater than 1")
	f.Bitrate(&c.Bitrate, "bitrate", "video: pace each viewer at this bitrate (e.g. 5Mbps) and count rebuffers; 0 reads as fast as served")
	f.Int(&c.StartupSegments, "startup-segments", "video: segments buffered before playback starts")
	f.Int(&c.BufferSegments, "buffer-segments", "video: segments a paced viewer buffers ahead of its playhead")

	f.Int(&c.Concurrency, "concurrency", "workers: viewers (video), parallel requests (closed loop), or most requests in flight (open loop)")
	f.Float64(&c.Rate, "rate", "open loop: requests per second, latency measured from each request's intended send time; 0 for closed loop")
	f.Duration(&c.Duration, "duration", "length of the measured run")
	f.Duration(&c.Warmup, "warmup", "run the workload this long before measuring")
	f.Int64(&c.Requests, "requests", "end after this many measured requests (0: no count bound; --duration still applies)")
	f.Duration(&c.Timeout, "timeout", "bound on one request, send to last byte")
	f.Uint64(&c.Seed, "seed", "seed of every random choice: the same seed asks for the same objects")

	f.URL(&c.VerifyOrigin, "verify-origin", "trusted origin base URL: sampled responses of non-synthetic objects are compared with the same range from it")
	f.Float64(&c.VerifySample, "verify-sample", "fraction of non-synthetic responses checked against --verify-origin")
	f.URL(&c.OriginStats, "origin-stats", "reference origin URL whose /.edgecache/stats gives origin egress and offload (automatic with --local)")
	f.Int(&b.sustainMax, "sustain-max", "video: search for the most viewers sustained with under 1% of segments rebuffered, from --concurrency up to this many (doubling, then bisecting; each step a full run); 0: one run")
	f.Var(&b.kills, "kill", "with --local: NODE@TIME stops edge NODE (1 to N) TIME into the measured run, e.g. 2@5s; repeatable")

	f.String(&b.jsonFile, "json", "write the report as JSON (schema_version "+strconv.Itoa(bench.SchemaVersion)+") to this file")
	f.String(&b.htmlFile, "html", "write the report as a self-contained HTML page to this file")
	b.logs.register(f, "info")
}

// runBench is the `edgecache bench` command.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("bench", benchSynopsis, stdout)
	b := newBenchFlags()
	b.register(f)
	if err := f.parse(args, 0); err != nil {
		return err
	}
	f.p.add(b.check(f.bad))
	log, err := b.logs.logger(stderr)
	f.p.add(err)
	f.p.add(b.complete(stderr))
	if err := f.problems(); err != nil {
		return err
	}
	b.cfg.Logger = log
	if b.local > 0 {
		stop, err := b.startLocal(ctx, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return b.run(ctx, stdout)
}

// check judges what the bench package cannot: how the flags combine. bad
// are the flags whose value was refused: they count as given.
func (b *benchFlags) check(bad map[string]bool) error {
	sources := 0
	for _, given := range []bool{len(b.targets) > 0 || bad["target"], len(b.compare.deps) > 0 || bad["compare"], b.local > 0 || bad["local"]} {
		if given {
			sources++
		}
	}
	switch {
	case b.local < 0:
		return errors.New("--local must be a number of edges >= 1")
	case sources == 0:
		return errors.New("give --target URL, --compare name=URL or --local N")
	case sources > 1:
		return errors.New("--target, --compare and --local are alternatives; give one")
	case b.sustainMax < 0:
		return errors.New("--sustain-max must be a number of viewers >= 0")
	case b.sustainMax > 0 && len(b.compare.deps) > 0:
		return errors.New("--sustain-max and --compare are alternatives: search one deployment at a time")
	case b.sustainMax > 0 && len(b.kills) > 0:
		return errors.New("--sustain-max and --kill are alternatives: a search needs steady runs")
	case len(b.kills) > 0 && b.local == 0:
		return errors.New("--kill needs --local: the bench can only stop edges it started")
	}
	if err := b.checkDisk(bad); err != nil {
		return err
	}
	for _, k := range b.kills {
		if k.node > b.local {
			return fmt.Errorf("--kill %d@%v: there are only %d edges", k.node, k.at, b.local)
		}
	}
	return nil
}

// checkDisk judges --disk-size and --disk-dir: a disk tier is for edges
// the bench starts, and must hold whole chunks.
func (b *benchFlags) checkDisk(bad map[string]bool) error {
	size := b.edge.DiskSize
	switch {
	case bad["disk-size"]:
		return nil // said already
	case size != 0 && b.local == 0:
		return errors.New("--disk-size needs --local: the bench can only give a disk tier to edges it starts")
	case size < 0:
		return errors.New("--disk-size must not be negative")
	case size > 0 && size < edge.MinDiskSize(b.edge.ChunkSize, b.edge.DiskChunkShare):
		return fmt.Errorf("--disk-size %s leaves its shards or its chunks under 16 chunks of --chunk-size and 512 KiB: give at least %s",
			FormatSize(size), FormatSize(edge.MinDiskSize(b.edge.ChunkSize, b.edge.DiskChunkShare)))
	case b.diskDir != "" && size == 0:
		return errors.New("--disk-dir needs --disk-size")
	}
	if b.diskDir != "" {
		if fi, err := os.Stat(b.diskDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--disk-dir %s is not a directory", b.diskDir)
		}
	}
	return nil
}

// complete fills in what the flags give indirectly: the workload, the
// catalogue of --paths, and progress lines when stderr is a terminal.
func (b *benchFlags) complete(stderr io.Writer) error {
	b.cfg.Targets = b.targets
	b.cfg.Workload = bench.Workload(b.workload)
	if fl, ok := stderr.(*os.File); ok && term.IsTerminal(int(fl.Fd())) {
		b.cfg.Progress = stderr
	}
	if b.paths == "" {
		return nil
	}
	file, err := os.Open(b.paths)
	if err != nil {
		return fmt.Errorf("--paths: %w", err)
	}
	defer file.Close()
	b.cfg.Catalogue, err = bench.ReadCatalogue(file)
	if err != nil {
		return fmt.Errorf("--paths %s: %w", b.paths, err)
	}
	return nil
}

// startLocal starts the --local cluster and points the run at it. Its
// logs go to --local-log, or nowhere: they would mix with the report.
func (b *benchFlags) startLocal(ctx context.Context, log *slog.Logger) (stop func(), err error) {
	clusterLog, closeLog, err := b.localLogger()
	if err != nil {
		return nil, err
	}
	disks, removeDisks, err := b.localDisks()
	if err != nil {
		closeLog()
		return nil, err
	}
	cluster, err := localcluster.Start(ctx, localcluster.Config{
		Edges:  b.local,
		Origin: origin.ServerConfig{Synthetic: true},
		Edge: func(i int, cfg *edge.Config) {
			cfg.CacheSize, cfg.ChunkSize, cfg.ReadaheadNext = b.edge.CacheSize, b.edge.ChunkSize, b.edge.ReadaheadNext
			if disks != nil {
				cfg.DiskPaths, cfg.DiskSize = []string{disks[i]}, b.edge.DiskSize
			}
		},
		Logger: clusterLog,
	})
	if err != nil {
		removeDisks()
		closeLog()
		return nil, err
	}
	b.cfg.Targets = cluster.Targets()
	b.cfg.Tiers = func() bench.TierBytes { return sentByTier(cluster.Nodes()) }
	if b.cfg.OriginStats == "" {
		b.cfg.OriginStats = cluster.OriginURL()
	}
	for _, k := range b.kills {
		b.cfg.Faults = append(b.cfg.Faults, bench.Fault{
			At:     k.at,
			Name:   fmt.Sprintf("kill edge %d", k.node),
			Inject: func() error { return cluster.Kill(k.node - 1) },
		})
	}
	log.Info("local cluster", "origin", cluster.OriginURL(), "edges", strings.Join(b.cfg.Targets, ","), "disks", strings.Join(disks, ","))
	return func() {
		if err := cluster.Close(); err != nil {
			log.Warn("stopping the local cluster", "err", err)
		}
		removeDisks()
		closeLog()
	}, nil
}

// localDisks makes a directory for each --local edge's disk tier, in one
// temporary directory under --disk-dir (or the system's), and returns
// them and what removes them all; none without --disk-size.
func (b *benchFlags) localDisks() (dirs []string, remove func(), err error) {
	if b.edge.DiskSize == 0 {
		return nil, func() {}, nil
	}
	root, err := os.MkdirTemp(b.diskDir, "edgecache-bench-disks-")
	if err != nil {
		return nil, nil, usagef("edgecache bench: --disk-dir: %v", err)
	}
	for i := range b.local {
		dirs = append(dirs, filepath.Join(root, fmt.Sprintf("edge%d", i+1)))
	}
	return dirs, func() { _ = os.RemoveAll(root) }, nil
}

// sentByTier sums the edges' own counters of body bytes sent, by where
// they found them.
func sentByTier(nodes []*edge.Node) bench.TierBytes {
	var t bench.TierBytes
	for _, n := range nodes {
		s := n.Stats()
		t.Memory += s.SentHit
		t.Disk += s.SentDisk
		t.Peer += s.SentPeer
		t.Origin += s.SentOrigin
	}
	return t
}

// localLogger is the logger of the --local cluster: JSON lines appended
// to --local-log, or a discarding one.
func (b *benchFlags) localLogger() (*slog.Logger, func(), error) {
	if b.localLog == "" {
		return slog.New(slog.DiscardHandler), func() {}, nil
	}
	file, err := os.OpenFile(b.localLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, usagef("edgecache bench: --local-log: %v", err)
	}
	return slog.New(slog.NewJSONHandler(file, nil)), func() { _ = file.Close() }, nil
}

// run runs the bench as configured and writes its reports.
func (b *benchFlags) run(ctx context.Context, stdout io.Writer) error {
	var results []*bench.Result
	var runErr error
	var sustained *bench.SustainResult
	switch {
	case b.sustainMax > 0:
		sustained, runErr = bench.Sustain(ctx, b.cfg, b.sustainMax)
		if sustained != nil && sustained.Best != nil {
			results = append(results, sustained.Best)
		}
	case len(b.compare.deps) > 0:
		results, runErr = bench.Compare(ctx, b.cfg, b.compare.deps)
	default:
		var res *bench.Result
		res, runErr = bench.Run(ctx, b.cfg)
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
	rep := bench.NewReport(b.cfg, time.Now(), results...)
	rep.Sustain = sustained
	if err := b.writeReports(rep, stdout); err != nil {
		return err
	}
	if runErr == nil && ctx.Err() != nil {
		// The report covers what ran, but the run was cut short.
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return runErr
}

// writeReports prints the report, writes the files asked for, and says
// where each went.
func (b *benchFlags) writeReports(rep *bench.Report, stdout io.Writer) error {
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	for _, out := range []struct {
		kind, path string
		write      func(io.Writer) error
	}{{"JSON", b.jsonFile, rep.WriteJSON}, {"HTML", b.htmlFile, rep.WriteHTML}} {
		if out.path == "" {
			continue
		}
		if err := writeReportFile(out.path, out.write); err != nil {
			return err
		}
		abs, err := filepath.Abs(out.path)
		if err != nil {
			abs = out.path
		}
		fmt.Fprintf(stdout, "%s report written to %s\n", out.kind, abs)
	}
	return nil
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

// writeReportFile writes one report format to path.
func writeReportFile(path string, write func(io.Writer) error) error {
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
