// Command tronsim is a Tron full node simulator: it serves the java-tron
// HTTP API and its gRPC Wallet and WalletSolidity services over a
// synthetic chain (deterministic by --seed) or over recorded blocks
// (--blocks DIR), with reorgs, injected faults and a control API
// (/sim/mine, /sim/reorg, /sim/status, /sim/traps, /sim/faults).
//
// With --nodes N it serves the one chain as N nodes, node i (from 0) on
// the HTTP and gRPC ports of --http.addr and --grpc.addr plus i, each with
// faults of its own that POST /sim/faults on its HTTP port changes: one
// can stall, lag, fail or serve tampered blocks while the others are
// healthy.
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
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"

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

// DefaultGRPCAddr is where the simulator serves gRPC unless told
// otherwise: java-tron's full node gRPC port, on loopback. The
// WalletSolidity service is on the same port, where a real node has it on
// its own (50061).
const DefaultGRPCAddr = "127.0.0.1:50051"

// maxNodes bounds --nodes: each node is two listeners, and a typo should
// not open a thousand.
const maxNodes = 64

// rootConfig is the root configuration of the command.
type rootConfig struct {
	// HTTP is the simulator's server (http.addr, shutdown-timeout).
	HTTP service.HTTPConfig
	// GRPCAddr is where the gRPC services listen. Empty means none.
	GRPCAddr string
	// Nodes is how many node endpoints serve the chain, node i on the
	// ports of HTTP.Addr and GRPCAddr plus i. Zero means 1.
	Nodes int
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
	fs.StringVar(&c.GRPCAddr, "grpc.addr", DefaultGRPCAddr, "`address` (host:port) of the gRPC Wallet and WalletSolidity services (empty: no gRPC)")
	fs.IntVar(&c.Nodes, "nodes", 1, "serve the chain as this many nodes, node i on the ports of --http.addr and --grpc.addr plus i, each with its own faults (POST /sim/faults)")
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
	var errs []error
	n := max(c.Nodes, 1)
	if c.Nodes < 0 || c.Nodes > maxNodes {
		errs = append(errs, fmt.Errorf("%s: nodes %d: want 1 to %d", name, c.Nodes, maxNodes))
	}
	for _, a := range []struct{ flag, addr string }{{"http.addr", c.HTTP.Addr}, {"grpc.addr", c.GRPCAddr}} {
		if a.addr == "" {
			continue
		}
		if _, err := nodeAddr(a.addr, n-1); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", name, a.flag, err))
		}
	}
	return errors.Join(config.ValidateAll(c.HTTP, c.Log, &s), errors.Join(errs...))
}

// nodeAddr returns the address of node i: addr with its port plus i, or
// port 0 (a free port) when addr's is 0.
func nodeAddr(addr string, i int) (string, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", fmt.Errorf("%q: bad port", addr)
	}
	if port == 0 {
		return addr, nil
	}
	if port+i > 65535 {
		return "", fmt.Errorf("%q: node %d would listen past port 65535", addr, i)
	}
	return net.JoinHostPort(host, strconv.Itoa(port+i)), nil
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
const controlHelp = `Nodes: --nodes N serves the one chain as N nodes, node i (from 0) on the
ports of --http.addr and --grpc.addr plus i (port 0: a free port each; the
log names them). Every node starts with the faults of --error-rate,
--latency and --rate-limit; POST /sim/faults on a node's HTTP port changes
that node's alone. gRPC serves java-tron's Wallet and WalletSolidity
services (GetNowBlock2, GetBlockByNum2, GetBlockByLimitNext2,
GetTransactionInfoByBlockNum, TriggerConstantContract, GetNodeInfo), both
on --grpc.addr, through the same faults: ResourceExhausted with
"retry-after" metadata for the rate limit, Internal or Unavailable for
errors.

Control API (never subject to injected faults):
  POST /sim/mine {"n":N}        produce N blocks (default 1)
  POST /sim/reorg {"depth":D}   replace the last D blocks; 409 if D > --solid-lag
  GET  /sim/status              head, solid block, counters, and constant calls
                                per contract and method ("constant_calls")
  GET  /sim/faults              the node's faults, as JSON
  POST /sim/faults {...}        change the faults it names, at run time:
                                error_rate, latency ("250ms"), rate_limit,
                                stall (the head stops where it is), lag (serve
                                the chain as it was N blocks ago),
                                corrupt_blocks (ids that do not verify),
                                corrupt_receipts (infos that do not match)
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
		Summary: "Tron full node simulator: the java-tron HTTP and gRPC APIs over a synthetic or recorded chain, as one node or several, with reorgs, faults and traps.",
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

// node is one endpoint of the chain and its servers.
type node struct {
	e    *sim.Endpoint
	http *service.HTTPServer
	// grpc and grpcLn are nil without gRPC.
	grpc   *grpc.Server
	grpcLn net.Listener
}

// listenNodes binds the servers of n endpoints of s, closing what it
// bound when one fails.
func listenNodes(cfg rootConfig, s *sim.Sim, log *slog.Logger) (nodes []node, err error) {
	defer func() {
		if err != nil {
			for _, n := range nodes {
				_ = n.http.Close()
				if n.grpcLn != nil {
					_ = n.grpcLn.Close()
				}
			}
		}
	}()
	scfg := cfg.Sim
	for i := range max(cfg.Nodes, 1) {
		e := s.Endpoint()
		if i > 0 {
			e = s.NewEndpoint(sim.Faults{ErrorRate: scfg.ErrorRate, Latency: scfg.Latency, RateLimit: scfg.RateLimit})
		}
		hc := cfg.HTTP
		if hc.Addr, err = nodeAddr(hc.Addr, i); err != nil {
			return nodes, fmt.Errorf("%s: node %d: %w", name, i, err)
		}
		n := node{e: e}
		if n.http, err = listen(hc, e.Handler(), log); err != nil {
			return nodes, err
		}
		nodes = append(nodes, n)
		if cfg.GRPCAddr == "" {
			continue
		}
		addr, err := nodeAddr(cfg.GRPCAddr, i)
		if err != nil {
			return nodes, fmt.Errorf("%s: node %d: %w", name, i, err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nodes, fmt.Errorf("%s: node %d: grpc: %w", name, i, err)
		}
		nodes[i].grpcLn = ln
		nodes[i].grpc = grpc.NewServer()
		e.RegisterGRPC(nodes[i].grpc)
	}
	return nodes, nil
}

// serveGRPC serves g until ctx ends, then stops it gracefully, cutting
// the calls still running after timeout.
func serveGRPC(ctx context.Context, g *grpc.Server, ln net.Listener, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("grpc: serve: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		g.Stop()
		<-stopped
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("grpc: serve: %w", err)
	}
	return nil
}

// run serves the simulator until ctx ends, then shuts the servers down
// gracefully.
func run(ctx context.Context, cfg rootConfig, log *slog.Logger) error {
	scfg := cfg.simConfig()
	scfg.Logger = log
	scfg.StartNow(time.Now())
	s, err := sim.New(scfg)
	if err != nil {
		return err
	}
	nodes, err := listenNodes(cfg, s, log)
	if err != nil {
		return err
	}
	head, id := s.Head()
	log.Info("tronsim listening", "nodes", len(nodes), "head", head, "head_id", id, "seed", scfg.Seed, "blocks", scfg.BlocksDir, "instant", scfg.Instant)
	for i, n := range nodes {
		grpcAddr := ""
		if n.grpcLn != nil {
			grpcAddr = n.grpcLn.Addr().String()
		}
		log.Info("tronsim node", "node", i, "http", "http://"+n.http.Addr().String(), "grpc", grpcAddr)
	}

	// A server that fails stops the others and the chain.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1+2*len(nodes))
	var wg sync.WaitGroup
	wg.Go(func() { errc <- s.Run(ctx) })
	shutdown := cmp.Or(cfg.HTTP.ShutdownTimeout, service.DefaultShutdownTimeout)
	for _, n := range nodes {
		// Serve returns once ctx is done and the requests in flight are
		// answered, or at once when serving fails.
		wg.Go(func() {
			err := n.http.Serve(ctx)
			cancel()
			errc <- err
		})
		if n.grpc != nil {
			wg.Go(func() {
				err := serveGRPC(ctx, n.grpc, n.grpcLn, shutdown)
				cancel()
				errc <- err
			})
		}
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
