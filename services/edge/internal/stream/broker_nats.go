package stream

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mongotron/mongotron/pkg/bus"
)

// natsBroker is a [Broker] over a NATS connection the caller owns.
type natsBroker struct {
	nc *nats.Conn
	// flushTimeout bounds the round trip that makes a subscription active.
	flushTimeout time.Duration
	// pendingMsgs and pendingBytes override natsPendingMsgs and
	// natsPendingBytes when positive (tests make the client drop).
	pendingMsgs, pendingBytes int
}

// Pending limits of one NATS subscription. Handlers never block (fan-out
// only appends to bounded queues), so these are reached only if the
// process itself stalls; they are generous so NATS does not drop events
// before the per-connection slow-consumer policy sees them. If it drops
// some all the same, the next message's link shows the gap (and the
// connection's error handler should tell [Hub.BrokerDropped]).
const (
	natsPendingMsgs  = 1 << 20
	natsPendingBytes = 512 << 20
)

// natsSubscription is a [Subscription] over a NATS one.
type natsSubscription struct{ sub *nats.Subscription }

func (s natsSubscription) Unsubscribe() { _ = s.sub.Unsubscribe() }

func (s natsSubscription) Dropped() int {
	n, err := s.sub.Dropped()
	if err != nil {
		return 0
	}
	return n
}

func (b natsBroker) Subscribe(subject string, handler func(Message)) (Subscription, error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		handler(Message{Data: m.Data, Prev: m.Header.Get(bus.PrevCursorHeader)})
	})
	if err != nil {
		return nil, fmt.Errorf("stream: subscribe %s: %w", subject, err)
	}
	msgs, bytes := natsPendingMsgs, natsPendingBytes
	if b.pendingMsgs > 0 {
		msgs = b.pendingMsgs
	}
	if b.pendingBytes > 0 {
		bytes = b.pendingBytes
	}
	if err := sub.SetPendingLimits(msgs, bytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("stream: pending limits %s: %w", subject, err)
	}
	// The round trip makes the server register the subscription before
	// the caller reads history, which is what makes the replay seam
	// gap-free.
	if err := b.nc.FlushTimeout(b.flushTimeout); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("stream: subscribe %s: flush: %w", subject, err)
	}
	return natsSubscription{sub}, nil
}
