// Command relay is the bare NATS→WebSocket relay edgebench runs beside the
// edge (--peer relay=PATH): see package relay. It takes the edge's flags
// that edgebench passes and ignores those it has no use for.
//
//	go build -o bin/relay ./services/loadgen/cmd/relay
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"

	"github.com/mongotron/mongotron/services/loadgen/internal/relay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats.url", nats.DefaultURL, "NATS `url` the events arrive on")
	addr := fs.String("http.addr", "127.0.0.1:8080", "`address` to serve on")
	queue := fs.Int("queue", relay.DefaultQueue, "messages a stream may have waiting before it is closed with 4008")
	// The edge's flags edgebench passes; the relay has no use for them.
	for _, f := range []string{"mongo.uri", "admin-key", "api.rate-limit", "log.level", "log.format"} {
		fs.String(f, "", "ignored (an edge flag)")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	nc, err := nats.Connect(*natsURL, nats.Name("relay"))
	if err != nil {
		fmt.Fprintf(stderr, "relay: nats: %v\n", err)
		return 1
	}
	defer nc.Close()
	r, err := relay.New(relay.Config{NATS: nc, Queue: *queue})
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 2
	}
	if err := relay.Run(ctx, r, *addr); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	return 0
}
