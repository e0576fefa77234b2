package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one stream. Its life: registered by Serve, then the sender
// subscribes (if first of its topic), sends the hello, replays, goes live,
// and finally tears down once when its context is cancelled. The cause of
// the cancellation is the [Disconnect] it closes with; cancelling again
// does nothing, which is what makes "close of closed channel" impossible.
type conn struct {
	hub   *Hub
	t     Transport
	req   Request
	topic *topic
	ctx   context.Context
	// stop cancels ctx; cancel is what everyone calls.
	stop context.CancelCauseFunc
	// subscribes is true for the stream that created its topic: its
	// sender makes the NATS subscription.
	subscribes bool
	// wake tells the sender there is work: the queue, a pong, the hub's
	// tick, or the cancellation. Capacity 1.
	wake chan struct{}
	// ticked is set by the hub's ticker when due has come: the sender
	// writes the heartbeat or ping that is due.
	ticked atomic.Bool
	// due is when the sender's next heartbeat or ping is due (Unix
	// nanoseconds); the sender sets it, the hub's ticker reads it.
	due atomic.Int64

	// mu guards the fields below; push, requestPong and the sender share
	// them, but only the sender drains the queue and writes.
	mu         sync.Mutex
	live       bool     // false while replaying: push buffers into pending
	queue      [][]byte // live messages for the sender
	queueBytes int
	pending    []liveMsg // live messages received during replay
	pendBytes  int
	overflow   bool // pending passed its limit: replay again from history
	// tail is the cursor of the last event queued or replayed: a live
	// message at or below it was sent already (a message stored before
	// the replay's last read may arrive after the switch to live), and
	// one above it must link to it. "" on a live-only stream that has
	// had no event yet: it takes the topic's chain from wherever it is.
	tail string
	// resync is set when a live message did not link to tail: the stream
	// went back to replaying, and the sender must replay from tail.
	resync bool
	// refused is set when a message did not fit: the stream is being
	// evicted (or is already closing), and nothing after the dropped
	// message may be queued, so what it got stays a gap-free prefix.
	refused bool
	pong    []byte
	pongDue bool

	// nextPing is when the sender pings next; replay pings between
	// batches too, so a long replay does not trip the client's read
	// deadline on the server side. Sender only.
	nextPing time.Time
	// nextHeartbeat is when the sender writes the next heartbeat. Sender
	// only.
	nextHeartbeat time.Time
	// resyncFrom is where the sender replays from after a flush found
	// resync set; nil when it need not. Sender only.
	resyncFrom *string
}

func newConn(h *Hub, t Transport, req Request) *conn {
	ctx, stop := context.WithCancelCause(context.Background())
	return &conn{
		hub:  h,
		t:    t,
		req:  req,
		ctx:  ctx,
		stop: stop,
		wake: make(chan struct{}, 1),
	}
}

// cancel ends the stream with d, unless it is ending already. It wakes the
// sender too: once live it waits on wake alone, a cheaper wait than a
// select that also watches ctx.
func (c *conn) cancel(d Disconnect) {
	c.stop(d)
	c.signal()
}

// reason returns why the stream is closing.
func (c *conn) reason() Disconnect {
	var d Disconnect
	if errors.As(context.Cause(c.ctx), &d) {
		return d
	}
	return DisconnectInternal
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// push queues a live message; it runs on the topic's hand-on (NATS
// delivery or a fill) and never blocks. A stream whose queue would pass a
// limit is cancelled with 4008 instead.
func (c *conn) push(m liveMsg) {
	maxMsgs, maxBytes := c.hub.cfg.QueueMaxMessages, c.hub.cfg.QueueMaxBytes
	c.mu.Lock()
	if !c.live {
		c.pend(m)
		c.mu.Unlock()
		return
	}
	switch {
	case c.refused, m.cursor <= c.tail:
		c.mu.Unlock()
		return
	case c.tail != "" && m.prev != c.tail:
		// The topic hands on an unbroken chain, so this stream's own
		// position fell behind it (its replay ended short of where the
		// topic stood): replay from its position again.
		c.live, c.resync = false, true
		c.pend(m)
		c.mu.Unlock()
		c.signal()
		return
	}
	if len(c.queue) >= maxMsgs || c.queueBytes+len(m.data) > maxBytes {
		c.refused = true
		c.mu.Unlock()
		c.cancel(DisconnectSlowConsumer)
		return
	}
	c.queue = append(c.queue, m.data)
	c.queueBytes += len(m.data)
	c.tail = m.cursor
	c.mu.Unlock()
	c.signal()
}

// pend keeps a live message that arrived during a replay; c.mu is held.
// Past the queue limits it forgets them all: they are in history, and the
// replay reads them from there.
func (c *conn) pend(m liveMsg) {
	if c.overflow {
		return
	}
	if len(c.pending) >= c.hub.cfg.QueueMaxMessages || c.pendBytes+len(m.data) > c.hub.cfg.QueueMaxBytes {
		c.overflow = true
		clear(c.pending)
		c.pending, c.pendBytes = c.pending[:0], 0
		return
	}
	c.pending = append(c.pending, m)
	c.pendBytes += len(m.data)
}

// requestPong asks the sender to answer a client ping (reader goroutine).
func (c *conn) requestPong(payload []byte) {
	c.mu.Lock()
	c.pong, c.pongDue = payload, true
	c.mu.Unlock()
	c.signal()
}

// readLoop is the reader goroutine: it reads (and drops) client frames
// until the socket fails, and cancels the stream with the matching reason.
//
// It handles one read and goes on in a new goroutine, which inherits this
// one's place in the hub's WaitGroup: a reader started while the runtime's
// starting stack size was large (it follows the average stack in use, and
// a burst of HTTP requests raises it) would otherwise keep that stack as
// long as the stream is idle, for the reason given at liveLoop. Clients
// send little (a pong per ping interval), so this is a goroutine start
// per read.
func (c *conn) readLoop() {
	if err := c.t.ReadFrame(); err != nil {
		c.cancel(readDisconnect(err))
		c.hub.wg.Done()
		return
	}
	go c.readLoop()
}

// sendLoop is the sender goroutine: it alone writes to the socket and
// drains the queue, and it runs the teardown.
func (c *conn) sendLoop() {
	if err := c.start(); err != nil {
		c.cancel(c.failure(err))
		c.teardown()
		c.hub.wg.Done()
		return
	}
	c.nextHeartbeat = time.Now().Add(c.hub.cfg.HeartbeatInterval)
	c.setDue()
	// The sender goes on in a new goroutine: start's history reads and
	// JSON grew this one's stack (see liveLoop).
	go c.liveLoop(nil)
}

// liveLoop is the sender once the stream is live (or replaying after a
// resync): it writes what is queued, the heartbeats and the pings, until
// the stream is cancelled, and then tears it down.
//
// After a heartbeat, a ping or a replay it goes on in a new goroutine,
// which inherits this one's place in the hub's WaitGroup; that is what
// keeps an idle stream's sender at 2 KiB of stack. A write reaches deeper
// than a 2 KiB stack allows, so the stack doubles, and the collector
// halves a stack only when less than a quarter of it is in use, counting
// an 800-byte guard: a 4 KiB stack never gets back to 2 KiB. A new
// goroutine starts at the runtime's starting size (2 KiB while most
// goroutines are parked streams), and the grown stack is freed.
// Heartbeats and pings come seconds apart, so this is one goroutine start
// per stream every few seconds; data writes do not hand on, and a busy
// stream's sender is renewed at its next heartbeat.
func (c *conn) liveLoop(spare [][]byte) {
	spare, renew := c.serveLive(spare)
	if renew {
		go c.liveLoop(spare)
		return
	}
	c.teardown()
	c.hub.wg.Done()
}

// serveLive runs the sender's loop (liveLoop). It returns renew after a
// wake that wrote a heartbeat or a ping or replayed, with the queue's
// spare slice to carry on with; otherwise the stream is cancelled.
func (c *conn) serveLive(spare [][]byte) (_ [][]byte, renew bool) {
	// The hub's ticker sets ticked once due has come, within half a
	// tick: the same slack here keeps such a tick from being ignored.
	tick := c.hub.tickPeriod()
	for {
		<-c.wake
		if c.ctx.Err() != nil {
			return nil, false
		}
		var err error
		if spare, err = c.flush(spare); err != nil {
			c.cancel(DisconnectConnectionLost)
			return nil, false
		}
		if c.ticked.Load() {
			c.ticked.Store(false)
			if err := c.beat(time.Now(), tick); err != nil {
				c.cancel(DisconnectConnectionLost)
				return nil, false
			}
			c.setDue()
			renew = true
		}
		if c.resyncFrom != nil {
			// Everything queued up to tail is written: replay the rest.
			from := *c.resyncFrom
			c.resyncFrom = nil
			c.hub.metrics.gaps.WithLabelValues(gapStream).Inc()
			c.hub.log.Warn("stream: stream behind its subscription's live events; replaying", "subscription_id", c.req.SubscriptionID, "after", from)
			if err := c.replay(from); err != nil {
				c.cancel(c.failure(err))
				return nil, false
			}
			renew = true
		}
		if renew {
			return spare, true
		}
	}
}

// setDue publishes when the next heartbeat or ping is due (sender only).
func (c *conn) setDue() {
	c.due.Store(min(c.nextHeartbeat.UnixNano(), c.nextPing.UnixNano()))
}

// beat writes the heartbeat and the ping that are due at now (sender
// only).
func (c *conn) beat(now time.Time, tick time.Duration) error {
	cfg := &c.hub.cfg
	if !now.Add(tick / 2).Before(c.nextHeartbeat) {
		c.nextHeartbeat = now.Add(cfg.HeartbeatInterval)
		msg := c.hub.beat.Load()
		if msg == nil { // woken by a tick, so never; but cheap to be sure
			b := heartbeatMessage(c.hub.head.Load(), c.hub.solid.Load(), now)
			msg = &b
		}
		if err := c.write([][]byte{*msg}); err != nil {
			return err
		}
	}
	if !now.Add(tick / 2).Before(c.nextPing) {
		c.nextPing = now.Add(cfg.PingInterval)
		return c.t.WriteControl(websocket.PingMessage, nil)
	}
	return nil
}

// failure returns the close reason for a start or replay error.
func (c *conn) failure(err error) Disconnect {
	if c.ctx.Err() != nil {
		return c.reason()
	}
	// Closing the hub cancels the topics' reads before it reaches each
	// stream: a read that failed for that is the hub's close, not an
	// internal error.
	if d, ok := c.hub.closeReason(); ok {
		return d
	}
	var d Disconnect
	if !errors.As(err, &d) {
		c.hub.log.Warn("stream: failed", "subscription_id", c.req.SubscriptionID, "err", err)
		d = DisconnectInternal
	}
	return d
}

// flush writes every queued message in one pass (and a pong, if due). It
// swaps the queue with spare so steady streaming allocates nothing, and
// returns the slice to use as spare next time.
func (c *conn) flush(spare [][]byte) ([][]byte, error) {
	c.mu.Lock()
	msgs := c.queue
	c.queue, c.queueBytes = spare[:0], 0
	pong, pongDue := c.pong, c.pongDue
	c.pong, c.pongDue = nil, false
	if c.resync {
		// Taken with the queue it follows, under one lock.
		from := c.tail
		c.resyncFrom, c.resync = &from, false
	}
	c.mu.Unlock()
	if pongDue {
		if err := c.t.WriteControl(websocket.PongMessage, pong); err != nil {
			return msgs, err
		}
	}
	if len(msgs) > 0 {
		if err := c.write(msgs); err != nil {
			return msgs, err
		}
	}
	clear(msgs)
	return msgs[:0], nil
}

func (c *conn) write(msgs [][]byte) error {
	if err := c.t.WriteText(msgs); err != nil {
		return err
	}
	c.hub.metrics.messages.Add(float64(len(msgs)))
	return nil
}

// start makes the topic's NATS subscription if this stream created the
// topic, sends the hello and replays history, and leaves the stream live.
func (c *conn) start() error {
	c.nextPing = time.Now().Add(c.hub.cfg.PingInterval)
	tp := c.topic
	if c.subscribes {
		// Always done, even when already cancelled, so ready is closed
		// before this stream can leave its topic.
		tp.err = tp.start()
		close(tp.ready)
	} else {
		select {
		case <-tp.ready:
		default:
			// Done makes the context's channel, which the stream would
			// keep: only a stream whose topic is still starting pays
			// for it.
			select {
			case <-tp.ready:
			case <-c.ctx.Done():
				return context.Cause(c.ctx)
			}
		}
	}
	if tp.err != nil {
		return tp.err
	}
	if c.ctx.Err() != nil {
		return context.Cause(c.ctx)
	}
	hist := c.hub.history
	if c.req.After == "" {
		// Live from here: what the topic handed on before the hello is
		// not this stream's.
		c.mu.Lock()
		c.live = true
		clear(c.pending)
		c.pending, c.pendBytes, c.overflow = nil, 0, false
		c.mu.Unlock()
		if err := c.write([][]byte{helloMessage(c.req.SubscriptionID, false, c.hub.cfg.HeartbeatInterval)}); err != nil {
			return DisconnectConnectionLost
		}
		return nil
	}
	var resumed bool
	err := c.hub.retryHistory(c.ctx, c.req.SubscriptionID, "check the resume cursor", func(ctx context.Context) error {
		var err error
		resumed, err = hist.Retained(ctx, c.req.SubscriptionID, c.req.After)
		return err
	})
	if err != nil {
		if c.ctx.Err() != nil {
			return context.Cause(c.ctx)
		}
		return c.historyLost(err)
	}
	from := c.req.After
	if !resumed {
		// The cursor is older than retention: replay all that is left.
		from = ""
	}
	if err := c.write([][]byte{helloMessage(c.req.SubscriptionID, resumed, c.hub.cfg.HeartbeatInterval)}); err != nil {
		return DisconnectConnectionLost
	}
	return c.replay(from)
}

// replay sends the stored events after from, then switches to live: the
// topic's NATS subscription was active before the history was read, and
// every event is in history (MongoDB has it before it is published; the
// events stream as soon as it is) or in pending (or still on its way). The
// switch happens only when pending continues the replayed chain: live
// messages at or below the last replayed cursor are dropped as
// duplicates, and the first one above it must link to it; if it does not,
// the events between are in history by now, and the replay reads again.
func (c *conn) replay(from string) error {
	last := from
	batch := c.hub.cfg.ReplayBatch
	idle := 0 // rounds in a row that replayed nothing and could not go live
	for {
		before := last
		// History failing (MongoDB restarting, the events stream electing
		// a leader) is read again from where it stopped, as a gap on the
		// live path is, for up to the fill timeout.
		err := c.hub.retryHistory(c.ctx, c.req.SubscriptionID, "replay", func(ctx context.Context) error {
			return c.hub.history.Scan(ctx, c.req.SubscriptionID, last, batch, c.replayBatch(&last))
		})
		switch {
		case c.ctx.Err() != nil:
			return context.Cause(c.ctx)
		case errors.Is(err, DisconnectConnectionLost):
			return DisconnectConnectionLost
		case err != nil:
			return c.historyLost(err)
		}
		c.mu.Lock()
		if c.overflow {
			c.overflow = false
			c.mu.Unlock()
			continue
		}
		if !continues(last, c.pending) {
			// History has what lies between, or will within a round:
			// the pending messages are all stored already.
			clear(c.pending)
			c.pending, c.pendBytes = c.pending[:0], 0
			c.mu.Unlock()
			if last == before {
				if idle++; idle >= maxIdleReplays {
					return fmt.Errorf("stream: replay: live events after %q are not in history", last)
				}
			}
			continue
		}
		for _, m := range c.pending {
			if m.cursor > last {
				c.queue = append(c.queue, m.data)
				c.queueBytes += len(m.data)
				last = m.cursor
			}
		}
		clear(c.pending)
		c.pending, c.pendBytes, c.live, c.tail = nil, 0, true, last
		c.mu.Unlock()
		c.signal()
		return nil
	}
}

// historyLost logs why a stream could not read history in time and returns
// the close reason: 1012, so the client resumes with its cursor (here
// once history answers again, or on another edge), as for a gap the live
// path cannot fill.
func (c *conn) historyLost(err error) Disconnect {
	c.hub.log.Warn("stream: history unreadable past the fill timeout; closing with 1012", "subscription_id", c.req.SubscriptionID, "err", err, "timeout", c.hub.cfg.FillTimeout)
	return DisconnectUnmendable
}

// replayBatch returns the callback of a replay's history scan: it writes
// each batch, moves *last to its last cursor, and pings between batches so
// a long replay does not trip the client's read deadline.
func (c *conn) replayBatch(last *string) func([]Record) error {
	return func(recs []Record) error {
		msgs := make([][]byte, len(recs))
		for i, r := range recs {
			msgs[i] = r.JSON
		}
		if err := c.write(msgs); err != nil {
			return DisconnectConnectionLost
		}
		c.hub.metrics.replayed.Add(float64(len(recs)))
		*last = recs[len(recs)-1].Cursor
		if now := time.Now(); !now.Before(c.nextPing) {
			c.nextPing = now.Add(c.hub.cfg.PingInterval)
			if err := c.t.WriteControl(websocket.PingMessage, nil); err != nil {
				return DisconnectConnectionLost
			}
		}
		return c.ctx.Err()
	}
}

// maxIdleReplays bounds the rounds of a replay that read nothing new while
// live messages it cannot link keep it from going live: every live event
// is stored before it is published, so that means history lacks one.
const maxIdleReplays = 5

// continues reports whether the live messages in pending (in the topic's
// chain order) continue the chain replayed up to last.
func continues(last string, pending []liveMsg) bool {
	for _, m := range pending {
		switch {
		case m.cursor <= last:
		case m.prev == last:
			last = m.cursor
		default:
			return false
		}
	}
	return true
}

// teardown runs once, on the sender, after the context is cancelled; the
// steps keep STYLE rule 4's order.
func (c *conn) teardown() {
	// 1–2. Already marked closed: the context is cancelled, and the
	// sender's ticker was stopped by its deferred Stop.
	d := c.reason()
	// 3–4. Leave the hub: no fan-out, delete or revoke reaches us now.
	last := c.hub.remove(c)
	// 5. Flush the queue for a restart (those events need no replay),
	// discard it otherwise (a deleted subscription or revoked key must
	// get nothing more; a slow consumer could not take it).
	c.mu.Lock()
	msgs := c.queue
	c.queue, c.pending = nil, nil
	c.mu.Unlock()
	if d == DisconnectServiceRestart && len(msgs) > 0 {
		_ = c.write(msgs)
	}
	// 6. Close the socket; the reader then stops.
	c.t.Close(d)
	// 7. The last local stream of a subscription drops its NATS
	// subscription. ready is closed: the creator closed it in start,
	// before it could be removed.
	if last {
		<-c.topic.ready
		c.topic.stop()
		if c.topic.sub != nil {
			c.topic.sub.Unsubscribe()
			c.hub.metrics.topics.Dec()
		}
	}
	// 8. Metrics.
	c.hub.metrics.connections.Dec()
	c.hub.metrics.closed(d)
}
