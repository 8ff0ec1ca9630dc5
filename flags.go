package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// envPrefix is prepended to a flag's upper-cased name to form its
// environment twin: --cache-size is also EDGECACHE_CACHE_SIZE.
const envPrefix = "EDGECACHE_"

// usageError is a bad flag or value: main prints it on one line and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// envName returns the environment twin of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a flag set whose errors come back to the caller instead
// of being printed, and whose --help lists every flag with its default and
// its environment twin.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: edgecache %s [flags]\n\n%s\n\nflags (each also read from its environment twin):\n", name, synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if def == "" {
				def = `""`
			}
			fmt.Fprintf(out, "  --%s\n        %s (default %s; env %s)\n", f.Name, f.Usage, def, envName(f.Name))
		})
	}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command line
// from its environment twin, so that the command line wins over the
// environment. Every bad value is reported, one line each, not only the
// first; errors name the flag (or its twin) and the offending value.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	_, err := parseCommandLine(fs, args, getenv, 0)
	return err
}

// parseCommandLine is parseFlags for commands that take up to maxArgs
// arguments after their flags (fs.Args()); it also returns the flags the
// command line gave, as opposed to the environment or the defaults.
func parseCommandLine(fs *flag.FlagSet, args []string, getenv func(string) string, maxArgs int) (map[string]bool, error) {
	// The flag package prints the whole usage on every error; only --help
	// should, the rest is one line per problem.
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	// The flag package stores what it could parse of a bad value (0 for
	// "many"), so every later check would report a second, made-up
	// problem: while parsing, a scalar flag keeps its value instead.
	var wrapped []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if scalar(f.Value) {
			f.Value = keepOnError{f.Value}
			wrapped = append(wrapped, f)
		}
	})
	defer func() {
		for _, f := range wrapped {
			f.Value = f.Value.(keepOnError).Value
		}
	}()
	p := problems{cmd: "edgecache " + fs.Name()}
	for rest := args; ; {
		err := fs.Parse(rest)
		if err == nil {
			break
		}
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return nil, err
		}
		// The flag package names flags with one dash; we document two.
		msg := strings.Replace(err.Error(), "flag provided but not defined: -", "unknown flag --", 1)
		msg = strings.Replace(msg, "for flag -", "for --", 1)
		if !strings.Contains(msg, " for --") {
			msg = strings.Replace(msg, " for -", " for --", 1) // invalid boolean value
		}
		msg = strings.Replace(msg, "flag needs an argument: -", "flag needs an argument: --", 1)
		p.addf("%s", msg)
		if !strings.HasPrefix(err.Error(), "invalid ") {
			// After an unknown flag there is no telling whether the next
			// word is its value: stop here rather than guess.
			return nil, p.err()
		}
		rest = fs.Args() // the flag and its bad value are consumed: go on
	}
	if fs.NArg() > maxArgs {
		p.addf("unexpected argument %q", fs.Arg(maxArgs))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		v := getenv(envName(f.Name))
		if v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			p.addf("invalid value %q for %s: %v", v, envName(f.Name), e)
		}
	})
	return given, p.err()
}

// keepOnError is a flag value that a failed Set leaves as it was.
type keepOnError struct{ flag.Value }

func (k keepOnError) Set(v string) error {
	old := k.Value.String()
	err := k.Value.Set(v)
	if err != nil {
		_ = k.Value.Set(old) // scalar: String and Set round-trip
	}
	return err
}

// IsBoolFlag keeps --flag (without =value) working for bool flags.
func (k keepOnError) IsBoolFlag() bool {
	b, ok := k.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// scalar reports whether v holds one value whose String parses back with
// Set: the flag package's own kinds and sizeValue, not lists that append.
func scalar(v flag.Value) bool {
	if _, ok := v.(*sizeValue); ok {
		return true
	}
	g, ok := v.(flag.Getter)
	if !ok {
		return false
	}
	switch g.Get().(type) {
	case bool, int, int64, uint, uint64, float64, string, time.Duration:
		return true
	}
	return false
}

// problems collects what is wrong with a command's configuration, so that
// one run reports every problem, one line each, rather than the first.
type problems struct {
	cmd   string // "edgecache edge": the prefix of each line
	lines []string
}

func (p *problems) addf(format string, args ...any) {
	p.lines = append(p.lines, p.cmd+": "+fmt.Sprintf(format, args...))
}

// add records err, one problem per line of its message (errors.Join
// joins with newlines); nil adds nothing.
func (p *problems) add(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	var ue *usageError
	if errors.As(err, &ue) {
		msg = ue.msg
	}
	for line := range strings.SplitSeq(msg, "\n") {
		if !strings.HasPrefix(line, "edgecache ") {
			line = p.cmd + ": " + line
		}
		p.lines = append(p.lines, line)
	}
}

// err returns every problem as one usage error (exit status 2), or nil.
func (p *problems) err() error {
	if len(p.lines) == 0 {
		return nil
	}
	return &usageError{msg: strings.Join(p.lines, "\n")}
}

// sizeValue is a byte count flag that accepts 1048576, 512KiB, 1MiB, 1GiB,
// 1.5GiB and the decimal units kB, MB, GB.
type sizeValue int64

func (s *sizeValue) String() string { return formatSize(int64(*s)) }

func (s *sizeValue) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeValue(n)
	return nil
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// parseSize parses a byte count with an optional unit.
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("unknown size unit %q (use B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)", s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("not a size: %q", v)
	}
	n := f * mult
	if n < 0 || n > math.MaxInt64/2 {
		return 0, fmt.Errorf("size out of range: %q", v)
	}
	return int64(n), nil
}

// formatSize prints a byte count in the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}
