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
// Its configuration is read as every Mongotron daemon's is (pkg/config),
// except that each flag's environment variable is in the simulator's own
// namespace, MONGOTRON_TRONSIM_<FLAG> (MONGOTRON_TRONSIM_HTTP_ADDR), so that
// one environment file can hold the simulator's settings and the ingest's
// without the two meeting; a flag on the command line wins.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// name is the binary's name.
const name = "tronsim"

// envNamespace starts every environment variable of the simulator.
const envNamespace = "MONGOTRON_TRONSIM_"

// DefaultHTTPAddr is where the simulator listens unless told otherwise:
// java-tron's HTTP port, on loopback.
const DefaultHTTPAddr = "127.0.0.1:8090"

// rootConfig is the root configuration of the command.
type rootConfig struct {
	// HTTP is the simulator's server (http.addr, shutdown-timeout).
	HTTP service.HTTPConfig
	// Log configures the logger; its zero value logs at info level.
	Log logging.Config
	// Sim is the simulated node as the flags set it, where 0 means none
	// for the transactions, traps and solid lag (see [rootConfig.simConfig]).
	Sim sim.Config
}

// RegisterFlags registers every flag of the simulator on fs, with the
// old names of the renamed ones (addr, log-level) as deprecated aliases.
func (c *rootConfig) RegisterFlags(fs *flag.FlagSet) {
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultHTTPAddr
	}
	c.HTTP.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
	// The daemons' names for the same settings; the old ones go in the
	// next release.
	config.Renamed(fs, "addr", "http.addr")
	config.Renamed(fs, "log-level", "log.level")
	c.Sim.RegisterFlags(fs)
}

// Validate reports every invalid value at once.
func (c *rootConfig) Validate() error {
	s := c.simConfig()
	return config.ValidateAll(c.HTTP, c.Log, &s)
}

// simConfig returns the simulator's configuration: on the command line 0
// means none (empty blocks, no traps, the head solid at once), where the
// zero Config means the default.
func (c *rootConfig) simConfig() sim.Config {
	s := c.Sim
	if s.TxsPerBlock == 0 {
		s.TxsPerBlock = sim.NoTxs
	}
	if s.TrapRate == 0 {
		s.TrapRate = sim.NoTraps
	}
	if s.SolidLag == 0 {
		s.SolidLag = sim.NoSolidLag
	}
	return s
}

// options are the pkg/config options of the simulator.
func options() []config.Option {
	return []config.Option{config.Namespace(envNamespace)}
}

// controlHelp ends the -h output: the control API, and how tests find the
// traps.
const controlHelp = `Control API (never subject to injected faults):
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

func main() {
	ctx, stop := service.SignalContext(context.Background())
	code := tronsimMain(ctx, os.Args[1:], os.Environ(), os.Stderr)
	stop()
	os.Exit(code)
}

// tronsimMain runs the command and returns its exit status; see
// [service.Main].
func tronsimMain(ctx context.Context, args, environ []string, stderr io.Writer) int {
	var cfg rootConfig
	return service.Main(ctx, service.Program{
		Name:    name,
		Summary: "Tron full node simulator: the java-tron HTTP API over a synthetic or recorded chain, with reorgs, faults and traps.",
		Help:    controlHelp,
		Config:  &cfg,
		Logging: &cfg.Log,
		Options: options(),
		Run:     func(ctx context.Context, logger *slog.Logger) error { return run(ctx, cfg, logger) },
	}, args, environ, stderr)
}

// listen binds the simulator's server for h. A zero http.Server has no
// timeouts; a slow client must not hold a connection forever.
func listen(cfg service.HTTPConfig, h http.Handler, log *slog.Logger) (*service.HTTPServer, error) {
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = sim.ReadHeaderTimeout
	}
	srv, err := service.Listen(cfg, h, log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	srv.Server().RegisterOnShutdown(func() { log.Info("tronsim shutting down") })
	return srv, nil
}

// run serves the simulator until ctx ends, then shuts the server down
// gracefully.
func run(ctx context.Context, cfg rootConfig, log *slog.Logger) error {
	scfg := cfg.simConfig()
	scfg.Logger = log
	scfg.StartNow(time.Now())
	s, err := sim.New(scfg)
	if err != nil {
		return err
	}
	srv, err := listen(cfg.HTTP, s.Handler(), log)
	if err != nil {
		return err
	}
	head, id := s.Head()
	log.Info("tronsim listening", "addr", srv.Addr().String(), "head", head, "head_id", id, "seed", scfg.Seed, "blocks", scfg.BlocksDir, "instant", scfg.Instant)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(runCtx) }()
	// Serve returns once ctx is done and the requests in flight are
	// answered, or at once when serving fails.
	err = srv.Serve(ctx)
	cancel()
	if rerr := <-runErr; rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
