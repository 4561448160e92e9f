package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LogOptions choose the log's format and level (--log-format, --log-level).
type LogOptions struct {
	Format string // text or json
	Level  string // debug, info, warn or error
}

// NewLogger returns the slog logger the CLI gives a job: text (logfmt) or
// JSON records on w at the given level. The engine and the components add
// job and stage to every record.
func NewLogger(w io.Writer, o LogOptions) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(o.Level) {
	case "debug":
		level = slog.LevelDebug
	case "", "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level: unknown level %q; use debug, info, warn or error", o.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(o.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: unknown format %q; use text or json", o.Format)
}
