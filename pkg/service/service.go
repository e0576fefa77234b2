// Package service holds what every Mongotron daemon's main does the same
// way: load and check the configuration, build the logger, run until
// SIGINT or SIGTERM, and map the outcome to an exit status.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/logging"
)

// Exit statuses of [Main].
const (
	// ExitOK is a clean stop, including after a signal.
	ExitOK = 0
	// ExitFailure is a failure while running, such as an unreachable
	// dependency.
	ExitFailure = 1
	// ExitUsage is a configuration error: a bad flag, environment
	// variable or value.
	ExitUsage = 2
)

// SignalContext returns a copy of parent that is cancelled on SIGINT or
// SIGTERM. Calling stop releases the signal handlers, after which a second
// signal kills the process as usual.
func SignalContext(parent context.Context) (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// Program describes a daemon to [Main].
type Program struct {
	// Name is the binary's name, used in usage and error messages.
	Name string
	// Summary is one sentence for the usage text. Empty means none.
	Summary string
	// Help ends the usage text, after the flags: what the flags alone do
	// not say, such as a control API. Empty means nothing more.
	Help string
	// Config is the root configuration: it registers every flag and
	// validates every component.
	Config config.Component
	// Logging points at the logging part of Config, read once the
	// configuration is loaded. Nil means the zero [logging.Config].
	Logging *logging.Config
	// Options are passed to [config.Load] after
	// config.IgnoreKeys(config.SharedKeys()...), which every daemon
	// accepts so one environment file can serve them all.
	Options []config.Option
	// Run constructs the service and runs it until ctx is done. A nil
	// error means a clean stop.
	Run func(ctx context.Context, logger *slog.Logger) error
}

// Main runs p with the command-line arguments args (without the program
// name) and the environment environ, and returns the exit status: a
// configuration error is one line on stderr and [ExitUsage]; an error from
// p.Run is logged and gives [ExitFailure]; --help prints the usage and
// gives [ExitOK]. Logs go to stderr; the first are warnings naming each
// deprecated setting name used ([config.Renamed]) and its replacement.
func Main(ctx context.Context, p Program, args, environ []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	p.Config.RegisterFlags(fs)
	opts := loadOptions(p.Options)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n", p.Name)
		if p.Summary != "" {
			fmt.Fprintf(stderr, "\n%s\n", p.Summary)
		}
		fmt.Fprintf(stderr, "\nFlags; each is also read from the environment variable shown, and a flag wins:\n\n")
		config.PrintFlags(stderr, fs, opts...)
		if p.Help != "" {
			fmt.Fprintf(stderr, "\n%s", p.Help)
		}
	}
	if err := config.Load(fs, args, environ, opts...); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return usageError(stderr, p.Name, err)
	}
	if err := p.Config.Validate(); err != nil {
		return usageError(stderr, p.Name, err)
	}
	var lc logging.Config
	if p.Logging != nil {
		lc = *p.Logging
	}
	logger, err := logging.New(lc, stderr)
	if err != nil {
		return usageError(stderr, p.Name, err)
	}
	WarnDeprecated(logger, fs)
	if err := p.Run(ctx, logger); err != nil {
		logger.Error(p.Name+" failed", "err", err)
		return ExitFailure
	}
	return ExitOK
}

// WarnDeprecated logs a warning for each deprecated setting name
// ([config.Renamed]) that fs was given, naming the one to use instead, so
// that an operator learns of a rename before the old name goes.
func WarnDeprecated(logger *slog.Logger, fs *flag.FlagSet) {
	for _, d := range config.Deprecated(fs) {
		attrs := []any{"name", d.Old, "use", d.New}
		if d.Ignored {
			attrs = append(attrs, "ignored", true)
		}
		logger.Warn("deprecated setting name; it is removed in the next release", attrs...)
	}
}

// LoadConfig parses args and environ into c exactly as [Main] does (the
// shared keys accepted, then extra options), and validates it. Tests and
// tools use it to build a daemon's configuration the way the binary would.
func LoadConfig(name string, c config.Component, args, environ []string, extra ...config.Option) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := config.Load(fs, args, environ, loadOptions(extra)...); err != nil {
		return err
	}
	return c.Validate()
}

// loadOptions are the config.Load options of every daemon: the keys the
// binaries share are accepted, so one environment file serves them all.
func loadOptions(extra []config.Option) []config.Option {
	return append([]config.Option{config.IgnoreKeys(config.SharedKeys()...)}, extra...)
}

func usageError(w io.Writer, name string, err error) int {
	fmt.Fprintf(w, "%s: %s\n", name, strings.ReplaceAll(err.Error(), "\n", "; "))
	return ExitUsage
}
