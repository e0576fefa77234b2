// Command ingest follows the Tron chain, decodes blocks into events,
// matches them against subscriptions, stores them in MongoDB and publishes
// them on NATS. Run it with --help for its flags; each is also read from a
// MONGOTRON_* environment variable.
package main

import (
	"context"
	"os"

	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/services/ingest/internal/app"
)

func main() {
	ctx, stop := service.SignalContext(context.Background())
	code := app.Main(ctx, os.Args[1:], os.Environ(), os.Stderr)
	stop()
	os.Exit(code)
}
