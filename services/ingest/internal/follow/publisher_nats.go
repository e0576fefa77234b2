package follow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mongotron/mongotron/pkg/bus"
)

// EnsureStream creates or updates the events stream, idempotently, with
// replicas copies (zero: 1). maxAge zero means [bus.DefaultEventsMaxAge].
func EnsureStream(ctx context.Context, js jetstream.JetStream, maxAge time.Duration, replicas int) error {
	if _, err := js.CreateOrUpdateStream(ctx, bus.EventsStreamConfig(maxAge, replicas)); err != nil {
		return fmt.Errorf("follow: stream %s: %w", bus.EventsStream, err)
	}
	return nil
}

// NATSPublisher publishes events through JetStream and heads on core NATS.
type NATSPublisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// NewNATSPublisher returns a publisher on nc; the caller keeps owning nc.
func NewNATSPublisher(nc *nats.Conn) (*NATSPublisher, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("follow: jetstream: %w", err)
	}
	return &NATSPublisher{nc: nc, js: js}, nil
}

// JetStream returns the JetStream context, for [EnsureStream].
func (p *NATSPublisher) JetStream() jetstream.JetStream { return p.js }

// publishWindow bounds the publishes awaiting their acknowledgement, below
// the JetStream context's pending limit (4096): past that limit an
// asynchronous publish stalls and then fails instead of waiting.
const publishWindow = 2048

// Publish implements [Publisher]: asynchronous publishes, then a wait for
// every acknowledgement, so a step's (or a group of steps') events cost one
// round trip rather than one each. Past publishWindow messages in flight
// it waits for the oldest before sending the next.
func (p *NATSPublisher) Publish(ctx context.Context, msgs []Msg) error {
	if len(msgs) == 0 {
		return nil
	}
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	var errs []error
	wait := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i >= publishWindow {
			if err := wait(futs[i-publishWindow]); err != nil {
				return err
			}
		}
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data}
		if m.Prev != "" {
			nm.Header = nats.Header{bus.PrevCursorHeader: []string{m.Prev}}
		}
		f, err := p.js.PublishMsgAsync(nm, jetstream.WithMsgID(m.ID))
		if err != nil {
			return fmt.Errorf("follow: publish %s: %w", m.Subject, err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs[max(len(futs)-publishWindow, 0):] {
		if err := wait(f); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("follow: %d of %d publishes failed: %w", len(errs), len(msgs), errs[0])
	}
	return nil
}

// PublishHead implements [Publisher].
func (p *NATSPublisher) PublishHead(h bus.Head) error {
	data, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("follow: head: %w", err)
	}
	if err := p.nc.Publish(bus.HeadSubject, data); err != nil {
		return fmt.Errorf("follow: head: %w", err)
	}
	return nil
}
