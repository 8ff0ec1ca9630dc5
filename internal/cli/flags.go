package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3"
)

// envPrefix is prepended to a flag's upper-cased name to form its
// environment twin: --cache-size is also EDGECACHE_CACHE_SIZE.
const envPrefix = "EDGECACHE_"

// EnvName returns the environment twin of a flag, as ff derives it from
// the flag's name and the prefix (upper case, dashes to underscores).
func EnvName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// usageError is a bad flag or value: Run prints it, one problem a line,
// and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// flagSet is the flags of one command: the standard library's FlagSet,
// read from the command line, then from the EDGECACHE_* environment twins
// by ff for every flag the command line did not give. Every value type
// records a bad value as a problem instead of failing the parse (see
// recorded), so that one run reports every problem, one line each, rather
// than the first; and --help lists every flag with its default and twin.
type flagSet struct {
	fs       *flag.FlagSet
	synopsis string
	out      io.Writer // --help
	p        *problems
	// source names where the value being set comes from, for problems:
	// "--name" while the command line is parsed, the twin after.
	source func(name string) string
	// given are the flags the command line set, as opposed to the
	// environment or the defaults.
	given map[string]bool
	// bad are the flags given a value they refused: a check that the flag
	// was given at all must not report it a second time.
	bad  map[string]bool
	args []string // the arguments after the flags
}

func newFlagSet(name, synopsis string, out io.Writer) *flagSet {
	f := &flagSet{
		fs:       flag.NewFlagSet(name, flag.ContinueOnError),
		synopsis: synopsis,
		out:      out,
		p:        &problems{cmd: "edgecache " + name},
		given:    map[string]bool{},
		bad:      map[string]bool{},
	}
	// The flag package prints its own errors and the whole usage on each:
	// only --help prints, and the problems are ours.
	f.fs.SetOutput(io.Discard)
	f.fs.Usage = func() {}
	return f
}

// Var registers a flag whose default is v's value now: the commands point
// their flags at a Config that DefaultConfig filled, so the defaults are
// written once, in the package that owns them.
func (f *flagSet) Var(v flag.Value, name, usage string) {
	f.fs.Var(recorded{Value: v, name: name, f: f}, name, usage)
}

// recorded is a flag value that reports a bad value as a problem of its
// flag set, naming where it came from, and leaves the value as it was:
// the parse goes on, and no later check sees a made-up value.
type recorded struct {
	flag.Value
	name string
	f    *flagSet
}

func (r recorded) Set(v string) error {
	if err := r.Value.Set(v); err != nil {
		r.f.bad[r.name] = true
		r.f.p.addf("invalid value %q for %s: %v", v, r.f.source(r.name), err)
	}
	return nil
}

// IsBoolFlag keeps --flag (without =value) working for bool flags.
func (r recorded) IsBoolFlag() bool {
	b, ok := r.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parse reads the command line, which may end with up to maxArgs
// arguments, then the environment twins of the flags it did not give. It
// returns an error only when the command must stop at once: flag.ErrHelp
// after printing the help, or the problems found when the command line
// itself cannot be read. Bad values are kept as problems: the command adds
// its own with addf or add, and problems returns them all.
func (f *flagSet) parse(args []string, maxArgs int) error {
	f.source = func(name string) string { return "--" + name }
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.printHelp()
			return err
		}
		// A flag the command does not have, or one missing its value:
		// there is no telling what the words after it mean, so stop.
		f.p.addf("%s", f.refused(args))
		return f.p.err()
	}
	f.args = f.fs.Args()
	f.fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	f.source = EnvName
	// Parse with no arguments: the command line is read already, and ff
	// sets the flags it did not give from their twins.
	if err := ff.Parse(f.fs, nil, ff.WithEnvVarPrefix(strings.TrimSuffix(envPrefix, "_"))); err != nil {
		return fmt.Errorf("reading the environment: %w", err)
	}
	if len(f.args) > maxArgs {
		f.p.addf("unexpected argument %q", f.args[maxArgs])
	}
	return nil
}

// require reports a flag left empty that the command cannot do without,
// unless the flag was given a value it refused (that is reported already).
// example is what to write.
func (f *flagSet) require(name, value, example string) {
	if value == "" && !f.bad[name] {
		f.p.addf("--%s must not be empty: write e.g. --%s %s", name, name, example)
	}
}

// problems returns every problem found, one line each, as one usage
// error (exit status 2); nil if there is none.
func (f *flagSet) problems() error { return f.p.err() }

// refused names the argument the flag package stopped on. Its own error
// names the flag with one dash, and ours are documented with two, so the
// argument is found instead: the parser stops before an argument of bad
// syntax ("---x", "-=x"), and after an unknown flag or one missing its
// value (the last argument).
func (f *flagSet) refused(args []string) string {
	rest := f.fs.Args()
	if len(rest) > 0 && badSyntax(rest[0]) {
		return fmt.Sprintf("bad flag syntax %q: write --name or --name=value", rest[0])
	}
	used := args[:len(args)-len(rest)]
	if len(used) == 0 {
		return "bad arguments"
	}
	name, _, _ := strings.Cut(strings.TrimLeft(used[len(used)-1], "-"), "=")
	if f.fs.Lookup(name) == nil {
		return fmt.Sprintf("unknown flag --%s (see 'edgecache %s --help')", name, f.fs.Name())
	}
	return fmt.Sprintf("flag --%s needs a value", name)
}

// badSyntax is the flag package's rule for an argument it refuses before
// reading a name.
func badSyntax(arg string) bool {
	if len(arg) < 2 || arg[0] != '-' || arg == "--" {
		return false
	}
	name := strings.TrimPrefix(arg[1:], "-")
	return name == "" || name[0] == '-' || name[0] == '='
}

// fromEnv reports whether the flag's value came from its environment twin.
func (f *flagSet) fromEnv(name string) bool {
	return !f.given[name] && os.Getenv(EnvName(name)) != ""
}

// printHelp writes the command's synopsis and every flag with its default
// and its environment twin.
func (f *flagSet) printHelp() {
	fmt.Fprintf(f.out, "usage: edgecache %s [flags]\n\n%s\n\nflags (each also read from its environment twin):\n", f.fs.Name(), f.synopsis)
	f.fs.VisitAll(func(fl *flag.Flag) {
		def := fl.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(f.out, "  --%s\n        %s (default %s; env %s)\n", fl.Name, fl.Usage, def, EnvName(fl.Name))
	})
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
