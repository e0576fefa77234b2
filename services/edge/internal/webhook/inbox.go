package webhook

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// An edge keeps the events it took from JetStream in memory, one inbox per
// subscription, unacknowledged, until their lane attempts them: most
// deliveries succeed at once and then cost one insert into the record,
// where queueing each in MongoDB first cost an insert, a read and a delete
// more. An event goes to the MongoDB queue instead ("spilled") when it
// cannot be attempted soon: its subscription waits for a retry, is behind
// an open breaker, has queued work or its lane is held by another edge,
// or it has waited spillAfter. JetStream keeps every inbox event until
// its outcome or its place in the queue is stored, so an edge that dies
// loses nothing: its events are handed to another edge after the ack wait.
// An event filled from the events collection (chain.go) has no message;
// its outcome or its place in the queue alone settles it. It is never
// lost either: the message that showed it missing comes after it, is
// settled only after it, and shows the gap again to whichever edge
// JetStream hands it to next.

// incoming is an event taken from JetStream, or filled from the events
// collection, and not yet settled.
type incoming struct {
	dl *Delivery
	// taken is when it was taken from JetStream (or filled).
	taken time.Time
	// marked is when JetStream was last told it is in progress.
	marked time.Time
	// check says its outcome may be stored already, so the lane looks
	// before attempting or queueing it: a message JetStream delivered
	// more than once, a repeat (at or below its chain's tail), or an
	// event filled from history (another edge may have delivered it).
	check bool
	// repeat says it came at or below its chain's tail: it is sent
	// only if its first delivery cannot be found, late.
	repeat bool
}

// takeInbox removes and returns up to n of a subscription's waiting
// events, oldest first.
func (d *Deliverer) takeInbox(subID string, n int) []incoming {
	return d.takeFromInbox(subID, n, false)
}

// takeBatch is takeInbox for attempting the events: the batch ends
// before an event whose cursor is not above the one before it (a repeat
// filed behind later events), so that the lane looks for it only once
// what came before it is stored.
func (d *Deliverer) takeBatch(subID string, n int) []incoming {
	return d.takeFromInbox(subID, n, true)
}

func (d *Deliverer) takeFromInbox(subID string, n int, ordered bool) []incoming {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := d.inbox[subID]
	n = min(n, len(in))
	if n == 0 {
		return nil
	}
	if ordered {
		for i := 1; i < n; i++ {
			if in[i].dl.Cursor <= in[i-1].dl.Cursor {
				n = i
				break
			}
		}
	}
	out := in[:n:n]
	if n == len(in) {
		delete(d.inbox, subID)
	} else {
		d.inbox[subID] = in[n:]
	}
	return out
}

// putBack returns events to the front of an inbox, after a failed spill.
func (d *Deliverer) putBack(subID string, items []incoming) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inbox[subID] = append(items, d.inbox[subID]...)
}

// oldest returns when a subscription's oldest waiting event was taken.
func (d *Deliverer) oldest(subID string) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := d.inbox[subID]
	if len(in) == 0 {
		return time.Time{}, false
	}
	return in[0].taken, true
}

// spillOps adds what queues items, and settles their messages once
// written, to ops. An event to check is queued only if its outcome is
// not recorded by then (mongoStore.unrecorded); one filled from history
// has no message to settle.
func (d *Deliverer) spillOps(ops *writeOps, items []incoming) {
	d.m.spilled.Add(float64(len(items)))
	for _, it := range items {
		q := *it.dl
		q.keepLink()
		q.held, q.msg, q.check = false, nil, it.check
		ops.pending = append(ops.pending, &q)
		if it.dl.msg != nil {
			ops.acks = append(ops.acks, it.dl.msg)
		}
	}
}

// spillAll queues everything in a subscription's inbox, for a lane not
// running here now, and reports whether it could. On failure the events
// go back to the inbox; tend keeps them from being handed to another
// edge meanwhile, and tries again.
func (d *Deliverer) spillAll(ctx context.Context, subID string) bool {
	for {
		items := d.takeInbox(subID, laneBatch)
		if len(items) == 0 {
			return true
		}
		var ops writeOps
		d.spillOps(&ops, items)
		if err := d.writer.write(ctx, ops); err != nil {
			d.putBack(subID, items)
			d.cfg.Logger.Warn("webhook: queue events", "subscription_id", subID, "err", err)
			return false
		}
		for _, m := range ops.acks {
			_ = m.Ack()
		}
	}
}

// tend runs every spillAfter. It starts the lane of each subscription
// whose inbox has waited that long, which attempts or queues the events,
// and tells JetStream that events waiting markAfter are in progress, so
// that they are not handed to another edge meanwhile.
func (d *Deliverer) tend(ctx context.Context) {
	t := time.NewTicker(spillAfter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.cfg.Now()
		var (
			stale []jetstream.Msg
			subs  []string
		)
		d.mu.Lock()
		for s, in := range d.inbox {
			if len(in) == 0 || now.Sub(in[0].taken) < spillAfter {
				continue
			}
			subs = append(subs, s)
			for i := range in {
				if in[i].dl.msg != nil && now.Sub(in[i].marked) >= markAfter {
					stale = append(stale, in[i].dl.msg)
					in[i].marked = now
				}
			}
		}
		d.mu.Unlock()
		for _, m := range stale {
			_ = m.InProgress()
		}
		for _, s := range subs {
			d.kick(ctx, s, false)
		}
	}
}

// leave keeps a message taken but not filed, for queueHeld once the
// lanes have ended; or, if the consumer failed while the edge goes on
// (ctx is not done), hands it back at once.
func (d *Deliverer) leave(ctx context.Context, m jetstream.Msg) {
	if ctx.Err() == nil {
		_ = m.Nak()
		return
	}
	d.mu.Lock()
	d.left = append(d.left, m)
	d.mu.Unlock()
}

// queueHeld queues every event a stopping edge still holds, in its
// inboxes or left over from the consumer, once its lanes have ended, and
// acknowledges them; the next edge's lanes read the queue before anything
// newer. Handing them back to JetStream instead would not keep them in
// order: JetStream hands nak'ed messages out again in an order of its own,
// so the first of a subscription's events could go out after the rest.
// Only if MongoDB cannot take them are they handed back.
func (d *Deliverer) queueHeld() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*storeTimeout)
	defer cancel()
	d.mu.Lock()
	left := d.left
	d.left = nil
	d.mu.Unlock()
	if len(left) > 0 {
		if _, err := d.file(ctx, left); err != nil {
			d.cfg.Logger.Warn("webhook: events taken while stopping handed back", "err", err)
			nakInOrder(left)
		}
	}
	d.mu.Lock()
	var ops writeOps
	for _, in := range d.inbox {
		d.spillOps(&ops, in)
	}
	clear(d.inbox)
	d.mu.Unlock()
	if len(ops.acks) == 0 {
		return
	}
	if err := d.writer.write(ctx, ops); err != nil {
		d.cfg.Logger.Warn("webhook: events held while stopping handed back", "events", len(ops.acks), "err", err)
		nakInOrder(ops.acks)
		return
	}
	ops.settle(true)
}

// nakInOrder hands msgs back to JetStream in stream order.
func nakInOrder(msgs []jetstream.Msg) {
	seq := func(m jetstream.Msg) uint64 {
		md, err := m.Metadata()
		if err != nil {
			return 0
		}
		return md.Sequence.Stream
	}
	slices.SortFunc(msgs, func(a, b jetstream.Msg) int { return cmp.Compare(seq(a), seq(b)) })
	for _, m := range msgs {
		_ = m.Nak()
	}
}

// knownItems is what is stored already of a batch's events to check.
type knownItems struct {
	// recorded holds the delivery ids whose outcome is recorded: their
	// messages only need acknowledging.
	recorded map[string]bool
	// queued says some are queued, so the queue must be read first.
	queued bool
}

// known sorts out the events to check (incoming.check): events
// JetStream delivered more than once (an edge stopped or died, or a
// write of outcomes failed), repeats, and events filled from history.
func (s mongoStore) known(ctx context.Context, items []incoming) (knownItems, error) {
	var ids []string
	for _, it := range items {
		if it.check {
			ids = append(ids, it.dl.ID)
		}
	}
	if len(ids) == 0 {
		return knownItems{}, nil
	}
	recorded, err := s.recorded(ctx, ids)
	if err != nil {
		return knownItems{}, err
	}
	n, err := s.queue().CountDocuments(ctx, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return knownItems{}, err
	}
	return knownItems{recorded: recorded, queued: n > 0}, nil
}

// checkFirst reports whether an event of msg's delivery count is to be
// checked: one JetStream delivered before, or whose count is unknown.
func checkFirst(m jetstream.Msg) bool {
	md, err := m.Metadata()
	return err != nil || md.NumDelivered > 1
}
