package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"

	"github.com/mongotron/mongotron/pkg/client"
)

func addrsCommands() []apiCommand {
	var (
		file  string
		limit int
	)
	fileFlag := func(fs *flag.FlagSet) {
		fs.StringVar(&file, "file", "", "also read addresses from `file` (\"-\": stdin): one per line, or separated by commas or spaces; # starts a comment")
	}
	collect := func(inv *invocation) ([]string, error) {
		addrs := append([]string(nil), inv.args[1:]...)
		if file != "" {
			more, err := readList(file, inv.stdin)
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, more...)
		}
		if len(addrs) == 0 {
			return nil, badInput("no addresses: give them as arguments or with --file")
		}
		return addrs, nil
	}
	bulk := func(verb string, call func(context.Context, string, []string) (client.AddressesResult, error)) func(context.Context, *invocation) error {
		return func(ctx context.Context, inv *invocation) error {
			addrs, err := collect(inv)
			if err != nil {
				return err
			}
			res, err := call(ctx, inv.args[0], addrs)
			if err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "%s %d of %d addresses in %d call(s); the subscription now has %d\n", verb, res.Changed, len(addrs), res.Batches, res.AddressCount)
			return nil
		}
	}
	return []apiCommand{
		{
			name: "addrs add",
			usage: `Usage:
  mongotron addrs add SUB_ID [ADDRESS…] [--file FILE]   add watched addresses

Addresses are base58 (T…) or hex (41…). Any number may be given: they are
sent 10,000 per call. Adding an address already there is a no-op. If a
call fails, the earlier ones stay applied and running the command again is
safe.
`,
			minArgs: 1, maxArgs: -1,
			flags: fileFlag,
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				return bulk("added", c.AddAddresses)(ctx, inv)
			},
		},
		{
			name: "addrs remove",
			usage: `Usage:
  mongotron addrs remove SUB_ID [ADDRESS…] [--file FILE]   remove watched addresses

Sent 10,000 per call. The edge refuses to remove every address of a
subscription (that would widen it); delete the subscription instead.
`,
			minArgs: 1, maxArgs: -1,
			flags: fileFlag,
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				return bulk("removed", c.RemoveAddresses)(ctx, inv)
			},
		},
		{
			name: "addrs list",
			usage: `Usage:
  mongotron addrs list SUB_ID       print a subscription's addresses, one per line (every page)
`,
			minArgs: 1, maxArgs: 1,
			flags: func(fs *flag.FlagSet) {
				fs.IntVar(&limit, "page-size", 1000, "addresses per request (1 to 1000)")
			},
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				if limit < 1 || limit > 1000 {
					return badInput("--page-size %d: want 1 to 1000", limit)
				}
				w := bufio.NewWriter(inv.stdout)
				for a, err := range c.AllAddresses(ctx, inv.args[0], limit) {
					if err != nil {
						_ = w.Flush()
						return err
					}
					fmt.Fprintln(w, a)
				}
				if err := w.Flush(); err != nil {
					return writeError{err}
				}
				return nil
			},
		},
	}
}
