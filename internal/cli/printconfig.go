package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/edgecache/edgecache/edge"
)

// writeEffectiveConfig prints what `edgecache edge --print-config` shows:
// every flag with the value the edge would run with and where that value
// came from (the command line, its EDGECACHE_* twin, or the default), then
// the settings derived from them. Secrets are never printed: the cluster
// secret shows as its length and source, and so would any flag named like
// a secret (a -file flag names a path, which is printed).
func writeEffectiveConfig(w io.Writer, f *flagSet, cfg edge.Config, secretFile string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "# edgecache %s: effective configuration (command line, then EDGECACHE_* environment, then defaults)\n", f.fs.Name())
	f.fs.VisitAll(func(fl *flag.Flag) {
		if fl.Name == "print-config" {
			return
		}
		value := fl.Value.String()
		if secretFlag(fl.Name) && value != "" {
			value = "<redacted>"
		} else if value == "" || strings.ContainsAny(value, " \t\"'") {
			value = strconv.Quote(value)
		}
		source := "default"
		switch {
		case f.given[fl.Name]:
			source = "command line"
		case f.fromEnv(fl.Name):
			source = "env " + EnvName(fl.Name)
		}
		fmt.Fprintf(tw, "--%s=%s\t%s\n", fl.Name, value, source)
	})
	from := SecretEnv
	if secretFile != "" {
		from = "--cluster-secret-file"
	}
	if len(cfg.ClusterSecret) == 0 {
		fmt.Fprintf(tw, "cluster secret: none\tpeers and purge disabled\n")
	} else {
		fmt.Fprintf(tw, "cluster secret: <redacted>\t%d bytes from %s\n", len(cfg.ClusterSecret), from)
	}
	if n := len(cfg.ClusterSecretAccepted); n > 0 {
		fmt.Fprintf(tw, "cluster secret accepted: <redacted>\t%d bytes, line 2 of %s: accepted, never used to sign (a rotation)\n", n, from)
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		fmt.Fprintf(tw, "memory limit: %s\tenv GOMEMLIMIT\n", v)
	} else {
		if d := DiskMemory(cfg); d > 0 {
			fmt.Fprintf(tw, "memory limit: %s\tcache size + 1/4 + %s + disk tier %s (queues, index, I/O buffers)\n",
				FormatSize(MemoryLimit(cfg.CacheSize)+d), FormatSize(memoryOverhead), FormatSize(d))
		} else {
			fmt.Fprintf(tw, "memory limit: %s\tcache size + 1/4 + %s\n", FormatSize(MemoryLimit(cfg.CacheSize)), FormatSize(memoryOverhead))
		}
	}
	return tw.Flush()
}

// secretFlag reports whether a flag's value is a secret by its name.
func secretFlag(name string) bool {
	if strings.HasSuffix(name, "-file") {
		return false
	}
	for _, s := range []string{"secret", "password", "token"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}
