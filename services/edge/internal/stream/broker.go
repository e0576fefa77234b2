package stream

// Broker is the pub/sub the hub listens on: NATS in production.
type Broker interface {
	// Subscribe delivers every message on subject to handler, one at a
	// time per subscription, and returns only once the subscription is
	// active at the server, so a message published after Subscribe
	// returns is delivered. handler must not block and may keep data.
	Subscribe(subject string, handler func(data []byte)) (unsubscribe func(), err error)
}
