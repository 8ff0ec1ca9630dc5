package cli

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The flag types of the commands. Each parses its text into a value or
// into an error that says what to write instead, and leaves the value as
// it was on an error. Their String is what --help and --print-config show,
// and parses back to the same value.

// scalar is a flag holding one value of type T at p.
type scalar[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (s scalar[T]) String() string {
	if s.p == nil {
		return ""
	}
	return s.format(*s.p)
}

func (s scalar[T]) Set(v string) error {
	x, err := s.parse(v)
	if err != nil {
		return err
	}
	*s.p = x
	return nil
}

// boolValue is a flag that is true when given without a value.
type boolValue struct{ p *bool }

func (b boolValue) String() string   { return strconv.FormatBool(b.p != nil && *b.p) }
func (b boolValue) IsBoolFlag() bool { return true }

func (b boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	*b.p = x
	return nil
}

// String registers a flag of any text.
func (f *flagSet) String(p *string, name, usage string) {
	f.Var(scalar[string]{p, func(v string) (string, error) { return v, nil }, identity}, name, usage)
}

// Bool registers a switch: --name, --name=true or --name=false.
func (f *flagSet) Bool(p *bool, name, usage string) { f.Var(boolValue{p}, name, usage) }

// Int registers a whole number.
func (f *flagSet) Int(p *int, name, usage string) {
	f.Var(scalar[int]{p, parseInt, strconv.Itoa}, name, usage)
}

// Int64 registers a whole number of 64 bits.
func (f *flagSet) Int64(p *int64, name, usage string) {
	f.Var(scalar[int64]{p, func(v string) (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, errors.New("want a whole number, such as 4")
		}
		return n, nil
	}, formatInt}, name, usage)
}

// Uint64 registers a whole number from 0.
func (f *flagSet) Uint64(p *uint64, name, usage string) {
	f.Var(scalar[uint64]{p, func(v string) (uint64, error) {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, errors.New("want a whole number from 0, such as 1")
		}
		return n, nil
	}, func(n uint64) string { return strconv.FormatUint(n, 10) }}, name, usage)
}

// Float64 registers a number.
func (f *flagSet) Float64(p *float64, name, usage string) {
	f.Var(scalar[float64]{p, func(v string) (float64, error) {
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, errors.New("want a number, such as 0.5")
		}
		return x, nil
	}, func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }}, name, usage)
}

// Duration registers a duration with a unit: 500ms, 10s, 2m, 1h30m.
func (f *flagSet) Duration(p *time.Duration, name, usage string) {
	f.Var(scalar[time.Duration]{p, parseDuration, time.Duration.String}, name, usage)
}

// Size registers a byte count such as 1048576, 512KiB, 4GiB or 10MB.
func (f *flagSet) Size(p *int64, name, usage string) {
	f.Var(scalar[int64]{p, ParseSize, FormatSize}, name, usage)
}

// Bitrate registers bits per second: 5Mbps, 800kbps, 2500000.
func (f *flagSet) Bitrate(p *int64, name, usage string) {
	f.Var(scalar[int64]{p, parseBitrate, formatBitrate}, name, usage)
}

// URL registers the base URL of an HTTP service, or "" for none.
func (f *flagSet) URL(p *string, name, usage string) {
	f.Var(scalar[string]{p, checked(checkURL), identity}, name, usage)
}

// Addr registers a listener or peer address host:port, or "" for none.
func (f *flagSet) Addr(p *string, name, usage string) {
	f.Var(scalar[string]{p, checked(checkAddr), identity}, name, usage)
}

// AddrList registers comma-separated addresses host:port.
func (f *flagSet) AddrList(p *string, name, usage string) {
	f.Var(scalar[string]{p, checked(func(v string) error {
		for _, a := range splitList(v) {
			if err := checkAddr(a); err != nil {
				return fmt.Errorf("%s: %w", a, err)
			}
		}
		return nil
	}), identity}, name, usage)
}

// List registers comma-separated words, such as HTTP methods; --help and
// --print-config show them comma-separated, so they parse back alike.
func (f *flagSet) List(p *[]string, name, usage string) {
	f.Var(scalar[[]string]{p, func(v string) ([]string, error) { return splitList(v), nil },
		func(l []string) string { return strings.Join(l, ",") }}, name, usage)
}

func identity(s string) string { return s }
func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
func parseInt(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, errors.New("want a whole number, such as 4")
	}
	return n, nil
}

// checked turns a check of a text into the parser of a text flag.
func checked(check func(string) error) func(string) (string, error) {
	return func(v string) (string, error) {
		if v == "" {
			return "", nil
		}
		return v, check(v)
	}
}

// parseDuration parses a duration, and tells a number without a unit
// what it lacks: time.ParseDuration accepts none but "0".
func parseDuration(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	d, err := time.ParseDuration(s)
	if err == nil {
		return d, nil
	}
	if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
		return 0, fmt.Errorf("a duration needs a unit: write %ss (or ms, m, h)", s)
	}
	return 0, errors.New("want a duration such as 500ms, 10s or 2m")
}

// checkURL accepts an absolute http or https URL with a host, and tells
// an address without a scheme how to write it.
func checkURL(v string) error {
	u, err := url.Parse(v)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	if !strings.Contains(v, "://") {
		return fmt.Errorf("a URL needs its scheme: write http://%s", v)
	}
	return errors.New("want an http:// or https:// URL with a host, such as http://origin.example:9000")
}

// checkAddr accepts host:port with a port from 0 to 65535 (an empty host
// is every interface), and tells a bare port or a URL how to write it.
func checkAddr(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		if _, perr := strconv.ParseUint(v, 10, 16); perr == nil {
			return fmt.Errorf("a bare port: write 127.0.0.1:%s (this machine only) or :%s (every interface)", v, v)
		}
		if u, uerr := url.Parse(v); uerr == nil && u.Host != "" {
			return fmt.Errorf("an address is host:port, without a scheme: write %s", u.Host)
		}
		return errors.New("want host:port, such as 127.0.0.1:8080 or :8080")
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseSize parses a byte count with an optional unit: 1048576, 512KiB,
// 1MiB, 1.5GiB, and the decimal kB, MB, GB, TB.
func ParseSize(v string) (int64, error) {
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

// FormatSize prints a byte count in the largest binary unit that divides
// it, as ParseSize reads it back.
func FormatSize(n int64) string {
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

// parseBitrate parses bits per second with decimal units, as bitrates use:
// 5000000, 5M, 5Mbps, 5Mbit/s, 800k, 800kbps, 1.5G. A bare number under
// 1000 is refused: at under 1 kbit/s no video plays, so it is a unit left
// out.
func parseBitrate(v string) (int64, error) {
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
		return 0, errors.New("not a bitrate: use e.g. 5Mbps, 800kbps, 2500000")
	}
	if f > 0 && f*mult < 1000 {
		return 0, fmt.Errorf("%g bit/s is no video bitrate: write %gMbps or %gkbps", f*mult, f, f)
	}
	return int64(f * mult), nil
}

func formatBitrate(b int64) string {
	if b == 0 {
		return "0"
	}
	return strconv.FormatInt(b, 10) + "bps"
}
