package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// ListQuery selects deliveries of one subscription.
type ListQuery struct {
	// Status filters by status; empty means all.
	Status string
	// After is the id of the last delivery of the previous page.
	After string
	// Limit is the page size; it must be positive.
	Limit int
}

// ErrInvalidStatus is returned for an unknown status filter.
var ErrInvalidStatus = errors.New("webhook: unknown delivery status")

// ErrNotFound is returned for a delivery that does not exist.
var ErrNotFound = errors.New("webhook: delivery not found")

// ErrNoWebhook is returned when replaying a subscription without a webhook.
var ErrNoWebhook = errors.New("webhook: the subscription has no webhook")

// Page is a page of a subscription's deliveries, in cursor order.
type Page struct {
	Deliveries []View
	// Next is the id to list after for the next page, "" at the end.
	Next string
}

// ReplayResult is what a replay made due again.
type ReplayResult struct {
	// Replayed counts the events made due again.
	Replayed int
	// Next is the cursor to replay after next, "" when there are no
	// more.
	Next string
}

// disable records that the webhook at url answered 410 Gone to the
// delivery deliveryID, where GET shows it (subscription.WebhookDisabled),
// and tells every edge.
func (d *Deliverer) disable(ctx context.Context, subID, url, deliveryID string) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	why := subscription.WebhookDisabled{
		URL: url, At: d.cfg.Now().UTC().Truncate(time.Millisecond), Reason: "the receiver answered 410 Gone",
		StatusCode: http.StatusGone, DeliveryID: deliveryID,
	}
	var s subscription.Subscription
	err := d.cfg.DB.Collection(store.Subscriptions).FindOneAndUpdate(wctx,
		bson.M{"_id": subID, "webhook.url": url},
		bson.M{"$set": bson.M{disabledField: why}, "$inc": bson.M{"version": 1}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&s)
	if err != nil {
		if !errors.Is(err, mongo.ErrNoDocuments) {
			d.cfg.Logger.Error("webhook: disable", "subscription_id", subID, "err", err)
		}
		return
	}
	d.cfg.Logger.Info("webhook disabled: receiver answered 410 Gone", "subscription_id", subID)
	d.changed(ctx, s)
}

// enable clears a 410's disabling of a subscription's webhook.
func (d *Deliverer) enable(ctx context.Context, subID string) error {
	var s subscription.Subscription
	err := d.cfg.DB.Collection(store.Subscriptions).FindOneAndUpdate(ctx,
		bson.M{"_id": subID, disabledField: bson.M{"$exists": true}},
		bson.M{"$unset": bson.M{disabledField: ""}, "$inc": bson.M{"version": 1}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&s)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("webhook: enable: %w", err)
	}
	d.changed(ctx, s)
	return nil
}

// changed drops the cached webhook here and tells the other edges. A
// failure to tell them is logged, not returned: the change is stored, and
// they reconcile with MongoDB on their own.
func (d *Deliverer) changed(ctx context.Context, s subscription.Subscription) {
	d.hooks.invalidate(s.ID)
	ch := bus.SubscriptionChange{Op: bus.OpUpsert, SubscriptionID: s.ID, Tenant: s.Tenant, Version: s.Version}
	if err := bus.PublishSubscriptionChange(context.WithoutCancel(ctx), d.cfg.NATS, ch); err != nil {
		d.cfg.Logger.Warn("webhook: publish change", "subscription_id", s.ID, "err", err)
	}
}

// List returns a page of a subscription's deliveries in cursor order. The
// caller checks that the subscription is the tenant's.
func (d *Deliverer) List(ctx context.Context, subID string, q ListQuery) (Page, error) {
	return d.store.list(ctx, subID, q)
}

// Retry makes a delivery due now with a fresh retry schedule, whatever its
// status, and enables a webhook a 410 disabled.
func (d *Deliverer) Retry(ctx context.Context, subID, deliveryID string) (*View, error) {
	if err := d.enable(ctx, subID); err != nil {
		return nil, err
	}
	v, err := d.store.resend(ctx, subID, deliveryID, d.cfg.Now().UTC())
	if err != nil {
		return nil, err
	}
	d.wake(ctx, subID)
	return v, nil
}

// Replay makes the stored events of a subscription after cursor after due
// again, at most [MaxReplay] of them, creating the deliveries missing, and
// enables a webhook a 410 disabled.
func (d *Deliverer) Replay(ctx context.Context, subID, after string) (ReplayResult, error) {
	d.hooks.invalidate(subID)
	h, err := d.hooks.get(ctx, subID)
	if err != nil {
		return ReplayResult{}, err
	}
	if h == nil {
		return ReplayResult{}, ErrNoWebhook
	}
	if err := d.enable(ctx, subID); err != nil {
		return ReplayResult{}, err
	}
	res, err := d.store.replay(ctx, subID, after, MaxReplay, d.cfg.Now().UTC())
	if err != nil {
		return ReplayResult{}, err
	}
	d.wake(ctx, subID)
	if res.Replayed < MaxReplay {
		res.Next = ""
	}
	return res, nil
}

// wake ends a parked lane's wait here and in MongoDB, and starts it here
// when Run runs.
func (d *Deliverer) wake(ctx context.Context, subID string) {
	if err := d.leases.Wake(ctx, subID); err != nil {
		d.cfg.Logger.Warn("webhook: wake lane", "subscription_id", subID, "err", err)
	}
	d.mu.Lock()
	delete(d.notBefore, subID)
	runCtx := d.runCtx
	d.mu.Unlock()
	if runCtx != nil && runCtx.Err() == nil {
		d.kick(runCtx, subID, true)
	}
}
