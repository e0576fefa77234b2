// Command tronsim is a Tron full node simulator: it serves the java-tron
// HTTP API over a synthetic chain (deterministic by --seed) or over
// recorded blocks (--blocks DIR), with reorgs, injected faults and a
// control API (/sim/mine, /sim/reorg, /sim/status, /sim/traps).
//
// A share of the synthetic transactions (--trap-rate) are traps deposit
// pipelines must survive: internal transactions paying TRX and TRC10 out
// (some rejected), failed calls listing internal transactions, a fake
// USDT, address poisoning with lookalike addresses, memos, a token without
// decimals(). GET /sim/traps?from=&to=&kind= lists them per block; see
// tronsim -h and package sim.
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
	// On the command line 0 means none (empty blocks, no traps, the head
	// solid at once), where the zero Config means the default.
	if c.Sim.TxsPerBlock == 0 {
		c.Sim.TxsPerBlock = sim.NoTxs
	}
	if c.Sim.TrapRate == 0 {
		c.Sim.TrapRate = sim.NoTraps
	}
	if c.Sim.SolidLag == 0 {
		c.Sim.SolidLag = sim.NoSolidLag
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

// controlHelp ends the -h output: the control API, and how tests find the
// traps.
const controlHelp = `
Every flag can also be set as MONGOTRON_TRONSIM_<FLAG> (MONGOTRON_TRONSIM_TRAP_RATE).

Control API (never subject to injected faults):
  POST /sim/mine {"n":N}        produce N blocks (default 1)
  POST /sim/reorg {"depth":D}   replace the last D blocks; 409 if D > --solid-lag
  GET  /sim/status              head, solid block, counters, and constant calls
                                per contract and method ("constant_calls")
  GET  /sim/traps?from=&to=&kind=
                                the traps of blocks from..to (default: the last
                                100), of the given kinds (comma separated):
                                internal_trx, internal_trc10, rejected_frame,
                                failed_with_frames, fake_usdt, poisoning,
                                no_decimals_token, memo_utf8, memo_hex.
                                Per block: tx_id, tx_index, and frame (index in
                                internal_transactions) or log_index, from, to,
                                amount, token_id, signer/victim/lookalike, memo.
                                Also the fake USDT and no-decimals contracts and
                                the victim/lookalike pairs.

Traps take the place of ordinary transactions (--trap-rate of them, 0.03 by
default) and never change block ids. Internal transactions are in the infos
of /wallet/gettransactioninfobyblocknum unless --no-internal-tx. The
solidified block (/walletsolidity/..., getnodeinfo "solidityBlock") trails
the head by --solid-lag blocks, and no reorg goes below it.
`

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
		fmt.Fprint(os.Stderr, controlHelp)
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
