package follow

import (
	"context"

	"github.com/mongotron/mongotron/pkg/bus"
)

// Msg is one event message for the bus.
type Msg struct {
	Subject string
	// ID is the de-duplication id (Nats-Msg-Id).
	ID   string
	Data []byte
	// Prev is the cursor of the subscription's previous event, the
	// event's prev_cursor, sent as bus.PrevCursorHeader too; "" for the
	// subscription's first event, which has no header.
	Prev string
}

// Publisher puts events and head notices on the bus.
type Publisher interface {
	// Publish publishes msgs and returns once the bus has acknowledged
	// every one, or the first error. Publishing the same ID twice must be
	// harmless: a step is published again after a crash.
	Publish(ctx context.Context, msgs []Msg) error
	// PublishHead tells the edges about the head; it is best effort.
	PublishHead(h bus.Head) error
}
