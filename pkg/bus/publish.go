package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultPublishTimeout bounds how long [PublishSubscriptionChange] waits
// for the server to take a message.
const DefaultPublishTimeout = 2 * time.Second

// PublishSubscriptionChange tells the ingests and the other edges that a
// subscription changed in MongoDB: it publishes ch on
// [SubscriptionsSubject] and waits until the server has it, so that a
// failure is returned to the caller instead of staying in the
// connection's buffer (a publish alone only queues the message). It waits
// at most until ctx is done or [DefaultPublishTimeout] has passed.
//
// The change is already stored when it is published, and the receivers
// also reconcile with MongoDB on their own (at start, on reconnect and
// periodically), so a caller handles an error by logging and counting it,
// not by undoing the change.
func PublishSubscriptionChange(ctx context.Context, nc *nats.Conn, ch SubscriptionChange) error {
	b, err := json.Marshal(ch)
	if err != nil {
		return fmt.Errorf("bus: subscription change %s: %w", ch.SubscriptionID, err)
	}
	if err := nc.Publish(SubscriptionsSubject, b); err != nil {
		return fmt.Errorf("bus: publish subscription change %s: %w", ch.SubscriptionID, err)
	}
	// A flush needs a deadline; the caller's may be later or absent.
	fctx, cancel := context.WithTimeout(ctx, DefaultPublishTimeout)
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("bus: publish subscription change %s: %w", ch.SubscriptionID, err)
	}
	return nil
}
