package main

import (
	"io"
	"log/slog"
	"strings"
)

// newLogger builds the process logger from --log-format and --log-level:
// text for people by default, JSON for log shippers.
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("invalid value %q for --log-level: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usagef("invalid value %q for --log-format: use text or json", format)
	}
}

// logFlags are the logging flags every long-running command takes.
type logFlags struct{ format, level string }

func (l *logFlags) register(fs interface {
	StringVar(p *string, name, value, usage string)
}) {
	l.registerLevel(fs, "info")
}

// registerLevel registers the logging flags with another default level,
// for a command whose own output matters more than its logs (the demo).
func (l *logFlags) registerLevel(fs interface {
	StringVar(p *string, name, value, usage string)
}, level string) {
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&l.level, "log-level", level, "least severe level logged: debug, info, warn or error")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) { return newLogger(l.format, l.level, w) }
