package stream

// Message is one message a [Broker] delivered.
type Message struct {
	// Data is the message body: an event's JSON on an events subject.
	Data []byte
	// Prev is the message's bus.PrevCursorHeader: the cursor of the
	// subscription's event just before this one, "" when the publisher
	// did not say. The event's own prev_cursor says the same and is
	// preferred (messageLink); the header serves events published
	// before that field existed.
	Prev string
}

// Broker is the pub/sub the hub listens on: NATS in production.
type Broker interface {
	// Subscribe delivers every message on subject to handler, one at a
	// time per subscription, and returns only once the subscription is
	// active at the server, so a message published after Subscribe
	// returns is delivered. handler must not block and may keep data.
	Subscribe(subject string, handler func(Message)) (Subscription, error)
}

// Subscription is one subject a [Broker] delivers.
type Subscription interface {
	// Unsubscribe stops the deliveries.
	Unsubscribe()
	// Dropped returns how many messages the broker's client dropped for
	// this subscription so far (a full pending buffer), 0 when it cannot
	// tell. The hub watches it: a drop with no later message to show a
	// broken link would otherwise go unseen.
	Dropped() int
}
