// Command loadgen opens many WebSocket streams to a Mongotron edge and
// measures them: live fan-out latency and throughput (--mode fanout),
// idle streams held open (--mode idle), or the replay rate of one stream
// (--mode replay), or a reconnect storm (--mode storm: every stream
// resumes with --after and redials at once when it ends; SIGUSR1 cuts
// them all). It runs in its own process so the edge's CPU and memory
// figures are the edge's alone. Progress goes to stderr, and a JSON
// summary to stdout at the end; SIGINT or SIGTERM ends a run early and
// still prints the summary.
//
// The edgebench command (cmd/edgebench) starts NATS, FerretDB, an edge and
// loadgen, publishes events and prints the figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mongotron/mongotron/services/loadgen/internal/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg load.Config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.Progress = stderr
	g, err := load.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	// Every stream is a descriptor; the soft limit is often 1024.
	if n, err := load.RaiseOpenFiles(); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
	} else if uint64(cfg.Streams)+64 > n {
		fmt.Fprintf(stderr, "loadgen: warning: %d streams but only %d open files allowed\n", cfg.Streams, n)
	}
	// SIGUSR1 drops every stream of a storm at once (edgebench's drop
	// round).
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	stopDrops := make(chan struct{})
	dropper := make(chan struct{})
	go func() {
		defer close(dropper)
		for {
			select {
			case <-usr1:
				g.Drop()
			case <-stopDrops:
				return
			}
		}
	}()
	runErr := g.Run(ctx)
	signal.Stop(usr1)
	close(stopDrops)
	<-dropper
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g.Summary()); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", runErr)
		return 1
	}
	return 0
}
