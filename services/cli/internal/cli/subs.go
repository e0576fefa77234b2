package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/mongotron/mongotron/pkg/client"
)

// subFlags are the filter flags of subs create and subs update.
type subFlags struct {
	label, direction, minAmount, maxAmount string
	webhookURL, webhookSecret, metadata    string
	addresses, contracts, kinds            stringList
	addressFile                            string
	onlySuccess, all                       bool
	confirmations                          int
	startBlock                             int64
	clear                                  stringList
}

func (f *subFlags) register(fs *flag.FlagSet, create bool) {
	fs.StringVar(&f.label, "label", "", "a `label` for people")
	fs.Var(&f.contracts, "contract", "token or contract `address` to match (repeatable, or comma-separated)")
	fs.Var(&f.kinds, "kind", "event `kind` to match: trx_transfer, trc20_transfer, … (repeatable, or comma-separated)")
	fs.StringVar(&f.direction, "direction", "", "`direction` relative to the addresses: in, out or any")
	fs.StringVar(&f.minAmount, "min-amount", "", "smallest `amount` matched, in base units (sun for TRX)")
	fs.StringVar(&f.maxAmount, "max-amount", "", "largest `amount` matched, in base units")
	fs.BoolVar(&f.onlySuccess, "only-success", true, "match successful transactions only")
	fs.IntVar(&f.confirmations, "confirmations", 19, "deliver events after `N` confirmations: 0 (head, may be retracted) to 19 (solidified)")
	fs.BoolVar(&f.all, "all", false, "match every event of the chain that the other filters allow (needed with no addresses, contracts or kinds)")
	fs.StringVar(&f.webhookURL, "webhook-url", "", "POST each event to this https `URL`")
	fs.StringVar(&f.webhookSecret, "webhook-secret", "", "`secret` signing the webhook requests (Mongotron-Signature)")
	fs.StringVar(&f.metadata, "metadata", "", "a JSON `object` kept with the subscription")
	if create {
		fs.Var(&f.addresses, "address", "watched `address`, base58 or hex (repeatable, or comma-separated)")
		fs.StringVar(&f.addressFile, "addresses-file", "", "read watched addresses from `file` (\"-\": stdin), one per line; more than 10,000 are added in batches")
		fs.Int64Var(&f.startBlock, "start-block", 0, "replay matching events from block `N` on (backfill)")
	} else {
		fs.Var(&f.clear, "clear", "reset `fields` to null: min-amount, max-amount, webhook, metadata (repeatable, or comma-separated)")
	}
}

func (f *subFlags) metadataObject() (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(f.metadata), &m); err != nil || m == nil {
		return nil, badInput("--metadata: want a JSON object, as '{\"team\":\"payments\"}'")
	}
	return m, nil
}

func (f *subFlags) webhook(set map[string]bool) (*client.Webhook, error) {
	if !set["webhook-url"] && !set["webhook-secret"] {
		return nil, nil
	}
	if f.webhookURL == "" {
		return nil, badInput("--webhook-secret needs --webhook-url")
	}
	return &client.Webhook{URL: f.webhookURL, Secret: f.webhookSecret}, nil
}

func (f *subFlags) createRequest(inv *invocation) (client.CreateRequest, []string, error) {
	set := inv.set
	req := client.CreateRequest{
		Label: f.label, Contracts: f.contracts, Kinds: f.kinds, Direction: f.direction, All: f.all,
	}
	addrs := append([]string(nil), f.addresses...)
	if f.addressFile != "" {
		more, err := readList(f.addressFile, inv.stdin)
		if err != nil {
			return req, nil, err
		}
		addrs = append(addrs, more...)
	}
	// A create takes 10,000 addresses; the rest follow in batches.
	req.Addresses = addrs[:min(len(addrs), client.MaxAddressesPerCall)]
	rest := addrs[len(req.Addresses):]
	if set["min-amount"] {
		req.MinAmount = &f.minAmount
	}
	if set["max-amount"] {
		req.MaxAmount = &f.maxAmount
	}
	if set["only-success"] {
		req.OnlySuccess = &f.onlySuccess
	}
	if set["confirmations"] {
		req.Confirmations = &f.confirmations
	}
	if set["start-block"] {
		req.StartBlock = &f.startBlock
	}
	var err error
	if req.Webhook, err = f.webhook(set); err != nil {
		return req, nil, err
	}
	if set["metadata"] {
		if req.Metadata, err = f.metadataObject(); err != nil {
			return req, nil, err
		}
	}
	return req, rest, nil
}

func (f *subFlags) updateRequest(set map[string]bool) (client.UpdateRequest, error) {
	var req client.UpdateRequest
	if set["label"] {
		req.Label = &f.label
	}
	if set["contract"] {
		req.Contracts = (*[]string)(&f.contracts)
	}
	if set["kind"] {
		req.Kinds = (*[]string)(&f.kinds)
	}
	if set["direction"] {
		req.Direction = &f.direction
	}
	if set["min-amount"] {
		req.MinAmount = &f.minAmount
	}
	if set["max-amount"] {
		req.MaxAmount = &f.maxAmount
	}
	if set["only-success"] {
		req.OnlySuccess = &f.onlySuccess
	}
	if set["confirmations"] {
		req.Confirmations = &f.confirmations
	}
	if set["all"] {
		req.All = &f.all
	}
	var err error
	if req.Webhook, err = f.webhook(set); err != nil {
		return req, err
	}
	if set["metadata"] {
		if req.Metadata, err = f.metadataObject(); err != nil {
			return req, err
		}
	}
	for _, c := range f.clear {
		switch c {
		case "min-amount", "min_amount":
			req.ClearMinAmount = true
		case "max-amount", "max_amount":
			req.ClearMaxAmount = true
		case "webhook":
			req.ClearWebhook = true
		case "metadata":
			req.ClearMetadata = true
		default:
			return req, badInput("--clear %q: want min-amount, max-amount, webhook or metadata", c)
		}
	}
	if _, err := json.Marshal(req); err != nil {
		return req, badInput("%s", strings.TrimPrefix(errors.Unwrap(err).Error(), "client: "))
	}
	return req, nil
}

func subsCommands() []apiCommand {
	var (
		sf     subFlags
		limit  int
		format format
	)
	return []apiCommand{
		{
			name: "subs create",
			usage: `Usage:
  mongotron subs create [flags]     create a subscription

At least one of --address, --addresses-file, --contract or --kind is
needed, or --all. Prints the subscription as JSON; its "id" is what the
other commands take.

  mongotron subs create --kind trc20_transfer --contract TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t \
      --address TXYZ… --direction in --confirmations 19
`,
			maxArgs: 0,
			flags:   func(fs *flag.FlagSet) { sf.register(fs, true) },
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				req, rest, err := sf.createRequest(inv)
				if err != nil {
					return err
				}
				s, err := c.CreateSubscription(ctx, req)
				if err != nil {
					return err
				}
				if len(rest) > 0 {
					if _, err := c.AddAddresses(ctx, s.ID, rest); err != nil {
						return fmt.Errorf("created %s with %d addresses, then adding the other %d: %w", s.ID, len(req.Addresses), len(rest), explain(err))
					}
					if s, err = c.GetSubscription(ctx, s.ID); err != nil {
						return err
					}
				}
				return writeJSON(inv.stdout, s)
			},
		},
		{
			name: "subs list",
			usage: `Usage:
  mongotron subs list               list your subscriptions (every page)

A table on a terminal; one JSON object per line otherwise (or --format).
`,
			maxArgs: 0,
			flags: func(fs *flag.FlagSet) {
				fs.IntVar(&limit, "page-size", 100, "subscriptions per request (1 to 1000)")
				format.register(fs)
			},
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				if limit < 1 || limit > 1000 {
					return badInput("--page-size %d: want 1 to 1000", limit)
				}
				table := format.table(inv.stdout)
				tw := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
				if table {
					fmt.Fprintln(tw, "ID\tLABEL\tSTATUS\tADDRESSES\tCONTRACTS\tKINDS\tCONF\tCREATED")
				}
				for s, err := range c.AllSubscriptions(ctx, limit) {
					if err != nil {
						return err
					}
					if !table {
						if err := writeJSON(inv.stdout, s); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\n", s.ID, orDash(s.Label), s.Status, s.AddressCount,
						len(s.Contracts), orDash(strings.Join(s.Kinds, ",")), s.Confirmations, s.CreatedAt.UTC().Format("2006-01-02 15:04"))
				}
				if err := tw.Flush(); err != nil {
					return writeError{err}
				}
				return nil
			},
		},
		{
			name: "subs show",
			usage: `Usage:
  mongotron subs show SUB_ID        print a subscription, with its addresses, as JSON
`,
			minArgs: 1, maxArgs: 1,
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				s, err := c.GetSubscription(ctx, inv.args[0])
				if err != nil {
					return err
				}
				return writeJSON(inv.stdout, s)
			},
		},
		{
			name: "subs update",
			usage: `Usage:
  mongotron subs update SUB_ID [flags]   change a subscription's filters, label, webhook, metadata

Only the flags given change; --clear resets min-amount, max-amount, webhook
or metadata. Addresses change with mongotron addrs. Prints the result.
`,
			minArgs: 1, maxArgs: 1,
			flags: func(fs *flag.FlagSet) { sf.register(fs, false) },
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				req, err := sf.updateRequest(inv.set)
				if err != nil {
					return err
				}
				s, err := c.UpdateSubscription(ctx, inv.args[0], req)
				if err != nil {
					return err
				}
				return writeJSON(inv.stdout, s)
			},
		},
		{
			name: "subs delete",
			usage: `Usage:
  mongotron subs delete SUB_ID      delete a subscription; its streams close with 4404
`,
			minArgs: 1, maxArgs: 1,
			run: func(ctx context.Context, c *client.Client, inv *invocation) error {
				if err := c.DeleteSubscription(ctx, inv.args[0]); err != nil {
					return err
				}
				fmt.Fprintf(inv.stdout, "deleted %s\n", inv.args[0])
				return nil
			},
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
