package follow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mongotron/mongotron/pkg/bus"
)

// Defaults of the events stream.
const (
	// DefaultStreamMaxAge is how long JetStream keeps events: a short
	// window, since MongoDB is the history.
	DefaultStreamMaxAge = time.Hour
	// DefaultDuplicateWindow is JetStream's de-duplication window; it
	// must outlast a crash and restart of the ingest.
	DefaultDuplicateWindow = 10 * time.Minute
)

// EnsureStream creates or updates the events stream, idempotently.
// maxAge zero means [DefaultStreamMaxAge].
func EnsureStream(ctx context.Context, js jetstream.JetStream, maxAge time.Duration) error {
	if maxAge <= 0 {
		maxAge = DefaultStreamMaxAge
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       bus.EventsStream,
		Subjects:   []string{bus.EventsPrefix + ">"},
		MaxAge:     maxAge,
		Duplicates: min(DefaultDuplicateWindow, maxAge),
		Storage:    jetstream.FileStorage,
	})
	if err != nil {
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

// Publish implements [Publisher]: asynchronous publishes, then a wait for
// every acknowledgement, so a block's events cost one round trip rather
// than one each.
func (p *NATSPublisher) Publish(ctx context.Context, msgs []Msg) error {
	if len(msgs) == 0 {
		return nil
	}
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := p.js.PublishMsgAsync(&nats.Msg{Subject: m.Subject, Data: m.Data}, jetstream.WithMsgID(m.ID))
		if err != nil {
			return fmt.Errorf("follow: publish %s: %w", m.Subject, err)
		}
		futs = append(futs, f)
	}
	var errs []error
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("follow: %d of %d publishes failed: %w", len(errs), len(msgs), errors.Join(errs[0]))
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
