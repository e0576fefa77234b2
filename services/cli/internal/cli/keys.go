package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/logging"
)

func keysCommands() []apiCommand {
	var tenant string
	return []apiCommand{
		{
			name: "keys create",
			usage: `Usage:
  mongotron keys create TENANT      make an API key for a tenant (admin key only)

Prints {"id", "tenant", "key"} as JSON. The key is shown once: the edge
keeps only its hash. TENANT is 1 to 63 of a-z, 0-9, _ and -.
`,
			minArgs: 0, maxArgs: 1,
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&tenant, "tenant", "", "the `tenant` (instead of the argument)")
			},
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				t := tenant
				switch {
				case len(inv.args) == 1 && t != "" && t != inv.args[0]:
					return badInput("the tenant is given twice, as %q and --tenant %q", inv.args[0], t)
				case len(inv.args) == 1:
					t = inv.args[0]
				case t == "":
					return badInput("missing TENANT; run mongotron keys create --help")
				}
				k, err := c.CreateKey(ctx, t)
				if err != nil {
					return err
				}
				if logging.IsTerminal(inv.stderr) {
					fmt.Fprintln(inv.stderr, "mongotron keys create: store the key now; it cannot be shown again")
				}
				return writeJSON(inv.stdout, k)
			},
		},
		{
			name: "keys revoke",
			usage: `Usage:
  mongotron keys revoke KEY_ID      revoke an API key at once (admin key only)

Its calls fail from now on and its open streams close with 1008.
`,
			minArgs: 1, maxArgs: 1,
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				if err := c.RevokeKey(ctx, inv.args[0]); err != nil {
					return err
				}
				fmt.Fprintf(inv.stdout, "revoked %s\n", inv.args[0])
				return nil
			},
		},
	}
}
