package api

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/subscription"
)

// Reads and conditional writes of one subscription document.
//
// Reads name the document by _id alone and check the rest (tenant,
// tombstone) here: MongoDB serves that from the _id index, and it is the
// one filter FerretDB (the tests' and the dev stack's store) hands to
// SQLite, which reads the table up to the match. A filter with anything
// more makes FerretDB decode every subscription stored to test it, about
// ten times the cost (BenchmarkSubscriptionWrites100k).
//
// Writes are conditional: on the caller's tenant, on the subscription
// being alive and, for a PATCH, on the version it read. MongoDB applies
// the condition atomically with the write, in the filter. FerretDB applies
// any update as a read then a write, with no atomicity between them, so
// there the condition is checked the same way but on a read by _id, and
// the write names the document by _id alone. A write right after a read
// that found the subscription alive (an address count) is checked on the
// document it returns instead, which saves FerretDB a read of the table.

// writeCond is what a write requires of the stored subscription.
type writeCond struct {
	// tenant must own it, and it must not be a tombstone.
	tenant string
	// version, when not zero, is the version it must still have.
	version int64
	// known says the caller has just read the subscription as the
	// tenant's and alive, and a tenant never changes: on FerretDB the
	// write is checked on the document it returns. One that finds a
	// tombstone, deleted meanwhile, only moves the tombstone's version
	// further up.
	known bool
}

// filter is the condition as a filter on subscription id.
func (c writeCond) filter(id string) bson.M {
	f := alive(c.tenant, id)
	if c.version != 0 {
		f["version"] = c.version
	}
	return f
}

// holds reports whether s meets the condition.
func (c writeCond) holds(s *subscription.Subscription) bool {
	return s.Tenant == c.tenant && s.Status != subscription.StatusDeleted && (c.version == 0 || s.Version == c.version)
}

// readSubscription returns subscription id, whatever its tenant or status,
// or mongo.ErrNoDocuments.
func (a *API) readSubscription(ctx context.Context, id string) (*subscription.Subscription, error) {
	var s subscription.Subscription
	if err := a.subs().FindOne(ctx, bson.M{"_id": id}).Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// updateIf applies update to subscription id if c holds, and returns the
// document as the update left it; mongo.ErrNoDocuments when c does not
// hold or there is no such subscription.
func (a *API) updateIf(ctx context.Context, id string, c writeCond, update bson.M) (*subscription.Subscription, error) {
	ferret, err := a.onFerretDB(ctx)
	if err != nil {
		return nil, err
	}
	filter := c.filter(id)
	if ferret {
		filter = bson.M{"_id": id}
		if c.version != 0 || !c.known {
			cur, err := a.readSubscription(ctx, id)
			if err != nil {
				return nil, err
			}
			if !c.holds(cur) {
				return nil, mongo.ErrNoDocuments
			}
		}
	}
	var s subscription.Subscription
	err = a.subs().FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&s)
	if err != nil {
		return nil, err
	}
	if ferret && c.known && c.version == 0 && !c.holds(&s) {
		return nil, mongo.ErrNoDocuments
	}
	return &s, nil
}

// onFerretDB reports whether the store is FerretDB, the one store whose
// history pages are split into partitions; the answer is cached.
func (a *API) onFerretDB(ctx context.Context) (bool, error) {
	n, err := a.pages.Partitions(ctx)
	if err != nil {
		return false, fmt.Errorf("api: %w", err)
	}
	return n > 1, nil
}
