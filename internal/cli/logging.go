package cli

import (
	"io"
	"log/slog"
	"strings"
)

// logFlags are the logging flags every long-running command takes.
type logFlags struct{ format, level string }

// register adds --log-format and --log-level, with level as the default
// level: info for servers, warn for a command whose own output matters
// more than its logs (the demo).
func (l *logFlags) register(f *flagSet, level string) {
	l.format, l.level = "text", level
	f.String(&l.format, "log-format", "log format: text or json")
	f.String(&l.level, "log-level", "least severe level logged: debug, info, warn or error")
}

// logger builds the process logger, writing to w: text for people by
// default, JSON for log shippers.
func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usagef("invalid value %q for --log-level: use debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(l.format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usagef("invalid value %q for --log-format: use text or json", l.format)
	}
}
