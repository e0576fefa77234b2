package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/tron"
)

func tailCommand() apiCommand {
	var (
		after  string
		format format
		quiet  bool
	)
	return apiCommand{
		name: "tail",
		usage: `Usage:
  mongotron tail SUB_ID [--after CURSOR]   follow a subscription's events live

Prints each event as it comes: a table on a terminal, one JSON object per
line (exactly as the edge sent it) when piped. With --after, the events
after that cursor are replayed first, then live ones, with no gap and no
duplicate. The stream survives edge restarts and network failures: it
reconnects with backoff and resumes after the last event printed
(connection notices go to stderr). Ctrl-C stops it (exit 0) and prints the
cursor to resume from. A deleted subscription ends it with exit 1.

Every event names its predecessor, and tail checks each one against the
last event printed. Should one not follow (an event lost on the way), tail
says so on stderr, holds it back, resumes after the last event printed so
that the missing ones come first, and says when the chain is whole again;
these notices show even with --quiet.
`,
		minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&after, "after", "", "start after this event `cursor` (from a previous tail, history or event)")
			fs.BoolVar(&quiet, "quiet", false, "no connection notices on stderr")
			format.register(fs)
		},
		run: func(ctx context.Context, c *client.Client, inv *invocation) error {
			if after != "" {
				if _, err := cursor.Parse(after); err != nil {
					return badInput("--after: %v", err)
				}
			}
			p := newEventPrinter(inv.stdout, format.table(inv.stdout))
			notify := func(format string, args ...any) {
				if !quiet {
					fmt.Fprintf(inv.stderr, "mongotron tail: "+format+"\n", args...)
				}
			}
			// Chain notices show even with --quiet: they are about the
			// events, not the connection.
			warn := func(format string, args ...any) {
				fmt.Fprintf(inv.stderr, "mongotron tail: "+format+"\n", args...)
			}
			reconnecting := false
			s := c.Stream(ctx, inv.args[0], client.StreamOptions{
				After: after,
				StateHandler: func(st client.State) {
					switch st.Status {
					case client.StatusChainBroken:
						if st.Gap {
							warn("warning: chain broken: events after %s, up to %s, are missing, and the edge's history lacks them too; continuing with %s",
								st.Break.After, orDash(st.Break.Prev), st.Break.Before)
						} else {
							warn("chain broken: event %s names %s as its predecessor, not %s, the last one printed; resuming after %s to fetch what is missing",
								st.Break.Before, orDash(st.Break.Prev), st.Break.After, st.Break.After)
						}
					case client.StatusChainRecovered:
						warn("chain recovered: the events missing after %s arrived; nothing was lost", st.Break.After)
					case client.StatusReconnecting:
						reconnecting = true
						if errors.Is(st.Err, client.ErrChainBroken) {
							return // said above
						}
						notify("%v; reconnecting in %s", explain(st.Err), st.Delay.Round(time.Millisecond))
					case client.StatusConnected:
						if st.Gap {
							notify("warning: the edge no longer holds the events after %s; some may be missing", st.Cursor)
						}
						if reconnecting {
							notify("reconnected; resuming after %s", orDash(st.Cursor))
							reconnecting = false
						}
					}
				},
			})
			// Close stops the stream and waits for it; its error is always nil.
			defer func() { _ = s.Close() }()
			for {
				ev, err := s.Next(ctx)
				if err != nil {
					if cs := s.ChainStats(); cs.Breaks > 0 {
						warn("chain breaks: %d, recovered: %d, not recovered: %d", cs.Breaks, cs.Recovered, cs.Unrecovered)
					}
					if ctx.Err() != nil {
						if cur := s.Cursor(); cur != "" {
							notify("stopped; resume with --after %s", cur)
						}
						return nil
					}
					if errors.Is(err, client.ErrSubscriptionDeleted) {
						return fmt.Errorf("the subscription was deleted")
					}
					return explain(err)
				}
				if err := p.print(ev); err != nil {
					return err
				}
			}
		},
	}
}

func historyCommand() apiCommand {
	var (
		opts      client.HistoryOptions
		kinds     stringList
		maxEvents int
		format    format
	)
	return apiCommand{
		name: "history",
		usage: `Usage:
  mongotron history SUB_ID [--after CURSOR] [--kind K] [--address A] [--tx-id T]

Prints a subscription's stored events in delivery order, every page up to
the newest (or --max): a table on a terminal, one JSON object per line when
piped. Continue later with --after the last cursor printed.
`,
		minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&opts.After, "after", "", "start after this event `cursor`")
			fs.Var(&kinds, "kind", "only these `kinds` (repeatable, or comma-separated)")
			fs.StringVar(&opts.Address, "address", "", "only events involving this `address`")
			fs.StringVar(&opts.TxID, "tx-id", "", "only events of this transaction `id`")
			// The edge's largest page: a request costs a few lookups
			// before its first event, whatever its size, so fewer, larger
			// requests read a long history several times faster.
			fs.IntVar(&opts.Limit, "page-size", 1000, "events per request (1 to 1000)")
			fs.IntVar(&maxEvents, "max", 0, "stop after `N` events (0: all)")
			format.register(fs)
		},
		run: func(ctx context.Context, c *client.Client, inv *invocation) error {
			if opts.Limit < 1 || opts.Limit > 1000 {
				return badInput("--page-size %d: want 1 to 1000", opts.Limit)
			}
			if maxEvents < 0 {
				return badInput("--max %d is negative", maxEvents)
			}
			opts.Kinds = kinds
			if maxEvents > 0 {
				opts.Limit = min(opts.Limit, maxEvents)
			}
			p := newEventPrinter(inv.stdout, format.table(inv.stdout))
			n := 0
			last := ""
			for ev, err := range c.AllHistory(ctx, inv.args[0], opts) {
				if err != nil {
					return err
				}
				if err := p.print(ev); err != nil {
					return err
				}
				last = ev.Cursor
				if n++; n == maxEvents {
					break
				}
			}
			if p.table && last != "" {
				fmt.Fprintf(inv.stderr, "mongotron history: %d events; continue with --after %s\n", n, last)
			}
			return nil
		},
	}
}

// eventPrinter prints events as table rows for a person, or as the JSON
// the edge sent, one per line, for a program.
type eventPrinter struct {
	w      *bufio.Writer
	table  bool
	color  bool
	header bool
}

func newEventPrinter(w io.Writer, table bool) *eventPrinter {
	return &eventPrinter{w: bufio.NewWriter(w), table: table, color: table && logging.IsTerminal(w)}
}

const rowFormat = "%-19s  %10s  %-16s  %26s  %-14s   %-14s  %-10s  %5s%s\n"

func (p *eventPrinter) print(ev client.Event) error {
	if !p.table {
		var b bytes.Buffer
		if err := json.Compact(&b, ev.Raw); err != nil {
			return fmt.Errorf("event %s: %w", ev.Cursor, err)
		}
		b.WriteByte('\n')
		_, _ = p.w.Write(b.Bytes())
		return p.flush()
	}
	if !p.header {
		fmt.Fprintf(p.w, rowFormat, "TIME (UTC)", "BLOCK", "KIND", "AMOUNT", "FROM", "TO", "TX", "CONF", "")
		p.header = true
	}
	row := fmt.Sprintf(rowFormat,
		ev.Block.Timestamp.UTC().Format("2006-01-02 15:04:05"),
		fmt.Sprint(ev.Block.Number),
		clipTo(string(ev.Kind), 16),
		amount(ev),
		shortAddr(ev.From)+" →",
		shortAddr(ev.To),
		shortHex(ev.TxID),
		fmt.Sprint(ev.Confirmations),
		flags(ev))
	if ev.Removed && p.color {
		// Struck through: the event left the chain.
		row = "\x1b[9m" + row[:len(row)-1] + "\x1b[0m\n"
	}
	_, _ = p.w.WriteString(row)
	return p.flush()
}

func (p *eventPrinter) flush() error {
	if err := p.w.Flush(); err != nil {
		return writeError{err}
	}
	return nil
}

func flags(ev client.Event) string {
	s := ""
	if ev.Removed {
		s += "  REMOVED (reorg)"
	}
	if !ev.Success {
		s += "  FAILED"
	}
	if ev.Solidified {
		s += "  solid"
	}
	if ev.Token != nil && ev.Token.Verified && ev.Kind.IsTransfer() && ev.Kind != "trx_transfer" && ev.Kind != "trx_internal_transfer" {
		s += "  verified"
	}
	// The spoofing flags, loud: a deposit pipeline must look at them.
	for _, f := range ev.Flags {
		s += "  " + strings.ToUpper(string(f))
	}
	if ev.Memo != "" {
		memo := ev.Memo
		if ev.MemoEncoding == "hex" {
			memo = "0x" + memo
		}
		s += "  memo:" + strconv.Quote(clipTo(memo, 40))
	}
	return s
}

func amount(ev client.Event) string {
	a := ev.AmountDecimal
	if a == "" {
		if ev.Amount.IsZero() {
			return "-"
		}
		a = ev.Amount.String()
	}
	if ev.Token != nil && ev.Token.Symbol != "" {
		a += " " + clipTo(ev.Token.Symbol, 8)
	}
	return clipTo(a, 26)
}

func shortAddr(a tron.Address) string {
	if a.IsZero() {
		return "-"
	}
	s := a.String()
	return s[:6] + "…" + s[len(s)-6:]
}

func shortHex(s string) string {
	if len(s) <= 10 {
		return orDash(s)
	}
	return s[:10]
}

// clipTo shortens s to n runes, and replaces control characters: token
// symbols come from the chain, and anyone can deploy a token whose
// symbol holds terminal escape sequences.
func clipTo(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if unicode.IsControl(c) {
			r[i] = '?'
		}
	}
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}
