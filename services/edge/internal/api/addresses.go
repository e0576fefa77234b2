package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
)

type addressesBody struct {
	Addresses []string `json:"addresses"`
}

// addressesResult answers a bulk add or remove.
type addressesResult struct {
	SubscriptionID string `json:"subscription_id"`
	Added          *int   `json:"added,omitempty"`
	Removed        *int   `json:"removed,omitempty"`
	AddressCount   int64  `json:"address_count"`
}

// readAddresses decodes and validates a bulk body; nothing is written
// before it succeeds.
func (a *API) readAddresses(c echo.Context) ([]string, error) {
	var body addressesBody
	if err := a.decodeJSON(c, &body); err != nil {
		return nil, err
	}
	switch n := len(body.Addresses); {
	case n == 0:
		return nil, unprocessable("invalid_address", `addresses: give at least one address, as {"addresses": ["T…"]}`)
	case n > subscription.MaxAddressesPerCall:
		return nil, unprocessable(subscription.CodeTooManyAddresses, "addresses: %d in one call; at most %d", n, subscription.MaxAddressesPerCall)
	}
	addrs, err := subscription.NormaliseAddresses("addresses", body.Addresses)
	if err != nil {
		return nil, validationError(err)
	}
	return addrs, nil
}

// inSet selects the entries of subID's set whose address is in addrs,
// with the set first: MongoDB serves the two from the (subscription_id,
// address) index, and FerretDB, which tests every entry stored, then
// compares the address with the list only for the entries of this set (a
// list of _ids would be compared with every entry stored, one by one).
func inSet(subID string, addrs []string) bson.D {
	return bson.D{{Key: "subscription_id", Value: subID}, {Key: "address", Value: bson.M{"$in": addrs}}}
}

// existing returns which of addrs are in the set of subID.
func (a *API) existing(ctx context.Context, subID string, addrs []string) (map[string]bool, error) {
	cur, err := a.addrs().Find(ctx, inSet(subID, addrs), options.Find().SetProjection(bson.M{"address": 1}).
		SetBatchSize(int32(len(addrs))+1))
	if err != nil {
		return nil, fmt.Errorf("api: read address set: %w", err)
	}
	var docs []subscription.Address
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("api: read address set: %w", err)
	}
	have := make(map[string]bool, len(docs))
	for _, d := range docs {
		have[d.Address] = true
	}
	return have, nil
}

// insertAddresses adds entries, unordered, and returns those it inserted:
// an entry another request added meanwhile is a duplicate key, not an
// error.
func (a *API) insertAddresses(ctx context.Context, subID string, addrs []string, now time.Time) error {
	_, err := a.insertNew(ctx, subID, addrs, now)
	return err
}

func (a *API) insertNew(ctx context.Context, subID string, addrs []string, now time.Time) ([]string, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	docs := make([]any, len(addrs))
	for i, ad := range addrs {
		docs[i] = subscription.Address{ID: subscription.AddressDocID(subID, ad), SubscriptionID: subID, Address: ad, AddedAt: now}
	}
	_, err := a.addrs().InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return addrs, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return nil, fmt.Errorf("api: insert addresses: %w", err)
	}
	dup := make(map[int]bool, len(bwe.WriteErrors))
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we) {
			return nil, fmt.Errorf("api: insert addresses: %w", err)
		}
		dup[we.Index] = true
	}
	added := make([]string, 0, len(addrs)-len(dup))
	for i, ad := range addrs {
		if !dup[i] {
			added = append(added, ad)
		}
	}
	return added, nil
}

// addressRequest reads a bulk address body and finds the caller's
// subscription, and returns the body's addresses that are already in its
// set (present) or not yet (!present), in body order.
func (a *API) addressRequest(c echo.Context, present bool) (*subscription.Subscription, []string, error) {
	ctx := c.Request().Context()
	addrs, err := a.readAddresses(c)
	if err != nil {
		return nil, nil, err
	}
	s, err := a.findSubscription(ctx, principal(c).Tenant, c.Param("id"))
	if err != nil {
		return nil, nil, err
	}
	picked, err := a.pick(ctx, s.ID, addrs, present)
	return s, picked, err
}

// pick returns the addresses of addrs that are in the set of subID
// (present) or not (!present), in their order.
func (a *API) pick(ctx context.Context, subID string, addrs []string, present bool) ([]string, error) {
	have, err := a.existing(ctx, subID, addrs)
	if err != nil {
		return nil, err
	}
	picked := make([]string, 0, len(addrs))
	for _, ad := range addrs {
		if have[ad] == present {
			picked = append(picked, ad)
		}
	}
	return picked, nil
}

func (a *API) addAddresses(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	addrs, err := a.readAddresses(c)
	if err != nil {
		return err
	}
	s, err := a.findSubscription(ctx, p.Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	// Which addresses are new matters only to the limit: the insert
	// skips those present (duplicate keys) and reports the others. So
	// the set is read only when every address being new would pass the
	// limit.
	fresh := addrs
	if s.AddressCount+int64(len(addrs)) > subscription.MaxAddresses {
		if fresh, err = a.pick(ctx, s.ID, addrs, false); err != nil {
			return err
		}
	}
	if s.AddressCount+int64(len(fresh)) > subscription.MaxAddresses {
		return unprocessable(subscription.CodeTooManyAddresses, "the subscription has %d addresses; %d more would pass the limit of %d", s.AddressCount, len(fresh), subscription.MaxAddresses)
	}
	added, err := a.insertNew(ctx, s.ID, fresh, a.now())
	if err != nil {
		return err
	}
	n := len(added)
	if n == 0 {
		return c.JSON(http.StatusOK, addressesResult{SubscriptionID: s.ID, Added: &n, AddressCount: s.AddressCount})
	}
	updated, err := a.bumpAddresses(ctx, p.Tenant, s.ID, int64(n))
	if err != nil {
		return err
	}
	a.publish(ctx, bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: s.ID, Tenant: s.Tenant, Version: updated.Version, Added: added})
	return c.JSON(http.StatusOK, addressesResult{SubscriptionID: s.ID, Added: &n, AddressCount: updated.AddressCount})
}

func (a *API) removeAddresses(c echo.Context) error {
	ctx := c.Request().Context()
	s, gone, err := a.addressRequest(c, true)
	if err != nil {
		return err
	}
	// An address subscription left with no address would not match
	// nothing: it would widen to every event of its contracts or kinds
	// (or the whole chain). Nobody asks for that by removing addresses,
	// so it is refused whatever else the filter holds.
	if s.AddressCount > 0 && int64(len(gone)) >= s.AddressCount {
		code := subscription.CodeEmptyFilter
		if len(s.Contracts) > 0 || len(s.Kinds) > 0 || s.All {
			code = subscription.CodeLastAddress
		}
		return unprocessable(code, "removing every address would widen this subscription to every event its other filters allow; keep at least one address, or delete the subscription")
	}
	n := 0
	if len(gone) > 0 {
		res, err := a.addrs().DeleteMany(ctx, inSet(s.ID, gone))
		if err != nil {
			return fmt.Errorf("api: remove addresses: %w", err)
		}
		n = int(res.DeletedCount)
	}
	if n == 0 {
		return c.JSON(http.StatusOK, addressesResult{SubscriptionID: s.ID, Removed: &n, AddressCount: s.AddressCount})
	}
	updated, err := a.bumpAddresses(ctx, s.Tenant, s.ID, -int64(n))
	if err != nil {
		return err
	}
	a.publish(ctx, bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: s.ID, Tenant: s.Tenant, Version: updated.Version, Removed: gone})
	return c.JSON(http.StatusOK, addressesResult{SubscriptionID: s.ID, Removed: &n, AddressCount: updated.AddressCount})
}

// bumpAddresses records a change of the address set on the subscription
// document: its count and a new version for the control message. The
// caller has just found the subscription alive and the tenant's.
func (a *API) bumpAddresses(ctx context.Context, tenant, id string, delta int64) (*subscription.Subscription, error) {
	s, err := a.updateIf(ctx, id, writeCond{tenant: tenant, known: true},
		bson.M{"$inc": bson.M{"address_count": delta, "version": 1}, "$set": bson.M{"updated_at": a.now()}})
	if errors.Is(err, mongo.ErrNoDocuments) {
		// Deleted meanwhile: the entries just written are unreachable.
		return nil, errNotFound("subscription")
	}
	if err != nil {
		return nil, fmt.Errorf("api: update address count: %w", err)
	}
	return s, nil
}

func (a *API) listAddresses(c echo.Context) error {
	ctx := c.Request().Context()
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	s, err := a.findSubscription(ctx, principal(c).Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	filter := bson.M{"subscription_id": s.ID}
	if after := c.QueryParam("cursor"); after != "" {
		ad, err := tron.ParseBase58(after)
		if err != nil || ad.String() != after {
			return badRequest("invalid_cursor", "cursor %q is not one this API returned", clip(after))
		}
		filter["address"] = bson.M{"$gt": after}
	}
	cur, err := a.addrs().Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "address", Value: 1}}).SetLimit(int64(limit)+1).SetBatchSize(int32(limit)+1).
		SetProjection(bson.M{"address": 1}))
	if err != nil {
		return fmt.Errorf("api: list addresses: %w", err)
	}
	var docs []subscription.Address
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("api: list addresses: %w", err)
	}
	var next *string
	if len(docs) > limit {
		docs = docs[:limit]
		ad := docs[limit-1].Address
		next = &ad
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Address
	}
	return c.JSON(http.StatusOK, struct {
		Addresses []string `json:"addresses"`
		Next      *string  `json:"next"`
	}{out, next})
}
