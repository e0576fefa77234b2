package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
)

// The intake does not trust the stream's order. Under faults (a NATS node
// dying, a leader change, a reconnect) the ingest's publish of a
// subscription's event can fail while the next one is stored; its retry
// then lands after it. So every message is checked against its link, the
// event's prev_cursor (or, for an event published before that field
// existed, the bus.PrevCursorHeader of its message) naming the
// subscription's previous event, and each subscription keeps a chain: the
// cursor of the last event filed into its inbox, its tail. A message
//
//   - at or below the tail is a repeat. It is never sent twice: it joins
//     the delivery it repeats if that still waits in the inbox (attach),
//     and is otherwise filed to be checked (incoming.check), so that its
//     message is only acknowledged once that delivery is settled;
//   - whose link names the tail continues the chain, and is filed;
//   - whose link names another event, or none while the tail is known,
//     shows a gap. The events between the tail and it are read from the
//     events collection, where the ingest stores every event before it
//     publishes it, and filed before it, in cursor order. A filled event
//     has no JetStream message: its outcome alone settles it. Its own
//     message, when it comes, is a repeat.
//
// A chain's tail is unknown when Run starts, when this edge is pinned
// anew on the shared consumer (another edge may have filed meanwhile),
// and after a rewind (messages handed back to JetStream). It is then
// taken from what is stored (a bootstrap): the first message's own
// delivery or its link's, looked up by id (which holds the cursor), or
// else the subscription's last delivery, queued or recorded. Limits of
// the bootstrap:
//
//   - Where nothing is stored, the first message starts the chain: an
//     earlier event arriving after it is sent late, after it.
//   - The first gap after a bootstrap passes over the events stored
//     longer ago than the events stream keeps them (window). No edge can
//     still be waiting for those: they were skipped while the webhook was
//     absent or disabled, or expired from the stream while no edge took
//     them. They are logged, and a replay sends them.
//   - A pause of the webhook shorter than the window that spans an edge
//     restart may have its events filled and sent.
//
// Events skipped while this edge runs (no webhook, disabled) leave the
// chain open: the next message starts it anew, so a paused webhook does
// not get the pause's events.

// maxFill is the most events one gap fills at a time; a larger gap is
// filled in parts, the message showing it handed back for the next.
const maxFill = 1024

// eventHead is what the deliverer reads of an event.
type eventHead struct {
	ID      string `json:"id"`
	Cursor  string `json:"cursor"`
	Removed bool   `json:"removed"`
	// PrevCursor is the event's link; nil for an event published before
	// the field existed, whose link is its message's header alone.
	PrevCursor *string `json:"prev_cursor"`
}

// link returns the cursor of the subscription's event before this one:
// the event's own prev_cursor, or else header, its message's
// bus.PrevCursorHeader (the two say the same when both are there).
func (e eventHead) link(header string) string {
	if e.PrevCursor != nil {
		return *e.PrevCursor
	}
	return header
}

// chainState is what a chain's tail means.
type chainState int

const (
	// chainUnknown: bootstrap from what is stored; a tail set is a floor
	// (what this edge filed before it was pinned anew).
	chainUnknown chainState = iota
	// chainKnown: the tail is the last event filed.
	chainKnown
	// chainOpen: the next message starts the chain.
	chainOpen
)

// chain is where a subscription's events were filed up to.
type chain struct {
	tail  string
	state chainState
	// epoch grows with every rewind, so that a filing begun before one
	// commits nothing after it.
	epoch uint64
}

// link is a subscription's chain during one filing: the messages checked
// so far, and what they add to its inbox.
type link struct {
	chain
	subID string
	items []incoming
	// cutoff, until the first gap or link after a bootstrap, passes over
	// events stored before it (see the comment at the top).
	cutoff time.Time
	// halted: a gap was larger than maxFill; the subscription's other
	// messages go back to JetStream for the next filing.
	halted bool
	gaps   []gapNote
}

// gapNote records a gap, for the metrics and the log once committed.
type gapNote struct {
	after, before, prev string
	filled, passed      int
	more                bool
}

// add files it at the end of the chain.
func (l *link) add(it incoming) {
	l.items = append(l.items, it)
	l.tail, l.state = it.dl.Cursor, chainKnown
}

// file checks msgs against their chains (see the comment at the top),
// adds them and the events they show missing to their subscriptions'
// inboxes in cursor order, and returns those subscriptions; it settles
// skipped and malformed messages itself. It changes nothing when it
// fails.
func (d *Deliverer) file(ctx context.Context, msgs []jetstream.Msg) ([]string, error) {
	now := d.cfg.Now()
	nowUTC := now.UTC()
	var (
		settle []func() error
		subs   []string
		links  = map[string]*link{}
		paused = map[string]bool{}
	)
	for _, m := range msgs {
		subID := bus.SubscriptionFromSubject(m.Subject())
		if subID == "" {
			settle = append(settle, m.Term)
			continue
		}
		h, err := d.hooks.get(ctx, subID)
		if err != nil {
			return nil, fmt.Errorf("subscription %s: %w", subID, err)
		}
		if h == nil || h.disabled {
			settle = append(settle, m.Ack)
			d.m.intake.WithLabelValues("skipped").Inc()
			if l := links[subID]; l != nil {
				l.tail, l.state = "", chainOpen
			} else {
				paused[subID] = true
			}
			continue
		}
		var ev eventHead
		if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.Cursor == "" {
			d.cfg.Logger.Error("webhook: malformed event dropped", "subject", m.Subject(), "err", err)
			settle = append(settle, m.Term)
			continue
		}
		l := links[subID]
		if l == nil {
			if l, err = d.link(ctx, subID, ev.Cursor, ev.link(m.Headers().Get(bus.PrevCursorHeader)), now); err != nil {
				return nil, err
			}
			if paused[subID] {
				l.tail, l.state = "", chainOpen
			}
			links[subID] = l
			subs = append(subs, subID)
		}
		if l.halted {
			settle = append(settle, m.Nak)
			continue
		}
		it := incoming{taken: now, marked: now, check: checkFirst(m), dl: &Delivery{
			ID: DeliveryID(subID, ev.Cursor), SubscriptionID: subID, EventID: ev.ID, Cursor: ev.Cursor, Removed: ev.Removed,
			Status: StatusPending, NextAttemptAt: nowUTC, Log: []Attempt{}, CreatedAt: nowUTC, UpdatedAt: nowUTC, Body: m.Data(),
			held: true, msg: m,
		}}
		filed, err := d.follow(ctx, l, it, ev.link(m.Headers().Get(bus.PrevCursorHeader)), now)
		if err != nil {
			return nil, fmt.Errorf("subscription %s: %w", subID, err)
		}
		if !filed {
			settle = append(settle, m.Nak)
		}
	}
	for _, f := range settle {
		_ = f()
	}
	d.commit(subs, links, paused)
	return subs, nil
}

// follow files it on l's chain, with the events its link shows missing
// before it. It reports false when the gap before it was too large to
// fill at once: it is not filed, and the rest of the gap is filled when
// JetStream hands it out again.
func (d *Deliverer) follow(ctx context.Context, l *link, it incoming, prev string, now time.Time) (bool, error) {
	c := it.dl.Cursor
	switch {
	case l.state == chainOpen:
		l.add(it)
		return true, nil
	case c <= l.tail:
		it.check, it.repeat = true, true
		l.items = append(l.items, it)
		return true, nil
	case prev != "" && prev == l.tail:
		l.cutoff = time.Time{}
		l.add(it)
		return true, nil
	}
	after := l.tail
	evs, passed, more, err := d.gapEvents(ctx, l.subID, after, c, l.cutoff)
	if err != nil {
		return false, err
	}
	l.cutoff = time.Time{}
	if len(evs) > 0 || passed > 0 || prev > after {
		l.gaps = append(l.gaps, gapNote{after: after, before: c, prev: prev, filled: len(evs), passed: passed, more: more})
	}
	nowUTC := now.UTC()
	for _, e := range evs {
		l.add(incoming{taken: now, marked: now, check: true, dl: &Delivery{
			ID: DeliveryID(l.subID, e.Cursor), SubscriptionID: l.subID, EventID: e.EventID, Cursor: e.Cursor, Removed: e.Removed,
			Status: StatusPending, NextAttemptAt: nowUTC, Log: []Attempt{}, CreatedAt: nowUTC, UpdatedAt: nowUTC, Body: e.JSON,
			held: true,
		}})
	}
	if more {
		l.halted = true
		return false, nil
	}
	l.add(it)
	return true, nil
}

// gapEvents reads the stored events of a subscription between after and
// before, at most maxFill, and whether more may follow. When cutoff is
// set, the events stored before it at the start of the gap are passed
// over and counted (passed).
func (d *Deliverer) gapEvents(ctx context.Context, subID, after, before string, cutoff time.Time) (evs []store.EventDoc, passed int, more bool, err error) {
	for {
		page, err := d.store.events(ctx, subID, after, before, maxFill)
		if err != nil {
			return nil, 0, false, err
		}
		i := 0
		for !cutoff.IsZero() && i < len(page) && page[i].CreatedAt.Before(cutoff) {
			i++
		}
		passed += i
		if i == len(page) && len(page) == maxFill {
			after = page[i-1].Cursor
			continue
		}
		return page[i:], passed, len(page) == maxFill, nil
	}
}

// link returns a subscription's chain for a filing, bootstrapped from
// what is stored when its tail is unknown; c and prev are the cursor and
// link of its first message (see mongoStore.storedTail).
func (d *Deliverer) link(ctx context.Context, subID, c, prev string, now time.Time) (*link, error) {
	l := &link{subID: subID}
	d.mu.Lock()
	if ch := d.chains[subID]; ch != nil {
		l.chain = *ch
	}
	window := d.window
	d.mu.Unlock()
	if l.state != chainUnknown {
		return l, nil
	}
	last, err := d.store.storedTail(ctx, subID, c, prev)
	if err != nil {
		return nil, err
	}
	l.tail = max(l.tail, last)
	switch {
	case l.tail == "":
		l.state = chainOpen
	case window > 0:
		l.state, l.cutoff = chainKnown, now.Add(-window)
	default:
		l.state = chainKnown
	}
	return l, nil
}

// commit adds what a filing checked to the inboxes and chains, unless a
// subscription's chain was rewound meanwhile: its messages then go back
// to JetStream with the rest. It counts and logs the gaps.
func (d *Deliverer) commit(subs []string, links map[string]*link, paused map[string]bool) {
	var naks []jetstream.Msg
	taken, repeats := 0, 0
	d.mu.Lock()
	for _, s := range subs {
		l := links[s]
		ch := d.chainOf(s)
		if ch.epoch != l.epoch {
			for _, it := range l.items {
				if it.dl.msg != nil {
					naks = append(naks, it.dl.msg)
				}
			}
			l.gaps = nil
			continue
		}
		ch.tail, ch.state = l.tail, l.state
		for _, it := range l.items {
			switch {
			case it.repeat:
				repeats++
				if d.attachLocked(s, it) {
					continue
				}
			case it.dl.msg != nil:
				taken++
			}
			d.inbox[s] = append(d.inbox[s], it)
		}
	}
	for s := range paused {
		if ch := d.chains[s]; ch != nil && links[s] == nil {
			ch.tail, ch.state = "", chainOpen
		}
	}
	d.mu.Unlock()
	nakInOrder(naks)
	d.m.intake.WithLabelValues("taken").Add(float64(taken))
	d.m.intake.WithLabelValues("repeat").Add(float64(repeats))
	for _, s := range subs {
		for _, g := range links[s].gaps {
			d.m.gaps.Inc()
			d.m.filled.Add(float64(g.filled))
			d.cfg.Logger.Warn("webhook: gap in a subscription's events; filled from history",
				"subscription_id", s, "after", g.after, "before", g.before, "prev", g.prev, "filled", g.filled, "more", g.more)
			if g.passed > 0 {
				d.cfg.Logger.Warn("webhook: events older than the events stream's window not sent; replay them if they are wanted",
					"subscription_id", s, "events", g.passed, "after", g.after, "before", g.before)
			}
		}
	}
}

// chainOf returns a subscription's chain, made if it has none. d.mu is
// held.
func (d *Deliverer) chainOf(subID string) *chain {
	ch := d.chains[subID]
	if ch == nil {
		ch = &chain{}
		d.chains[subID] = ch
	}
	return ch
}

// attachLocked joins a repeat to the delivery it repeats when that still
// waits in the inbox, and reports whether it did: a delivery filled from
// history takes the repeat's message as its own, and one holding another
// copy of the same JetStream message keeps its copy, which settles both.
// d.mu is held.
func (d *Deliverer) attachLocked(subID string, it incoming) bool {
	in := d.inbox[subID]
	for i := len(in) - 1; i >= 0; i-- {
		dl := in[i].dl
		if dl.ID != it.dl.ID {
			continue
		}
		switch {
		case dl.msg == nil:
			dl.msg = it.dl.msg
			return true
		case streamSeq(dl.msg) != 0 && streamSeq(dl.msg) == streamSeq(it.dl.msg):
			return true
		}
		return false
	}
	return false
}

// streamSeq returns a message's sequence in the stream, or 0.
func streamSeq(m jetstream.Msg) uint64 {
	md, err := m.Metadata()
	if err != nil {
		return 0
	}
	return md.Sequence.Stream
}

// rewind is for a lane handing messages of a subscription back to
// JetStream (laneRun.handBack): what its inbox holds goes back too, and
// its chain's tail is forgotten, so that all of them are filed again in
// cursor order, the events between filled from history again. A filing
// begun before it commits nothing of the subscription.
func (d *Deliverer) rewind(subID string) {
	d.mu.Lock()
	in := d.inbox[subID]
	delete(d.inbox, subID)
	ch := d.chainOf(subID)
	ch.tail, ch.state = "", chainUnknown
	ch.epoch++
	d.mu.Unlock()
	var msgs []jetstream.Msg
	for _, it := range in {
		if it.dl.msg != nil {
			msgs = append(msgs, it.dl.msg)
		}
	}
	nakInOrder(msgs)
}

// repin is for an edge pinned anew on the shared consumer: another edge
// may have filed events meanwhile, so every known chain is bootstrapped
// again, its tail kept as a floor.
func (d *Deliverer) repin() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ch := range d.chains {
		if ch.state == chainKnown {
			ch.state = chainUnknown
		}
	}
}
