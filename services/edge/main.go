// Command edge serves Mongotron's public REST API and WebSocket stream:
// subscriptions, their history and their live events. Run it with --help
// for its flags; each is also read from a MONGOTRON_* environment variable.
package main

import (
	"context"
	"os"

	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/services/edge/internal/app"
)

func main() {
	ctx, stop := service.SignalContext(context.Background())
	code := app.Main(ctx, os.Args[1:], os.Environ(), os.Stderr)
	stop()
	os.Exit(code)
}
