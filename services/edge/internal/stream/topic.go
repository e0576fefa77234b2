package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Gap causes, the label of mongotron_edge_stream_gaps_total.
const (
	// gapLink: a live message did not name the last event handed on.
	gapLink = "link"
	// gapReconnect: after a NATS reconnect, history held events the
	// topic had not seen.
	gapReconnect = "reconnect"
	// gapDropped: the NATS client dropped messages of the subscription
	// (its pending limit), and history held events the topic had not seen.
	gapDropped = "dropped"
	// gapStream: a stream's own position was behind the topic's chain
	// (seen when it switched from replay to live); it replayed again.
	gapStream = "stream"
)

// errNotInHistory says history lacks an event that arrived live: the
// chain cannot be checked against it, so it cannot be handed on.
var errNotInHistory = errors.New("stream: a live event is not in history")

// Bounds of a topic's retries of history while it fills a gap.
const (
	mendMinBackoff = 50 * time.Millisecond
	mendMaxBackoff = 2 * time.Second
)

// liveMsg is an event on its way to the streams: its JSON, its cursor,
// and its link (the cursor of the event before it).
type liveMsg struct {
	data   []byte
	cursor string
	prev   string
}

// topic is the local fan-out of one subscription's NATS subject, shared by
// every local stream of that subscription. It keeps the subscription's
// chain: it hands on a live message only when its link names the last
// event handed on, so what reaches the streams is gap-free by
// construction. A message that does not link means something was lost on
// the way (a NATS disconnect, a dropped message): the topic holds what
// arrives from then on, reads what it missed from history (the events
// stream, then MongoDB, where every event is stored before it is
// published), hands that on in order, then releases what it held.
type topic struct {
	id  string
	hub *Hub
	// ctx ends when the topic's last stream leaves or the hub closes; a
	// fill in progress stops with it.
	ctx  context.Context
	stop context.CancelFunc

	// ready is closed by the creating stream once the NATS subscription
	// is active and the chain's start is known (or either failed: err);
	// sub is set before.
	ready chan struct{}
	sub   Subscription
	err   error
	// dropped is the subscription's dropped count as last seen by the
	// hub's check.
	dropped atomic.Int64

	mu    sync.RWMutex
	conns map[*conn]struct{}

	// cmu orders the hand-on: only its holder gives messages to streams,
	// so the live path and a fill never interleave.
	cmu sync.Mutex
	// tail is the cursor of the last event handed on; "" before the
	// first (the subscription had none when the topic started).
	tail string
	// mending is true while the chain's start is being found or a gap
	// filled: live messages wait in held.
	mending bool
	// recheck asks the running fill to look for news once more before it
	// ends: the broker reconnected, or dropped messages, during it.
	recheck   bool
	recheckOf string // the cause to count if the recheck finds a gap
	held      []liveMsg
	heldBytes int
	// heldOver is set when held passed the queue limits and was
	// dropped: the fill reads history again for it.
	heldOver bool
	// failed is set when the chain could not be mended: the topic left
	// the hub and its streams are closing.
	failed bool
}

func newTopic(h *Hub, id string) *topic {
	ctx, stop := context.WithCancel(h.ctx)
	return &topic{
		id: id, hub: h, ctx: ctx, stop: stop,
		ready: make(chan struct{}), conns: make(map[*conn]struct{}),
		// Until start finds where the chain stands, messages wait.
		mending: true,
	}
}

func (t *topic) add(c *conn) {
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
}

func (t *topic) remove(c *conn) (left int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	return len(t.conns)
}

// start subscribes to the topic's subject and finds where its chain
// stands: the newest event published so far. It runs on the sender of the
// stream that created the topic, before any stream of the topic sends its
// hello, so that a live-only stream gets every event after that one. It
// runs under the topic's context, not the creating stream's: the other
// streams of the topic wait for it too.
func (t *topic) start() error {
	ctx := t.ctx
	h := t.hub
	sub, err := h.broker.Subscribe(busEventsSubject(t.id), t.receive)
	if err != nil {
		return err
	}
	t.sub = sub
	h.metrics.topics.Inc()
	var newest string
	err = h.retryHistory(ctx, t.id, "find the newest event", func(ctx context.Context) error {
		var err error
		newest, err = h.history.Newest(ctx, t.id, "")
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// History stayed unreadable for the fill timeout: the streams
		// resume with their cursors once it answers again.
		h.log.Warn("stream: history unreadable past the fill timeout; closing the subscription's new streams with 1012", "subscription_id", t.id, "err", err)
		return fmt.Errorf("%w: %w", DisconnectUnmendable, err)
	}
	t.cmu.Lock()
	defer t.cmu.Unlock()
	t.tail = newest
	if !t.release() {
		t.hub.metrics.gaps.WithLabelValues(gapLink).Inc()
		t.startMend(false)
	}
	return nil
}

// receive takes a live message from the broker (one at a time).
func (t *topic) receive(msg Message) {
	m := liveMsg{data: msg.Data, cursor: messageCursor(msg.Data), prev: messageLink(msg.Data, msg.Prev)}
	if m.cursor == "" {
		t.hub.log.Warn("stream: event message without a cursor dropped", "subscription_id", t.id)
		return
	}
	t.cmu.Lock()
	defer t.cmu.Unlock()
	switch {
	case t.mending:
		t.hold(m)
	case m.cursor <= t.tail:
		// A repeat: a step published again after an ingest's failure.
		t.hub.metrics.repeats.Inc()
	case m.prev == t.tail:
		t.forward(m)
	default:
		t.hub.metrics.gaps.WithLabelValues(gapLink).Inc()
		t.hub.log.Warn("stream: gap in the live events; filling it from history",
			"subscription_id", t.id, "after", t.tail, "next", m.cursor, "link", m.prev)
		t.hold(m)
		t.startMend(false)
	}
}

// forward hands m on to every stream; cmu is held.
func (t *topic) forward(m liveMsg) {
	t.tail = m.cursor
	t.mu.RLock()
	for c := range t.conns {
		c.push(m)
	}
	t.mu.RUnlock()
}

// hold keeps m until the fill in progress ends; cmu is held. Past the
// queue limits it drops everything held: history has it, and the fill
// reads it from there.
func (t *topic) hold(m liveMsg) {
	if t.heldOver || t.failed {
		return
	}
	cfg := t.hub.cfg
	if len(t.held) >= cfg.QueueMaxMessages || t.heldBytes+len(m.data) > cfg.QueueMaxBytes {
		t.heldOver = true
		clear(t.held)
		t.held, t.heldBytes = t.held[:0], 0
		return
	}
	t.held = append(t.held, m)
	t.heldBytes += len(m.data)
}

// release hands on the held messages that continue the chain; cmu is
// held. It ends the mending and reports true when all of them did; false
// when one did not, or held overflowed: history must be read again.
func (t *topic) release() bool {
	if t.heldOver {
		t.heldOver = false
		return false
	}
	for i, m := range t.held {
		switch {
		case m.cursor <= t.tail:
			// Handed on from history already.
		case m.prev == t.tail:
			t.forward(m)
		default:
			n := copy(t.held, t.held[i:])
			clear(t.held[n:])
			t.held = t.held[:n]
			t.heldBytes = 0
			for _, m := range t.held {
				t.heldBytes += len(m.data)
			}
			return false
		}
	}
	clear(t.held)
	t.held, t.heldBytes = t.held[:0], 0
	if t.recheck {
		return false
	}
	t.mending = false
	return true
}

// check asks the topic to look for events it missed without a broken
// link to show it: the broker reconnected, or dropped messages. cause is
// counted if it finds some.
func (t *topic) check(cause string) {
	t.cmu.Lock()
	defer t.cmu.Unlock()
	if t.failed {
		return
	}
	if t.mending {
		t.recheck, t.recheckOf = true, cause
		return
	}
	t.mending, t.recheck, t.recheckOf = true, true, cause
	t.startMend(true)
}

// startMend starts the fill; cmu is held and mending set. probe says to
// ask for the newest event first, and read history only if it is past
// the tail.
func (t *topic) startMend(probe bool) {
	t.mending = true
	if !t.hub.goBackground(func() { t.mend(probe) }) {
		// The hub is closing: its streams are too.
		t.failed = true
	}
}

// mend fills the gap, retrying history with a backoff; past the fill
// timeout the topic gives up and closes its streams.
func (t *topic) mend(probe bool) {
	h := t.hub
	wait := mendMinBackoff
	var failingSince time.Time
	for {
		done, progressed, err := t.mendOnce(probe)
		if done || t.ctx.Err() != nil {
			return
		}
		if err == nil && progressed {
			failingSince, wait, probe = time.Time{}, mendMinBackoff, false
			continue
		}
		if err == nil {
			// History was read to its end and still lacks a held event.
			err = errNotInHistory
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > h.cfg.FillTimeout {
			t.fail(err)
			return
		}
		h.log.Warn("stream: filling a gap failed; retrying", "subscription_id", t.id, "err", err, "retry_in", wait)
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, mendMaxBackoff)
		probe = false
	}
}

// mendOnce reads history after the tail and hands it on, then releases
// what was held. It reports whether the mending is over, and whether it
// handed anything on.
func (t *topic) mendOnce(probe bool) (done, progressed bool, err error) {
	h := t.hub
	t.cmu.Lock()
	from := t.tail
	cause := ""
	if t.recheck {
		probe, cause = true, t.recheckOf
		t.recheck, t.recheckOf = false, ""
	}
	t.cmu.Unlock()
	scan := true
	if probe {
		newest, err := h.history.Newest(t.ctx, t.id, from)
		if err != nil {
			return false, false, fmt.Errorf("newest event: %w", err)
		}
		scan = newest > from
		if scan && cause != "" {
			h.metrics.gaps.WithLabelValues(cause).Inc()
			h.log.Warn("stream: events missed on the live path; filling them from history",
				"subscription_id", t.id, "cause", cause, "after", from, "newest", newest)
		}
	}
	if scan {
		filled := 0
		err := h.history.Scan(t.ctx, t.id, from, h.cfg.ReplayBatch, func(recs []Record) error {
			t.cmu.Lock()
			for _, r := range recs {
				if r.Cursor > t.tail {
					// Counted before it is handed on, so that whoever
					// sees the event sees it counted too.
					h.metrics.filled.Inc()
					filled++
					// History is the chain: what follows the tail there
					// is, by definition, linked to it.
					t.forward(liveMsg{data: r.JSON, cursor: r.Cursor, prev: t.tail})
				}
			}
			t.cmu.Unlock()
			return t.ctx.Err()
		})
		if filled > 0 {
			h.log.Warn("stream: gap filled from history", "subscription_id", t.id, "events", filled)
		}
		if err != nil {
			return false, filled > 0, fmt.Errorf("history: %w", err)
		}
		progressed = filled > 0
	}
	t.cmu.Lock()
	defer t.cmu.Unlock()
	// Held messages dropped for the limits are read from history next:
	// that is progress too.
	before, over := t.tail, t.heldOver
	done = t.release()
	return done, progressed || over || t.tail != before || !scan, nil
}

// fail closes the topic's streams with 1012, so their clients resume from
// their cursors (from history, where the chain is whole), and takes the
// topic out of the hub, so new streams start a topic of their own.
func (t *topic) fail(err error) {
	h := t.hub
	h.log.Warn("stream: gap could not be filled; closing the subscription's streams",
		"subscription_id", t.id, "err", err, "timeout", h.cfg.FillTimeout)
	t.cmu.Lock()
	t.failed = true
	clear(t.held)
	t.held, t.heldBytes = nil, 0
	t.cmu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.topics[t.id] == t {
		delete(h.topics, t.id)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for c := range t.conns {
		c.cancel(DisconnectUnmendable)
	}
}
