package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mongotron/mongotron/pkg/bus"
)

// intake moves events from JetStream to delivery documents, reconnecting
// to the consumer until ctx is done.
func (d *Deliverer) intake(ctx context.Context) {
	wait := time.Second
	for ctx.Err() == nil {
		cons, err := d.js.CreateOrUpdateConsumer(ctx, bus.EventsStream, jetstream.ConsumerConfig{
			Durable:       d.cfg.Consumer,
			FilterSubject: bus.EventsPrefix + ">",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       d.ackWait,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			// Messages stay pending while they wait in inboxes.
			MaxAckPending: 64 * d.cfg.FetchBatch,
			MaxDeliver:    -1,
			// One edge at a time takes messages; see intakeGroup.
			PriorityGroups: []string{intakeGroup},
			PriorityPolicy: jetstream.PriorityPolicyPinned,
			PinnedTTL:      d.ackWait + pinSlack,
			// As many copies as the stream (3 in a cluster): the
			// consumer's state survives the node it was on.
			Replicas: d.cfg.Replicas,
		})
		if err == nil {
			wait = time.Second
			d.readWindow(ctx)
			err = d.consume(ctx, cons)
		}
		if ctx.Err() != nil {
			return
		}
		// The stream appears when the ingest first starts; until then
		// this is expected, so it is not shouted about.
		level := d.cfg.Logger.Warn
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			level = d.cfg.Logger.Debug
		}
		level("webhook: events consumer", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// consume takes messages in batches until ctx is done or the consumer
// fails. What it has not passed on by then is left for queueHeld, or,
// when the consumer failed, handed back, and the consumer is unpinned if
// this edge is the pinned one; a stopping edge unpins in Run, once its
// lanes have ended.
func (d *Deliverer) consume(ctx context.Context, cons jetstream.Consumer) error {
	ch := make(chan jetstream.Msg, d.cfg.FetchBatch)
	failed := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case ch <- m:
		case <-ctx.Done():
			// Stopping: queued with the rest once the lanes end.
			d.leave(ctx, m)
		}
	}, jetstream.PullMaxMessages(d.cfg.FetchBatch), jetstream.PullPriorityGroup(intakeGroup), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			select {
			case failed <- err:
			default:
			}
		}
	}))
	if err != nil {
		return fmt.Errorf("webhook: consume: %w", err)
	}
	defer func() {
		cc.Drain()
		<-cc.Closed()
		// Nothing sends on ch any more.
		for len(ch) > 0 {
			d.leave(ctx, <-ch)
		}
		if ctx.Err() == nil && d.pin != "" {
			d.unpin(d.pin)
		}
	}()
	batch := make([]jetstream.Msg, 0, d.cfg.FetchBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case <-cc.Closed():
			return errors.New("webhook: consumer closed")
		case m := <-ch:
			batch = append(batch[:0], m)
		more:
			for len(batch) < cap(batch) {
				select {
				case m := <-ch:
					batch = append(batch, m)
				default:
					break more
				}
			}
			if h := batch[0].Headers().Get(pinHeader); h != "" {
				if d.pin != "" && h != d.pin {
					// Pinned anew: another edge may have filed events
					// meanwhile.
					d.repin()
				}
				d.pin = h
			}
			d.take(ctx, batch)
		}
	}
}

// readWindow reads how long the events stream keeps events, for the
// first gap after a chain's bootstrap (see Deliverer.link).
func (d *Deliverer) readWindow(ctx context.Context) {
	st, err := d.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return
	}
	d.mu.Lock()
	d.window = st.CachedInfo().Config.MaxAge
	d.mu.Unlock()
}

// unpin unpins the shared consumer if pin is still its pinned client.
func (d *Deliverer) unpin(pin string) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	st, err := d.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return
	}
	cons, err := st.Consumer(ctx, d.cfg.Consumer)
	if err != nil {
		return
	}
	for _, g := range cons.CachedInfo().PriorityGroups {
		if g.Group == intakeGroup && g.PinnedClientID == pin {
			if err := st.UnpinConsumer(ctx, d.cfg.Consumer, intakeGroup); err != nil {
				d.cfg.Logger.Debug("webhook: unpin", "err", err)
			}
		}
	}
}

// take passes each message whose subscription has a webhook to that
// subscription's inbox and starts its lane; the lane acknowledges it once
// settled. It tries again in place until it succeeds or ctx ends, rather
// than handing messages back for later: the next batch must not go
// before this one. Messages not taken when ctx ends are left for
// queueHeld.
func (d *Deliverer) take(ctx context.Context, msgs []jetstream.Msg) {
	wait := 100 * time.Millisecond
	for {
		err := d.takeOnce(ctx, msgs)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			for _, m := range msgs {
				d.leave(ctx, m)
			}
			return
		}
		d.cfg.Logger.Warn("webhook: intake", "err", err, "retry_in", wait)
		for _, m := range msgs {
			// Keep them ours while we try again.
			_ = m.InProgress()
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// takeOnce files msgs into inboxes and starts their lanes.
func (d *Deliverer) takeOnce(ctx context.Context, msgs []jetstream.Msg) error {
	subs, err := d.file(ctx, msgs)
	if err != nil {
		return err
	}
	for _, s := range subs {
		d.kick(ctx, s, false)
	}
	return nil
}
