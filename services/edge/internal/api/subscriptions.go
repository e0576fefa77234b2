package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// subscriptionView is a subscription as create, get and patch return it:
// with its whole address set.
type subscriptionView struct {
	*subscription.Subscription
	Addresses []string `json:"addresses"`
}

// newView is what create, get and patch return: s as presented, with its
// address set, and the webhook secret when the server generated it — the
// only time it is ever shown.
func newView(s *subscription.Subscription, addrs []string, generated string) subscriptionView {
	v := subscriptionView{Subscription: present(s), Addresses: addrs}
	if v.Addresses == nil {
		v.Addresses = []string{}
	}
	if generated != "" {
		v.Webhook.Secret = generated
	}
	return v
}

// ensureSecret fills in the secret of a webhook set without one, from
// prev (the webhook it replaces, if any) so that receivers keep verifying
// with the secret they have, or else generated, which it returns: an HMAC
// with an empty key would prove nothing to the receiver.
func ensureSecret(s *subscription.Subscription, prev *subscription.Webhook) string {
	if s.Webhook == nil || s.Webhook.Secret != "" {
		return ""
	}
	if prev != nil && prev.Secret != "" {
		s.Webhook.Secret = prev.Secret
		return ""
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	s.Webhook.Secret = "whsec_" + hex.EncodeToString(b[:])
	return s.Webhook.Secret
}

func (a *API) subs() *mongo.Collection  { return a.cfg.DB.Collection(store.Subscriptions) }
func (a *API) addrs() *mongo.Collection { return a.cfg.DB.Collection(store.SubscriptionAddresses) }

// now is the current time at MongoDB's precision, so that what a write
// returns equals what a later read returns.
func (a *API) now() time.Time { return a.cfg.Now().UTC().Truncate(time.Millisecond) }

func newSubscriptionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return subscription.IDPrefix + hex.EncodeToString(b[:])
}

// alive selects the caller's subscription id unless it is a tombstone.
func alive(tenant, id string) bson.M {
	return bson.M{"_id": id, "tenant": tenant, "status": bson.M{"$ne": subscription.StatusDeleted}}
}

// findSubscription returns the caller's live subscription id, or a 404
// when it is absent, deleted or another tenant's: the three look the same
// so that ids of other tenants cannot be probed.
func (a *API) findSubscription(ctx context.Context, tenant, id string) (*subscription.Subscription, error) {
	s, err := a.readSubscription(ctx, id)
	if err == nil && !(writeCond{tenant: tenant}).holds(s) {
		err = mongo.ErrNoDocuments
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, errNotFound("subscription " + strconv.Quote(clip(id)))
	}
	if err != nil {
		return nil, fmt.Errorf("api: find subscription: %w", err)
	}
	return s, nil
}

func (a *API) loadAddresses(ctx context.Context, id string) ([]string, error) {
	cur, err := a.addrs().Find(ctx, bson.M{"subscription_id": id},
		options.Find().SetSort(bson.D{{Key: "address", Value: 1}}).SetProjection(bson.M{"address": 1}))
	if err != nil {
		return nil, fmt.Errorf("api: load addresses: %w", err)
	}
	var docs []subscription.Address
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("api: load addresses: %w", err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Address
	}
	return out, nil
}

// present prepares a stored subscription for a response: the webhook
// secret is write-only, nil lists are empty lists, and metadata read back
// from BSON becomes plain JSON values again.
func present(s *subscription.Subscription) *subscription.Subscription {
	v := *s
	if v.Webhook != nil {
		v.Webhook = &subscription.Webhook{URL: v.Webhook.URL}
	}
	if v.Contracts == nil {
		v.Contracts = []string{}
	}
	if v.Kinds == nil {
		v.Kinds = []string{}
	}
	if v.ExcludeFlags == nil {
		v.ExcludeFlags = []string{}
	}
	if v.Finality == "" {
		// Stored before finality existed: delivered at its confirmations.
		v.Finality = subscription.FinalityConfirmations
	}
	// A record of a disabling at another URL than the webhook's is stale:
	// that webhook is enabled.
	v.WebhookDisabled = nil
	if w := s.DisabledWebhook(); w != nil {
		d := *w
		if d.StatusCode == 0 {
			// Recorded before the status was: a 410 is the only cause.
			d.StatusCode = http.StatusGone
		}
		v.WebhookDisabled = &d
	}
	if v.Metadata != nil {
		v.Metadata, _ = plain(v.Metadata).(map[string]any)
	}
	return &v
}

// plain turns the bson.D and bson.A the driver decodes nested values into
// back into JSON-shaped maps and slices.
func plain(v any) any {
	switch x := v.(type) {
	case bson.D:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Key] = plain(e.Value)
		}
		return m
	case bson.M:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case bson.A:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = plain(e)
		}
		return s
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = plain(e)
		}
		return s
	}
	return v
}

// committedBlock returns the highest block an ingest has committed, or
// false when none has.
func (a *API) committedBlock(ctx context.Context) (int64, bool, error) {
	var cp store.Checkpoint
	err := a.cfg.DB.Collection(store.Checkpoints).FindOne(ctx, bson.M{},
		options.FindOne().SetSort(bson.D{{Key: "block", Value: -1}})).Decode(&cp)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("api: read checkpoint: %w", err)
	}
	return cp.Block, true, nil
}

func (a *API) createSubscription(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	var req subscription.Request
	if err := a.decodeJSON(c, &req); err != nil {
		return err
	}
	s, addrs, err := req.New()
	if err != nil {
		return validationError(err)
	}
	if err := a.checkWebhook(s); err != nil {
		return err
	}
	secret := ensureSecret(s, nil)
	now := a.now()
	s.ID = newSubscriptionID()
	s.Tenant = p.Tenant
	s.Status = subscription.StatusActive
	s.AddressCount = int64(len(addrs))
	s.CreatedAt, s.UpdatedAt = now, now
	s.Version = 1
	if s.StartBlock != nil {
		head, known, err := a.committedBlock(ctx)
		if err != nil {
			return err
		}
		// With no checkpoint yet the ingest has not started, so any
		// start block may lie behind the point it will start from: it
		// decides, and marks the backfill done when there was none.
		if !known || *s.StartBlock <= head {
			s.Status = subscription.StatusBackfilling
			s.Backfill = &subscription.Backfill{From: *s.StartBlock}
		}
	}
	// No multi-document transactions: the address set goes in first,
	// invisible until the subscription document that owns it exists. A
	// crash in between leaves only unreachable address entries.
	if err := a.insertAddresses(ctx, s.ID, addrs, now); err != nil {
		return err
	}
	if _, err := a.subs().InsertOne(ctx, s); err != nil {
		return fmt.Errorf("api: insert subscription: %w", err)
	}
	a.publish(ctx, bus.SubscriptionChange{Op: bus.OpUpsert, SubscriptionID: s.ID, Tenant: s.Tenant, Version: s.Version})
	c.Response().Header().Set("Location", "/v1/subscriptions/"+s.ID)
	return c.JSON(http.StatusCreated, newView(s, addrs, secret))
}

func (a *API) getSubscription(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := a.findSubscription(ctx, principal(c).Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	addrs, err := a.loadAddresses(ctx, s.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newView(s, addrs, ""))
}

func (a *API) listSubscriptions(c echo.Context) error {
	ctx := c.Request().Context()
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	filter := bson.M{"tenant": principal(c).Tenant, "status": bson.M{"$ne": subscription.StatusDeleted}}
	if after := c.QueryParam("cursor"); after != "" {
		if !strings.HasPrefix(after, subscription.IDPrefix) {
			return badRequest("invalid_cursor", "cursor %q is not one this API returned", clip(after))
		}
		filter["_id"] = bson.M{"$gt": after}
	}
	// A page comes in one reply: fewer round trips on MongoDB, and on
	// FerretDB, whose cursor dies with the connection that opened it, no
	// getMore that another request's cancel could break.
	cur, err := a.subs().Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetLimit(int64(limit)+1).SetBatchSize(int32(limit)+1))
	if err != nil {
		return fmt.Errorf("api: list subscriptions: %w", err)
	}
	var subs []*subscription.Subscription
	if err := cur.All(ctx, &subs); err != nil {
		return fmt.Errorf("api: list subscriptions: %w", err)
	}
	var next *string
	if len(subs) > limit {
		subs = subs[:limit]
		id := subs[limit-1].ID
		next = &id
	}
	// A list omits address sets, which may hold 100,000 entries each;
	// address_count says how many, and /addresses pages through them.
	out := make([]*subscription.Subscription, len(subs))
	for i, s := range subs {
		out[i] = present(s)
	}
	return c.JSON(http.StatusOK, struct {
		Subscriptions []*subscription.Subscription `json:"subscriptions"`
		Next          *string                      `json:"next"`
	}{out, next})
}

func (a *API) patchSubscription(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	var req subscription.Request
	if err := a.decodeJSON(c, &req); err != nil {
		return err
	}
	cur, err := a.findSubscription(ctx, p.Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	s, err := req.Apply(cur)
	if err != nil {
		return validationError(err)
	}
	var secret string
	if req.Webhook.Set {
		if err := a.checkWebhook(s); err != nil {
			return err
		}
		secret = ensureSecret(s, cur.Webhook)
	}
	s.UpdatedAt = a.now()
	s.Version = cur.Version + 1
	// Only the fields a client owns are set, so a concurrent backfill
	// progress update by the ingest is not overwritten; the version
	// condition makes a concurrent PATCH or address change a 409 rather
	// than a lost update.
	update := bson.M{"$set": bson.M{
		"label": s.Label, "contracts": s.Contracts, "kinds": s.Kinds, "direction": s.Direction,
		"min_amount": s.MinAmount, "max_amount": s.MaxAmount, "only_success": s.OnlySuccess,
		"confirmations": s.Confirmations, "finality": s.Finality, "exclude_flags": s.ExcludeFlags, "only_verified": s.OnlyVerified,
		"all": s.All, "webhook": s.Webhook, "metadata": s.Metadata,
		"updated_at": s.UpdatedAt, "version": s.Version,
	}}
	if cur.WebhookDisabled != nil && s.WebhookDisabled == nil {
		// The webhook moved to another URL or went: enabled again.
		update["$unset"] = bson.M{"webhook_disabled": ""}
	}
	_, err = a.updateIf(ctx, cur.ID, writeCond{tenant: p.Tenant, version: cur.Version}, update)
	if errors.Is(err, mongo.ErrNoDocuments) {
		if _, err := a.findSubscription(ctx, p.Tenant, cur.ID); err != nil {
			return err
		}
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: "the subscription changed during this request; read it again and retry"}
	}
	if err != nil {
		return fmt.Errorf("api: update subscription: %w", err)
	}
	a.publish(ctx, bus.SubscriptionChange{Op: bus.OpUpsert, SubscriptionID: s.ID, Tenant: s.Tenant, Version: s.Version})
	addrs, err := a.loadAddresses(ctx, s.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newView(s, addrs, secret))
}

func (a *API) deleteSubscription(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	id := c.Param("id")
	// The document stays as a tombstone with a higher version, so a late
	// upsert message can never revive it anywhere.
	s, err := a.updateIf(ctx, id, writeCond{tenant: p.Tenant},
		bson.M{"$set": bson.M{"status": subscription.StatusDeleted, "updated_at": a.now()}, "$inc": bson.M{"version": 1}})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return errNotFound("subscription " + strconv.Quote(clip(id)))
	}
	if err != nil {
		return fmt.Errorf("api: delete subscription: %w", err)
	}
	a.subCache.deleted(s.ID)
	a.publish(ctx, bus.SubscriptionChange{Op: bus.OpDelete, SubscriptionID: s.ID, Tenant: s.Tenant, Version: s.Version})
	// The address set is unreachable now; dropping it is housekeeping,
	// done after the answer: a set may hold 100,000 entries, and on
	// FerretDB the delete reads every entry stored. A queue full (or an
	// edge stopping first) leaves it to this request, or dead entries
	// behind, which nothing reads.
	select {
	case a.drops <- s.ID:
	default:
		a.dropAddresses(ctx, s.ID)
	}
	return c.NoContent(http.StatusNoContent)
}

// maxDrops bounds the address sets of deleted subscriptions waiting to be
// dropped; dropTimeout bounds the drop of one.
const (
	maxDrops    = 256
	dropTimeout = 5 * time.Minute
)

// dropLoop drops the address sets of deleted subscriptions, one at a
// time, until ctx ends.
func (a *API) dropLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-a.drops:
			dctx, cancel := context.WithTimeout(ctx, dropTimeout)
			a.dropAddresses(dctx, id)
			cancel()
		}
	}
}

// dropAddresses deletes the address set of deleted subscription id.
func (a *API) dropAddresses(ctx context.Context, id string) {
	if _, err := a.addrs().DeleteMany(ctx, bson.M{"subscription_id": id}); err != nil && ctx.Err() == nil {
		a.cfg.Logger.Warn("drop address set of deleted subscription", "subscription_id", id, "err", err)
	}
}

// publish tells the ingests and the other edges about a change already in
// MongoDB. A failure is logged and counted, not returned: the change is
// stored, and answering 500 would make the client retry a create into a
// duplicate. Receivers reconcile with MongoDB on (re)start.
func (a *API) publish(ctx context.Context, ch bus.SubscriptionChange) {
	// Not cut short by a client that hangs up: the change is stored.
	if err := bus.PublishSubscriptionChange(context.WithoutCancel(ctx), a.cfg.NATS, ch); err != nil {
		a.m.publish.WithLabelValues(ch.Op, "error").Inc()
		a.cfg.Logger.Error("publish subscription change", "op", ch.Op, "subscription_id", ch.SubscriptionID, "version", ch.Version, "err", err)
		return
	}
	a.m.publish.WithLabelValues(ch.Op, "ok").Inc()
}

func parseLimit(c echo.Context) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, badRequest("invalid_limit", "limit %q: want an integer from 1 to %d", clip(s), MaxLimit)
	}
	return n, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}
