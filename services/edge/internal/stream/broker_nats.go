package stream

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// natsBroker is a [Broker] over a NATS connection the caller owns.
type natsBroker struct {
	nc *nats.Conn
	// flushTimeout bounds the round trip that makes a subscription active.
	flushTimeout time.Duration
}

// Pending limits of one NATS subscription. Handlers never block (fan-out
// only appends to bounded queues), so these are reached only if the
// process itself stalls; they are generous so NATS does not drop events
// before the per-connection slow-consumer policy sees them.
const (
	natsPendingMsgs  = 1 << 20
	natsPendingBytes = 512 << 20
)

func (b natsBroker) Subscribe(subject string, handler func([]byte)) (func(), error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { handler(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("stream: subscribe %s: %w", subject, err)
	}
	if err := sub.SetPendingLimits(natsPendingMsgs, natsPendingBytes); err != nil {
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
	return func() { _ = sub.Unsubscribe() }, nil
}
