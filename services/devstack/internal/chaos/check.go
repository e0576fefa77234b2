package chaos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// maxEvidence bounds the lines of evidence a verdict keeps per kind of
// problem.
const maxEvidence = 5

// Verdict is the outcome of comparing what one consumer received with the
// subscription's stored history.
type Verdict struct {
	// Name is the consumer's; Sub the subscription's id.
	Name, Sub string
	// Received counts what arrived, repeats included; Expected the
	// stored events of the range checked.
	Received, Expected int
	// Missing counts stored events of the range never received.
	Missing int
	// Duplicates counts deliveries of an event received already.
	Duplicates int
	// Unexpected counts events received that are not stored in the
	// range (or at all).
	Unexpected int
	// OutOfOrder counts events received after one that follows them in
	// the history.
	OutOfOrder int
	// Problems is the evidence: which events, which streams, when.
	Problems []string
}

// Clean reports whether the consumer got exactly the range: nothing
// missing, unexpected or out of order, no problem noted, and no
// duplicate unless duplicates are allowed (webhooks are at least once).
func (v Verdict) Clean(allowDuplicates bool) bool {
	return v.Missing == 0 && v.Unexpected == 0 && v.OutOfOrder == 0 && len(v.Problems) == 0 &&
		(allowDuplicates || v.Duplicates == 0)
}

// String is a one-line summary, then the evidence.
func (v Verdict) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): received %d, expected %d, missing %d, duplicates %d, unexpected %d, out of order %d",
		v.Name, v.Sub, v.Received, v.Expected, v.Missing, v.Duplicates, v.Unexpected, v.OutOfOrder)
	for _, p := range v.Problems {
		b.WriteString("\n    ")
		b.WriteString(p)
	}
	return b.String()
}

func (v *Verdict) problem(format string, args ...any) {
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
}

// CheckStream compares what client c received with hist, the history of
// its subscription, in cursor order, read after c stopped: the events
// after its start cursor (or from its first event, for a live-only
// client) through the last one it received must have arrived exactly
// once each, in order, and nothing else.
func CheckStream(c *Client, hist []Event) Verdict {
	got := c.Events()
	sessions := c.Sessions()
	v := Verdict{Name: c.Name(), Sub: c.Sub().ID, Received: len(got)}
	if err := c.Final(); err != nil {
		v.problem("stopped for good: %v", err)
	}
	for i, s := range sessions {
		if strings.Contains(s.Err, "resumed:false") || strings.Contains(s.Err, "before the hello") || strings.Contains(s.Err, "undecodable") {
			v.problem("stream %s: %s", describe(sessions, i), s.Err)
		}
	}
	if len(got) == 0 {
		v.problem("received no event (%d streams: %s)", len(sessions), describeEnds(sessions))
		return v
	}
	last := got[0].Cursor
	for _, r := range got {
		last = max(last, r.Cursor)
	}
	var lo int
	if start := c.StartAfter(); start != "" {
		lo = sort.Search(len(hist), func(i int) bool { return hist[i].Cursor > start })
	} else {
		lo = sort.Search(len(hist), func(i int) bool { return hist[i].Cursor >= got[0].Cursor })
	}
	hi := sort.Search(len(hist), func(i int) bool { return hist[i].Cursor > last })
	want := hist[lo:max(lo, hi)]
	v.Expected = len(want)

	wantAt := make(map[string]int, len(want))
	for i, e := range want {
		wantAt[e.Cursor] = i
	}
	times := make(map[string][]int, len(got)) // cursor → indexes in got
	for i, r := range got {
		times[r.Cursor] = append(times[r.Cursor], i)
	}
	var lines struct{ missing, dup, unexpected, order, id int }
	for i, e := range want {
		if len(times[e.Cursor]) > 0 {
			continue
		}
		v.Missing++
		if lines.missing++; lines.missing <= maxEvidence {
			v.problem("MISSING %s: %s", eventString(e), gapContext(got, sessions, want, i, times))
		}
	}
	for cur, at := range times {
		if len(at) > 1 {
			v.Duplicates += len(at) - 1
			if lines.dup++; lines.dup <= maxEvidence {
				var where []string
				for _, k := range at {
					where = append(where, fmt.Sprintf("#%d in %s", k, describe(sessions, got[k].Session)))
				}
				v.problem("DUPLICATE %s (block %d) received %d times: %s", cur, got[at[0]].Block, len(at), strings.Join(where, ", "))
			}
		}
		if _, ok := wantAt[cur]; !ok {
			v.Unexpected++
			if lines.unexpected++; lines.unexpected <= maxEvidence {
				v.problem("UNEXPECTED %s (block %d, id %s) is not in the stored history between the start and the last cursor received; #%d in %s",
					cur, got[at[0]].Block, got[at[0]].ID, at[0], describe(sessions, got[at[0]].Session))
			}
		}
	}
	prev := -1
	for k, r := range got {
		i, ok := wantAt[r.Cursor]
		if !ok {
			continue
		}
		if want[i].ID != r.ID {
			if lines.id++; lines.id <= maxEvidence {
				v.problem("WRONG ID at cursor %s: received %s, stored %s", r.Cursor, r.ID, want[i].ID)
			}
			v.Unexpected++
		}
		if i < prev {
			v.OutOfOrder++
			if lines.order++; lines.order <= maxEvidence {
				v.problem("OUT OF ORDER #%d %s (block %d) in %s came after %s", k, r.Cursor, r.Block, describe(sessions, r.Session), want[prev].Cursor)
			}
		} else if i == prev {
			continue // a duplicate, counted above
		}
		prev = max(prev, i)
	}
	return v
}

// gapContext says where the missing want[i] should have come: after
// which received event, in which stream.
func gapContext(got []Received, sessions []Session, want []Event, i int, times map[string][]int) string {
	var before, after string
	for j := i - 1; j >= 0; j-- {
		if at := times[want[j].Cursor]; len(at) > 0 {
			r := got[at[0]]
			before = fmt.Sprintf("after #%d %s (block %d, %s)", at[0], r.Cursor, r.Block, describe(sessions, r.Session))
			break
		}
	}
	for j := i + 1; j < len(want); j++ {
		if at := times[want[j].Cursor]; len(at) > 0 {
			r := got[at[0]]
			after = fmt.Sprintf("before #%d %s (block %d, %s)", at[0], r.Cursor, r.Block, describe(sessions, r.Session))
			break
		}
	}
	return strings.TrimSpace(before + "; " + after)
}

// describe names stream i of sessions: edge, start cursor, times, end.
func describe(sessions []Session, i int) string {
	if i < 0 || i >= len(sessions) {
		return fmt.Sprintf("stream %d", i)
	}
	s := sessions[i]
	end := "open"
	if s.Stopped {
		end = "stopped " + s.End.Format("15:04:05.000")
	} else if !s.End.IsZero() {
		end = fmt.Sprintf("ended %s with %d (%s)", s.End.Format("15:04:05.000"), s.Code, s.Err)
	}
	return fmt.Sprintf("stream %d on edge-%d after %q from %s, %s", i, s.Edge+1, s.After, s.Start.Format("15:04:05.000"), end)
}

func describeEnds(sessions []Session) string {
	var out []string
	for i := range sessions {
		out = append(out, describe(sessions, i))
	}
	return strings.Join(out, "; ")
}

func eventString(e Event) string {
	return fmt.Sprintf("%s (block %d, id %s)", e.Cursor, e.Block.Number, e.ID)
}

// CheckWebhook compares the event ids a receiver got for sub (arrival
// order, repeats included) with hist, the subscription's whole history in
// cursor order: the first arrival of each must follow the history's
// order, nothing stored through the cursor through ("" for the whole
// history) may be missing, and nothing may arrive that is not stored.
// Repeats are counted as Duplicates; webhooks are at least once.
func CheckWebhook(name string, sub Sub, got []string, hist []Event, through string) Verdict {
	v := Verdict{Name: name, Sub: sub.ID, Received: len(got)}
	at := make(map[string]int, len(hist))
	for i, e := range hist {
		at[e.ID] = i
	}
	end := len(hist)
	if through != "" {
		end = sort.Search(len(hist), func(i int) bool { return hist[i].Cursor > through })
	}
	v.Expected = end
	seen := make(map[string]bool, len(got))
	prev := -1
	var lines struct{ order, unexpected, missing int }
	for k, id := range got {
		if seen[id] {
			v.Duplicates++
			continue
		}
		seen[id] = true
		i, ok := at[id]
		if !ok {
			v.Unexpected++
			if lines.unexpected++; lines.unexpected <= maxEvidence {
				v.problem("UNEXPECTED delivery #%d of %s, which is not in the stored history", k, id)
			}
			continue
		}
		if i < prev {
			v.OutOfOrder++
			if lines.order++; lines.order <= maxEvidence {
				v.problem("OUT OF ORDER delivery #%d: %s came after %s, which follows it in the history", k, eventString(hist[i]), eventString(hist[prev]))
			}
		}
		prev = max(prev, i)
	}
	for i := range end {
		if !seen[hist[i].ID] {
			v.Missing++
			if lines.missing++; lines.missing <= maxEvidence {
				v.problem("MISSING %s, event %d of %d", eventString(hist[i]), i, end)
			}
		}
	}
	return v
}

// Targets returns, for each subscription of clients and of hooks, its
// newest stored event now: what they must all have received before the
// check. Each history is read from the furthest cursor a client of the
// subscription has received.
func (h *Harness) Targets(ctx context.Context, clients []*Client, hooks []Sub) (map[string]Event, error) {
	from := map[string]Event{} // the furthest event a client of each subscription has
	subs := map[string]Sub{}
	for _, c := range clients {
		s := c.Sub()
		subs[s.ID] = s
		if r, ok := c.LastEvent(); ok && r.Cursor > from[s.ID].Cursor {
			from[s.ID] = Event{Cursor: r.Cursor, ID: r.ID}
		}
	}
	for _, s := range hooks {
		subs[s.ID] = s
	}
	out := map[string]Event{}
	for id, s := range subs {
		ev, ok, err := h.Newest(ctx, s, from[id].Cursor)
		if err != nil {
			return nil, err
		}
		if !ok {
			// Nothing stored after what a client has: its last.
			ev = from[id]
		}
		out[id] = ev
	}
	return out, nil
}

// WaitCaughtUp waits until every client has received its subscription's
// target (see [Harness.Targets]) and rcv has been sent the target of
// each hook subscription, polling for at most total. The error names the
// laggards and where they stand. It returns the targets.
func (h *Harness) WaitCaughtUp(ctx context.Context, total time.Duration, clients []*Client, rcv *Receiver, hooks []Sub) (map[string]Event, error) {
	targets, err := h.Targets(ctx, clients, hooks)
	if err != nil {
		return nil, err
	}
	h.Logs.Logf("chaos", "waiting for %d clients and %d webhook subscriptions to reach the newest stored events", len(clients), len(hooks))
	var lag []string
	ok := testenv.Poll(total, func() bool {
		lag = lag[:0]
		for _, c := range clients {
			if err := c.Final(); err != nil {
				lag = append(lag, fmt.Sprintf("%s stopped for good: %v", c.Name(), err))
				continue
			}
			if t := targets[c.Sub().ID]; c.Last() < t.Cursor {
				edge, live := c.Live()
				ends := c.Ends()
				lastEnd := ""
				if len(ends) > 0 {
					e := ends[len(ends)-1]
					lastEnd = fmt.Sprintf("; last end: edge-%d code %d at %s (%s)", e.Edge+1, e.Code, e.End.Format("15:04:05.000"), e.Err)
				}
				lag = append(lag, fmt.Sprintf("%s at %q, target %q (live %v on edge-%d, %d events, %d ends%s)", c.Name(), c.Last(), t.Cursor, live, edge+1, c.Count(), len(ends), lastEnd))
			}
		}
		for _, s := range hooks {
			if t := targets[s.ID]; t.ID != "" && !rcv.Has(s.ID, t.ID) {
				lag = append(lag, fmt.Sprintf("webhook of %s has not had %s (%d deliveries so far)", s.ID, eventString(t), len(rcv.IDs(s.ID))))
			}
		}
		for _, l := range lag {
			if strings.Contains(l, "stopped for good") {
				return true
			}
		}
		return len(lag) == 0
	})
	if !ok || len(lag) > 0 {
		return targets, errors.New("chaos: not caught up within " + total.String() + ":\n  " + strings.Join(lag, "\n  "))
	}
	return targets, nil
}

// Report is the outcome of [Harness.Check].
type Report struct {
	Streams  []Verdict
	Webhooks []Verdict
	// Links are the checks of the events' links: each stream's against
	// its history (CheckLinks), each history's own (CheckHistoryLinks).
	Links []Verdict
	// Delivered counts the events the streams received, repeats
	// included; HookDeliveries the webhooks accepted.
	Delivered, HookDeliveries int
	// Lost counts stored events a stream or webhook never got;
	// StreamDuplicates events a stream got twice; HookDuplicates
	// repeated webhook deliveries (allowed); Unexpected and OutOfOrder
	// as in [Verdict], over all.
	Lost, StreamDuplicates, HookDuplicates, Unexpected, OutOfOrder int
}

// Clean reports whether nothing was lost, repeated on a stream,
// unexpected or out of order, and no consumer has a problem noted.
func (r Report) Clean() bool {
	for _, v := range r.Streams {
		if !v.Clean(false) {
			return false
		}
	}
	for _, v := range r.Webhooks {
		if !v.Clean(true) {
			return false
		}
	}
	for _, v := range r.Links {
		if !v.Clean(false) {
			return false
		}
	}
	return true
}

// Failures lists the verdicts that are not clean.
func (r Report) Failures() []Verdict {
	var out []Verdict
	for _, v := range r.Streams {
		if !v.Clean(false) {
			out = append(out, v)
		}
	}
	for _, v := range r.Webhooks {
		if !v.Clean(true) {
			out = append(out, v)
		}
	}
	for _, v := range r.Links {
		if !v.Clean(false) {
			out = append(out, v)
		}
	}
	return out
}

// Check reads the history of every subscription of clients and hooks and
// checks each client ([CheckStream], and its events' links,
// [CheckLinks]), each history's links ([CheckHistoryLinks]) and each hook
// subscription's deliveries to rcv ([CheckWebhook], through its target
// of [Harness.WaitCaughtUp]). Stop the clients first: the history is read
// after, so it holds everything they received.
func (h *Harness) Check(ctx context.Context, clients []*Client, rcv *Receiver, hooks []Sub, targets map[string]Event) (Report, error) {
	subs := map[string]Sub{}
	for _, c := range clients {
		subs[c.Sub().ID] = c.Sub()
	}
	// What the receiver got before the history is read: the history
	// then holds all of it, as every event is stored before it is sent.
	got := map[string][]string{}
	for _, s := range hooks {
		subs[s.ID] = s
		got[s.ID] = rcv.IDs(s.ID)
	}
	hist := map[string][]Event{}
	for id, s := range subs {
		evs, err := h.History(ctx, s, "", "")
		if err != nil {
			return Report{}, err
		}
		hist[id] = evs
	}
	var r Report
	for _, c := range clients {
		v := CheckStream(c, hist[c.Sub().ID])
		r.Streams = append(r.Streams, v)
		r.Delivered += v.Received
		r.Lost += v.Missing
		r.StreamDuplicates += v.Duplicates
		r.Unexpected += v.Unexpected
		r.OutOfOrder += v.OutOfOrder
		r.Links = append(r.Links, CheckLinks(c, hist[c.Sub().ID]))
	}
	for id, s := range subs {
		r.Links = append(r.Links, CheckHistoryLinks(s, hist[id]))
	}
	for _, s := range hooks {
		v := CheckWebhook("webhook "+s.Label, s, got[s.ID], hist[s.ID], targets[s.ID].Cursor)
		r.Webhooks = append(r.Webhooks, v)
		r.HookDeliveries += v.Received
		r.Lost += v.Missing
		r.HookDuplicates += v.Duplicates
		r.Unexpected += v.Unexpected
		r.OutOfOrder += v.OutOfOrder
	}
	return r, nil
}
