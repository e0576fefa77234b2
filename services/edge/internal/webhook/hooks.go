package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// hookTTL bounds how long a cached webhook is trusted without a change
// message, in case one was lost while NATS reconnected.
const hookTTL = 30 * time.Second

// hook is a subscription's webhook as the deliverer uses it.
type hook struct {
	url    string
	secret []byte
	// disabled is set once the receiver answered 410 Gone at this URL.
	disabled bool
}

// disabledField is the subscription document's field recording a webhook
// disabled by a 410 (subscription.WebhookDisabled). It holds the URL, so
// that a webhook moved to another URL is enabled even where the field was
// not cleared.
const disabledField = "webhook_disabled"

type cachedHook struct {
	h      *hook
	loaded time.Time
}

// hooks caches subscriptions' webhooks, dropped on a subscription change
// message.
type hooks struct {
	db  *mongo.Database
	now func() time.Time

	mu  sync.Mutex
	m   map[string]cachedHook
	gen uint64
}

// get returns a subscription's webhook, or nil when it has none or is
// gone.
func (c *hooks) get(ctx context.Context, subID string) (*hook, error) {
	c.mu.Lock()
	e, ok := c.m[subID]
	gen := c.gen
	c.mu.Unlock()
	now := c.now()
	if ok && now.Sub(e.loaded) < hookTTL {
		return e.h, nil
	}
	var doc subscription.Subscription
	err := c.db.Collection(store.Subscriptions).FindOne(ctx, bson.M{"_id": subID},
		options.FindOne().SetProjection(bson.M{"status": 1, "webhook": 1, disabledField: 1})).Decode(&doc)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("webhook: read subscription %s: %w", subID, err)
	}
	var h *hook
	if err == nil && doc.Status != subscription.StatusDeleted && doc.Webhook != nil && doc.Webhook.URL != "" {
		h = &hook{url: doc.Webhook.URL, secret: []byte(doc.Webhook.Secret), disabled: doc.DisabledWebhook() != nil}
	}
	c.mu.Lock()
	// A change that arrived while reading may have been missed by the
	// read; keep the result for this call only.
	if c.gen == gen {
		c.m[subID] = cachedHook{h: h, loaded: now}
	}
	c.mu.Unlock()
	return h, nil
}

func (c *hooks) invalidate(subID string) {
	c.mu.Lock()
	delete(c.m, subID)
	c.gen++
	c.mu.Unlock()
}
