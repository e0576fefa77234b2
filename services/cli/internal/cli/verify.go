package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/logging"
)

// exitChainBroken is the exit status of `mongotron verify` when it found
// a break: distinct from a failure to read the history (1).
const exitChainBroken = 3

// chainBrokenError says verify found breaks.
type chainBrokenError struct{ breaks int }

func (e chainBrokenError) Error() string { return "the chain is broken: " + e.count() }

func (e chainBrokenError) count() string {
	if e.breaks == 1 {
		return "1 break"
	}
	return fmt.Sprintf("%d breaks", e.breaks)
}

// progressEvery and progressTerminal are how often verify reports its
// progress on stderr: a line now and then, or a terminal's line rewritten.
const (
	progressEvery    = 5 * time.Second
	progressTerminal = 200 * time.Millisecond
)

func verifyCommand() apiCommand {
	var (
		after    string
		pageSize int
	)
	return apiCommand{
		name: "verify",
		usage: `Usage:
  mongotron verify SUB_ID [--after CURSOR]   check that a subscription's history is whole

Walks the subscription's stored history page by page, in cursor order, and
checks that every event names the one before it as its predecessor
(prev_cursor): that no event is missing. Each break is printed on stdout
with the missing range (after cursor X, before cursor Y); progress goes to
stderr. With --after, the first event must name that cursor.

History holds the events of the retention period (30 days by default): the
oldest event held may name a predecessor that is no longer kept, which is
reported but is not a break. Events stored before events named their
predecessor cannot be checked; they are counted.

Exit status: 0 when the chain is whole, 3 when it is broken, 1 when the
history could not be read, 2 for bad input.
`,
		minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&after, "after", "", "start after this event `cursor`, which the first event checked must name")
			fs.IntVar(&pageSize, "page-size", 1000, "events per request (1 to 1000)")
		},
		run: func(ctx context.Context, c *client.Client, inv *invocation) error {
			if after != "" {
				if _, err := cursor.Parse(after); err != nil {
					return badInput("--after: %v", err)
				}
			}
			if pageSize < 1 || pageSize > 1000 {
				return badInput("--page-size %d: want 1 to 1000", pageSize)
			}
			v := &verifier{sub: inv.args[0], last: after, out: inv.stdout, progress: newProgress(inv.stderr)}
			for next := after; ; {
				var page *client.EventPage
				err := retryPage(ctx, inv.stderr, next, func() error {
					var err error
					page, err = c.History(ctx, v.sub, client.HistoryOptions{After: next, Limit: pageSize})
					return err
				})
				if err != nil {
					return err
				}
				for _, ev := range page.Events {
					v.check(ev)
				}
				if page.Next == "" || len(page.Events) == 0 {
					break
				}
				next = page.Next
			}
			v.progress.done(v.n, v.last)
			fmt.Fprintln(inv.stdout, v.summary())
			if v.breaks > 0 {
				return chainBrokenError{v.breaks}
			}
			return nil
		},
	}
}

// pageAttempts bounds the tries of one history page: a walk of a long
// history must not fail for one slow answer or one edge restarting.
const pageAttempts = 6

// retryPage calls fetch until it succeeds, fails for good (bad input,
// auth, a gone subscription), or pageAttempts failed, waiting a growing
// delay in between (or what the edge asked for) and saying so on stderr.
func retryPage(ctx context.Context, stderr io.Writer, after string, fetch func() error) error {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err := fetch()
		if err == nil {
			return nil
		}
		var ae *client.APIError
		temporary := !errors.As(err, &ae) || ae.Status == 429 || ae.Status >= 500
		if !temporary || attempt == pageAttempts || ctx.Err() != nil {
			return err
		}
		d := wait
		if ae != nil && ae.RetryAfter > d {
			d = ae.RetryAfter
		}
		fmt.Fprintf(stderr, "mongotron verify: reading the page after %s failed (%v); retrying in %s\n", orDash(after), explain(err), d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// verifier checks a subscription's history, event after event.
type verifier struct {
	sub      string
	out      io.Writer
	progress *progress

	// last is the cursor of the last event checked ("" before the first
	// when verify starts at the oldest event held).
	last              string
	first             string
	n, unlinked       int
	breaks            int
	retentionStartsAt string
}

func (v *verifier) check(ev client.Event) {
	defer func() {
		v.last = ev.Cursor
		v.n++
		v.progress.page(v.n, ev.Cursor)
	}()
	if v.first == "" {
		v.first = ev.Cursor
	}
	if !ev.Linked() {
		v.unlinked++
		return
	}
	if ev.PrevCursor == v.last {
		return
	}
	if v.last == "" {
		// The oldest event held: its predecessor is past retention.
		v.retentionStartsAt = ev.PrevCursor
		return
	}
	v.breaks++
	brk := client.MissingEventsError{SubscriptionID: v.sub, After: v.last, Before: ev.Cursor, Prev: ev.PrevCursor}
	fmt.Fprintf(v.out, "break: events missing after cursor %s, before cursor %s (which follows %s)\n",
		brk.After, brk.Before, orDash(brk.Prev))
}

func (v *verifier) summary() string {
	s := fmt.Sprintf("%s: %d events", v.sub, v.n)
	if v.n > 0 {
		s += fmt.Sprintf(" from %s to %s", v.first, v.last)
	}
	if v.unlinked > 0 {
		s += fmt.Sprintf(", %d stored before events were linked (not checked)", v.unlinked)
	}
	if v.retentionStartsAt != "" {
		s += fmt.Sprintf(", the oldest held follows %s (no longer kept)", v.retentionStartsAt)
	}
	if v.breaks > 0 {
		return s + ": CHAIN BROKEN (" + chainBrokenError{v.breaks}.count() + ")"
	}
	return s + ": chain intact"
}

// progress reports how far verify got on stderr: a line rewritten on a
// terminal, a line now and then otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	shown    time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, terminal: logging.IsTerminal(w), shown: time.Now()}
}

func (p *progress) page(n int, at string) {
	switch {
	case p.terminal && time.Since(p.shown) >= progressTerminal:
		fmt.Fprintf(p.w, "\rmongotron verify: %d events checked, up to %s ", n, at)
	case !p.terminal && time.Since(p.shown) >= progressEvery:
		fmt.Fprintf(p.w, "mongotron verify: %d events checked, up to %s\n", n, at)
	default:
		return
	}
	p.shown = time.Now()
}

func (p *progress) done(n int, at string) {
	if p.terminal {
		fmt.Fprintln(p.w)
	}
	fmt.Fprintf(p.w, "mongotron verify: %d events checked, up to %s\n", n, orDash(at))
}

// isChainBroken reports whether err is verify's finding of a break.
func isChainBroken(err error) bool { return errors.As(err, new(chainBrokenError)) }
