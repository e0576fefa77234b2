// Package logging builds the [slog.Logger] every Mongotron binary logs
// with: JSON for machines, text for people at a terminal.
package logging

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"
)

// Formats [Config.Format] accepts.
const (
	FormatAuto = "auto"
	FormatJSON = "json"
	FormatText = "text"
)

// Config configures [New]. The zero value logs at info level, as text on a
// terminal and as JSON otherwise.
type Config struct {
	// Level is the lowest level written: debug, info, warn or error, in
	// any case. Empty means info.
	Level string
	// Format is auto, json or text. Empty means auto: text when the
	// writer is a terminal, JSON otherwise.
	Format string
}

// RegisterFlags registers log.level and log.format on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Level, "log.level", "info", "lowest level logged: debug, info, warn or error")
	fs.StringVar(&c.Format, "log.format", FormatAuto, "log format: auto (text on a terminal, JSON otherwise), json or text")
}

// Validate checks the level and the format.
func (c Config) Validate() error {
	var errs []error
	if _, err := c.level(); err != nil {
		errs = append(errs, err)
	}
	switch c.Format {
	case "", FormatAuto, FormatJSON, FormatText:
	default:
		errs = append(errs, fmt.Errorf("logging: log.format %q: want auto, json or text", c.Format))
	}
	return errors.Join(errs...)
}

func (c Config) level() (slog.Level, error) {
	if c.Level == "" {
		return slog.LevelInfo, nil
	}
	var l slog.Level
	// UnmarshalText would also accept "info+2"; a config key should
	// only take the four names.
	switch strings.ToLower(c.Level) {
	case "debug", "info", "warn", "error":
		if err := l.UnmarshalText([]byte(c.Level)); err != nil {
			return 0, fmt.Errorf("logging: log.level %q: %w", c.Level, err)
		}
		return l, nil
	}
	return 0, fmt.Errorf("logging: log.level %q: want debug, info, warn or error", c.Level)
}

// New returns a logger writing to w as cfg says.
func New(cfg Config, w io.Writer) (*slog.Logger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	level, _ := cfg.level()
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == FormatText || (cfg.Format != FormatJSON && IsTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// IsTerminal reports whether w is a file open on a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Discard returns a logger that writes nothing, for tests and for callers
// that were given no logger.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
