// Command devstack runs Mongotron on one machine: NATS with JetStream and
// FerretDB embedded, and the Tron node simulator, one ingest and two edges
// as child processes running bin/tronsim, bin/ingest and bin/edge. Once
// everything is ready it prints the edges' URLs, an API key, a demo
// subscription and the command to tail it. Ctrl-C stops it all; the data
// stays in --data for the next run. `make run` builds and starts it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mongotron/mongotron/services/devstack/internal/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := devstack.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
