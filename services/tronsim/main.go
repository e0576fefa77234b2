// Command tronsim is a Tron full node simulator: it serves the java-tron
// HTTP API over a synthetic chain (deterministic by --seed) or over
// recorded blocks (--blocks DIR), with reorgs, injected faults and a
// control API (/sim/mine, /sim/reorg, /sim/status).
//
// Every flag can also be set from the environment as MONGOTRON_TRONSIM_<FLAG>,
// upper case with dashes as underscores (MONGOTRON_TRONSIM_ADDR); a flag on
// the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// config is the root configuration of the command.
type config struct {
	// Addr is the listen address.
	Addr string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// ShutdownTimeout bounds the wait for requests in flight on exit.
	ShutdownTimeout time.Duration
	Sim             sim.Config
}

const envPrefix = "MONGOTRON_TRONSIM_"

func (c *config) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8090", "listen address")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "wait for requests in flight on exit")
	c.Sim.RegisterFlags(fs)
}

// parse reads the flags, then the environment (KEY=value entries) for
// flags not given. A MONGOTRON_TRONSIM_ variable that names no flag is an
// error: a misspelt setting must not be ignored.
func parse(args, environ []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("tronsim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.registerFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, envPrefix) {
			env[k] = v
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		key := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := env[key]
		delete(env, key)
		if set[f.Name] || !ok || v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	})
	for key := range env {
		errs = append(errs, fmt.Errorf("%s: no such setting (see tronsim -h)", key))
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	// On the command line 0 transactions means empty blocks, where the
	// zero Config means the default.
	if c.Sim.TxsPerBlock == 0 {
		c.Sim.TxsPerBlock = sim.NoTxs
	}
	return c, nil
}

func (c *config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: %w", c.LogLevel, err))
	}
	if err := c.Sim.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func newLogger(w *os.File, level string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	if st, err := w.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func main() {
	cfg, err := parse(os.Args[1:], os.Environ())
	if errors.Is(err, flag.ErrHelp) {
		fs := flag.NewFlagSet("tronsim", flag.ContinueOnError)
		fs.SetOutput(os.Stderr)
		var c config
		c.registerFlags(fs)
		fmt.Fprintln(os.Stderr, "usage: tronsim [flags]")
		fs.PrintDefaults()
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tronsim: %v\n", err)
		os.Exit(2)
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "tronsim: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(2)
	}
	log := newLogger(os.Stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("tronsim stopped", "err", err)
		os.Exit(1)
	}
}

// newServer returns the HTTP server of the simulator. A zero http.Server
// has no timeouts; a slow client must not hold a connection forever.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: sim.ReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// run serves the simulator until ctx ends, then shuts the server down
// gracefully.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	cfg.Sim.Logger = log
	cfg.Sim.StartNow(time.Now())
	s, err := sim.New(cfg.Sim)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("tronsim: %w", err)
	}
	srv := newServer(s.Handler(), log)
	head, id := s.Head()
	log.Info("tronsim listening", "addr", ln.Addr().String(), "head", head, "head_id", id, "seed", cfg.Sim.Seed, "blocks", cfg.Sim.BlocksDir, "instant", cfg.Sim.Instant)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(runCtx) }()

	select {
	case <-ctx.Done():
		log.Info("tronsim shutting down")
	case err := <-serveErr:
		cancel()
		<-runErr
		return fmt.Errorf("tronsim: serve: %w", err)
	}
	cancel()
	shutCtx, shutCancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer shutCancel()
	err = srv.Shutdown(shutCtx)
	<-serveErr
	if rerr := <-runErr; rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("tronsim: shutdown: %w", err)
	}
	return nil
}
