// Command mongotron is Mongotron's command-line tool. `mongotron decode`
// prints the events of Tron blocks, from a node or from saved node
// answers, one JSON object per line. Run `mongotron --help` for the
// commands.
package main

import (
	"context"
	"os"

	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/services/cli/internal/cli"
)

func main() {
	ctx, stop := service.SignalContext(context.Background())
	code := cli.Run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
