// Command edgebench measures the edge under load, each party in its own
// process: NATS and FerretDB run embedded here, the edge and loadgen run
// as children, and the edge's CPU and memory are read from /proc. It runs
// its scenarios (docs/benchmarks.md): fan-out (10,000 streams, 50,000 messages/s
// delivered: throughput, publish→client latency, CPU per message), idle
// (20,000 streams: RSS per stream), replay (one stream, 100,000 stored
// events: events/s) and, with --scenarios storm, a reconnect storm (10,000
// clients on 1,000 subscriptions resuming at once after an edge restart,
// then after a cut of every connection: seconds until all stream again,
// connections accepted per second). It prints a table on stdout; --json writes the
// figures to a file as well.
//
//	go run ./services/loadgen/cmd/edgebench --edge bin/edge
//
// Without --edge or --loadgen it builds them from the workspace into a
// temporary directory. --peer name=binary (repeatable) runs the fan-out
// and idle scenarios on another server right after the edge's, --rounds
// repeats them interleaved, and a second table then puts every run side
// by side:
//
//	go build -o bin/relay ./services/loadgen/cmd/relay
//	go run ./services/loadgen/cmd/edgebench --edge bin/edge --peer relay=bin/relay --rounds 2 --scenarios fanout,idle
//
// A peer named centrifugo… is a Centrifugo (v6) binary: edgebench writes
// its config at run time (NATS broker in raw mode on the embedded NATS,
// connection JWTs with a fresh HMAC key) and loadgen speaks Centrifugo's
// JSON protocol to it:
//
//	go run ./services/loadgen/cmd/edgebench --edge bin/edge --peer centrifugo=/path/to/centrifugo --scenarios fanout --subs 1000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mongotron/mongotron/services/loadgen/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg bench.Config
	fs := flag.NewFlagSet("edgebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.EdgeBin, "edge", "", "edge `binary` (empty: go build ./services/edge)")
	fs.StringVar(&cfg.LoadgenBin, "loadgen", "", "loadgen `binary` (empty: go build ./services/loadgen)")
	scenarios := fs.String("scenarios", "fanout,idle,replay", "comma-separated scenarios to run")
	edgeEnv := fs.String("edge-env", "", "comma-separated `VAR=value`s added to the edge's environment (GOGC=50,GOMAXPROCS=1)")
	fs.IntVar(&cfg.Streams, "streams", bench.DefaultStreams, "fanout: streams")
	fs.IntVar(&cfg.Subscriptions, "subs", bench.DefaultSubscriptions, "subscriptions the streams are spread over")
	fs.Float64Var(&cfg.Rate, "rate", bench.DefaultRate, "fanout: target messages delivered per second")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "fanout: how long to publish")
	fs.IntVar(&cfg.IdleStreams, "idle-streams", bench.DefaultIdleStreams, "idle: streams (lowered to the open-files limit)")
	fs.DurationVar(&cfg.IdleSettle, "idle-settle", bench.DefaultIdleSettle, "idle: how long to hold the streams before measuring")
	fs.IntVar(&cfg.ReplayEvents, "replay-events", bench.DefaultReplayEvents, "replay: events replayed")
	fs.StringVar(&cfg.ReplayFrom, "replay-from", bench.ReplayJetStream, "replay: where the edge finds the events, `jetstream` (a resume within the events stream's hour) or mongodb (from further back)")
	fs.IntVar(&cfg.LocalAddrs, "local-addrs", bench.DefaultLocalAddrs, "source addresses 127.0.0.2… loadgen spreads streams over")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", bench.DefaultConnectRate, "streams opened per second")
	fs.IntVar(&cfg.StormClients, "storm-clients", bench.DefaultStormClients, "storm: clients, each resuming at its subscription's head")
	fs.IntVar(&cfg.StormSubscriptions, "storm-subs", bench.DefaultStormSubscriptions, "storm: subscriptions the clients are spread over")
	stormModes := fs.String("storm-modes", "restart,drop", "storm: comma-separated rounds, restart (SIGTERM the edge, start it again) and drop (cut every client connection)")
	fs.DurationVar(&cfg.StormTimeout, "storm-timeout", bench.DefaultStormTimeout, "storm: longest wait for every client to stream again, per round")
	fs.DurationVar(&cfg.StormDropWait, "storm-drop-wait", bench.DefaultStormDropWait, "storm: pause before a drop round after another round (the edge's stream-connect bucket refills)")
	var peers peerFlag
	fs.Var(&peers, "peer", "`name=binary` of a server measured beside the edge in the fanout and idle scenarios, repeatable (relay=bin/relay: go build ./services/loadgen/cmd/relay; a name starting with centrifugo runs a Centrifugo v6 binary, configured at run time)")
	fs.IntVar(&cfg.Rounds, "rounds", 1, "how many times each scenario runs on each server, interleaved")
	jsonOut := fs.String("json", "", "also write the figures as JSON to this `file`")
	quiet := fs.Bool("quiet", false, "do not copy progress and the children's logs to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.Scenarios = split(*scenarios)
	cfg.StormModes = split(*stormModes)
	cfg.Peers = peers
	cfg.EdgeEnv = split(*edgeEnv)
	cfg.Log = stderr
	if *quiet {
		cfg.Log = io.Discard
	}
	if cfg.EdgeBin == "" || cfg.LoadgenBin == "" {
		dir, err := os.MkdirTemp("", "edgebench-*")
		if err != nil {
			fmt.Fprintf(stderr, "edgebench: %v\n", err)
			return 1
		}
		defer func() {
			if err := os.RemoveAll(dir); err != nil {
				fmt.Fprintf(stderr, "edgebench: removing the binaries: %v\n", err)
			}
		}()
		for _, b := range []struct {
			bin *string
			pkg string
		}{{&cfg.EdgeBin, "github.com/mongotron/mongotron/services/edge"}, {&cfg.LoadgenBin, "github.com/mongotron/mongotron/services/loadgen"}} {
			if *b.bin != "" {
				continue
			}
			*b.bin = filepath.Join(dir, filepath.Base(b.pkg))
			fmt.Fprintf(stderr, "edgebench: go build %s\n", b.pkg)
			cmd := exec.CommandContext(ctx, "go", "build", "-o", *b.bin, b.pkg)
			cmd.Stdout, cmd.Stderr = stderr, stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(stderr, "edgebench: go build %s: %v\n", b.pkg, err)
				return 1
			}
		}
	}
	r, err := bench.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "edgebench: %v\n", err)
		return 2
	}
	defer r.Close()
	runErr := r.Run(ctx)
	if err := bench.WriteTable(stdout, r.Results()); err != nil {
		fmt.Fprintf(stderr, "edgebench: %v\n", err)
	}
	if len(cfg.Peers) > 0 || cfg.Rounds > 1 {
		fmt.Fprintln(stdout)
		if err := bench.WriteComparison(stdout, r.Runs()); err != nil {
			fmt.Fprintf(stderr, "edgebench: %v\n", err)
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(struct {
			bench.Results
			Runs []bench.Run `json:"runs,omitempty"`
		}{r.Results(), r.Runs()}, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil { //nolint:gosec // G306: a benchmark report, written to be read and shared
			fmt.Fprintf(stderr, "edgebench: %v\n", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "edgebench: %v\n", runErr)
		return 1
	}
	return 0
}

// peerFlag collects --peer name=binary values.
type peerFlag []bench.Peer

func (p *peerFlag) String() string {
	var parts []string
	for _, x := range *p {
		parts = append(parts, x.Name+"="+x.Bin)
	}
	return strings.Join(parts, ",")
}

func (p *peerFlag) Set(v string) error {
	name, bin, ok := strings.Cut(v, "=")
	if !ok || name == "" || bin == "" || name == "edge" {
		return fmt.Errorf("want name=binary (name not edge), got %q", v)
	}
	*p = append(*p, bench.Peer{Name: name, Bin: bin})
	return nil
}

func split(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
