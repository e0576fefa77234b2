package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/lease"
	"github.com/mongotron/mongotron/pkg/store"
)

// laneFields are the field names of the tenures in LanesCollection
// (package lease), those edges wrote before package lease existed, so
// that edges of both versions see each other's tenures during a rolling
// upgrade.
func laneFields() lease.Fields {
	return lease.Fields{Name: "subscription_id", Holder: "owner", Token: "epoch", Expires: "lease_until"}
}

// newLanes returns the lanes: a lease per subscription, held by the edge
// delivering its webhook, named after the subscription.
func newLanes(db *mongo.Database, now func() time.Time) (*lease.Store, error) {
	return lease.New(lease.Config{Collection: db.Collection(LanesCollection), Fields: laneFields(), Now: now})
}

// mongoStore is the deliverer's MongoDB access.
type mongoStore struct {
	db *mongo.Database
	// lanes are read to know whether a subscription ever had one
	// (storedTail).
	lanes *lease.Store
	// pages are the subscriptions' history, read for the events a gap
	// or a replay needs. Nil means db's, found out at each read.
	pages *store.Pages
}

func (s mongoStore) queue() *mongo.Collection { return s.db.Collection(QueueCollection) }

func (s mongoStore) records() *mongo.Collection { return s.db.Collection(DeliveriesCollection) }

// historyPages returns s.pages, or db's when it is nil.
func (s mongoStore) historyPages() *store.Pages {
	if s.pages == nil {
		return store.NewPages(s.db)
	}
	return s.pages
}

// ensureIndexes creates the indexes, and the TTL index on finished
// deliveries where the server accepts it; ttl reports whether it did (if
// not, [mongoStore.sweep] is the only retention).
func (s mongoStore) ensureIndexes(ctx context.Context, retention time.Duration) (ttl bool, err error) {
	idx := []struct {
		c *mongo.Collection
		m mongo.IndexModel
	}{
		{s.queue(), mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("sub_id")}},
		// dueSubscriptions reads this index alone (see there).
		{s.queue(), mongo.IndexModel{Keys: bson.D{{Key: "next_attempt_at", Value: 1}, {Key: "subscription_id", Value: 1}}, Options: options.Index().SetName("due_sub")}},
		{s.records(), mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "status", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("sub_status_id")}},
		{s.db.Collection(LanesCollection), mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "epoch", Value: 1}}, Options: options.Index().SetName("sub_epoch")}},
	}
	for _, x := range idx {
		if _, err := x.c.Indexes().CreateOne(ctx, x.m); err != nil {
			return false, fmt.Errorf("webhook: index on %s: %w", x.c.Name(), err)
		}
	}
	// Every index of the record costs each insert, the one statement
	// per delivery: a subscription's deliveries in id order are an _id
	// range (see idRange), so the (subscription_id, _id) index earlier
	// versions made is dropped.
	if err := s.records().Indexes().DropOne(ctx, "sub_id"); err != nil && !indexMissing(err) {
		return false, fmt.Errorf("webhook: drop index sub_id on %s: %w", DeliveriesCollection, err)
	}
	// due_sub, a prefix of which it is, replaces the queue's index on
	// next_attempt_at alone: an index more would cost every queue write.
	if err := s.queue().Indexes().DropOne(ctx, "next_attempt_at"); err != nil && !indexMissing(err) {
		return false, fmt.Errorf("webhook: drop index next_attempt_at on %s: %w", QueueCollection, err)
	}
	_, err = s.records().Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "updated_at", Value: 1}},
		Options: options.Index().SetName("updated_at_ttl").SetExpireAfterSeconds(int32(retention / time.Second)),
	})
	if err != nil {
		if store.IsNotSupported(err) {
			return false, nil
		}
		return false, fmt.Errorf("webhook: TTL index on %s: %w", DeliveriesCollection, err)
	}
	return true, nil
}

// indexMissing reports whether err says the index or its collection does
// not exist (IndexNotFound, NamespaceNotFound).
func indexMissing(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && (ce.Code == 27 || ce.Code == 26)
}

// sweep deletes the finished deliveries last changed before the retention
// and returns how many. A pending delivery is never swept.
func (s mongoStore) sweep(ctx context.Context, retention time.Duration, now time.Time) (int64, error) {
	res, err := s.records().DeleteMany(ctx, bson.M{"updated_at": bson.M{"$lt": now.Add(-retention)}})
	if err != nil {
		return 0, fmt.Errorf("webhook: retention sweep: %w", err)
	}
	return res.DeletedCount, nil
}

// dueSubscriptions returns the subscriptions with a pending delivery due.
// Every edge asks each poll interval, and after a receiver's outage most
// of a long backlog is due: the (next_attempt_at, subscription_id) index
// holds both fields the query reads, so MongoDB answers from the index
// without fetching a single delivery (and its event body).
func (s mongoStore) dueSubscriptions(ctx context.Context, now time.Time) ([]string, error) {
	res := s.queue().Distinct(ctx, "subscription_id", bson.M{"next_attempt_at": bson.M{"$lte": now}})
	var ids []string
	if err := res.Decode(&ids); err != nil {
		return nil, fmt.Errorf("webhook: due subscriptions: %w", err)
	}
	return ids, nil
}

// pending returns the first limit pending deliveries of each of subs, in
// cursor order. On MongoDB each subscription's are read from the
// (subscription_id, _id) index, limit at a time, so a read costs the same
// whatever the backlog behind it (a receiver down for an hour leaves
// hundreds of thousands queued, and reading them all for every batch of
// 1,024 made draining them quadratic). On FerretDB every query of the
// queue reads all of it, so one query serves every lane waiting.
func (s mongoStore) pending(ctx context.Context, subs []string, limit int) (map[string][]Delivery, error) {
	parts, err := s.historyPages().Partitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("webhook: pending deliveries: %w", err)
	}
	if parts > 1 {
		return s.pendingAll(ctx, subs, limit)
	}
	return s.pendingEach(ctx, subs, limit)
}

// pendingEach is [mongoStore.pending] with a query per subscription, each
// served by the (subscription_id, _id) index.
func (s mongoStore) pendingEach(ctx context.Context, subs []string, limit int) (map[string][]Delivery, error) {
	out := make(map[string][]Delivery, len(subs))
	for _, sub := range subs {
		// Delivery ids sort in cursor order within a subscription. One
		// reply holds them all.
		cur, err := s.queue().Find(ctx, bson.M{"subscription_id": sub}, options.Find().
			SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)).SetBatchSize(int32(limit)))
		if err != nil {
			return nil, fmt.Errorf("webhook: pending deliveries of %s: %w", sub, err)
		}
		var docs []Delivery
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("webhook: pending deliveries of %s: %w", sub, err)
		}
		if len(docs) > 0 {
			out[sub] = docs
		}
	}
	return out, nil
}

// pendingAll is [mongoStore.pending] in one query for every subscription.
func (s mongoStore) pendingAll(ctx context.Context, subs []string, limit int) (map[string][]Delivery, error) {
	cur, err := s.queue().Find(ctx, bson.M{"subscription_id": bson.M{"$in": subs}})
	if err != nil {
		return nil, fmt.Errorf("webhook: pending deliveries: %w", err)
	}
	var docs []Delivery
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("webhook: pending deliveries: %w", err)
	}
	// Delivery ids sort in cursor order within a subscription.
	slices.SortFunc(docs, func(a, b Delivery) int { return strings.Compare(a.ID, b.ID) })
	out := make(map[string][]Delivery, len(subs))
	for _, d := range docs {
		if len(out[d.SubscriptionID]) < limit {
			out[d.SubscriptionID] = append(out[d.SubscriptionID], d)
		}
	}
	return out, nil
}

// recorded returns which of the deliveries ids are recorded (finished).
func (s mongoStore) recorded(ctx context.Context, ids []string) (map[string]bool, error) {
	var docs []struct {
		ID string `bson:"_id"`
	}
	cur, err := s.records().Find(ctx, bson.M{"_id": bson.M{"$in": ids}}, options.Find().SetProjection(bson.M{"_id": 1}))
	if err == nil {
		err = cur.All(ctx, &docs)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: read deliveries: %w", err)
	}
	out := make(map[string]bool, len(docs))
	for _, d := range docs {
		out[d.ID] = true
	}
	return out, nil
}

// storedTail returns where a subscription's chain stands in what is
// stored, for the event at cursor c linked to prev: the cursor of the
// subscription's last delivery, queued or recorded, or "" when it has
// none (see Deliverer.link). Most of the time c or prev has a delivery,
// found by _id; then that is the tail. Otherwise the last delivery is
// looked for by _id range. The record is read only if the subscription
// ever had a lane (a record is only made by a lane, and a lane's last
// tenure is never deleted): on FerretDB, whose writers hold up its
// readers, reading it costs up to a tenth of a second under load, where
// the queue and the lanes are small.
func (s mongoStore) storedTail(ctx context.Context, subID, c, prev string) (string, error) {
	colls := []*mongo.Collection{s.queue()}
	switch l, err := s.lanes.Latest(ctx, subID); {
	case err != nil:
		return "", err
	case l != nil:
		colls = append(colls, s.records())
	}
	for _, cur := range []string{c, prev} {
		if cur == "" {
			continue
		}
		for _, coll := range colls {
			err := coll.FindOne(ctx, bson.M{"_id": DeliveryID(subID, cur)}, options.FindOne().SetProjection(bson.M{"_id": 1})).Err()
			if err == nil {
				return cur, nil
			}
			if !errors.Is(err, mongo.ErrNoDocuments) {
				return "", fmt.Errorf("webhook: deliveries of %s: %w", subID, err)
			}
		}
	}
	lo, hi := idRange(subID)
	last := ""
	for _, coll := range colls {
		var d struct {
			Cursor string `bson:"cursor"`
		}
		err := coll.FindOne(ctx, bson.M{"_id": bson.M{"$gt": lo, "$lt": hi}},
			options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}}).SetProjection(bson.M{"cursor": 1})).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("webhook: last delivery of %s: %w", subID, err)
		}
		last = max(last, d.Cursor)
	}
	return last, nil
}

// events returns up to limit stored events of a subscription with a
// cursor strictly between after and before, in cursor order: the events
// a broken link says are missing, stored before they were published. It
// reads the history pages, by _id alone.
func (s mongoStore) events(ctx context.Context, subID, after, before string, limit int) ([]store.EventDoc, error) {
	evs, err := s.history(ctx, subID, after, limit, func(c string) bool { return c < before })
	if err != nil {
		return nil, fmt.Errorf("webhook: read events of %s: %w", subID, err)
	}
	return evs, nil
}

// history returns up to limit stored events of a subscription after
// after, in cursor order, as long as keep says so of their cursors.
func (s mongoStore) history(ctx context.Context, subID, after string, limit int, keep func(string) bool) ([]store.EventDoc, error) {
	p := s.historyPages()
	var out []store.EventDoc
	err := p.Scan(ctx, subID, after, func(es []store.PageEntry) (bool, error) {
		for _, e := range es {
			if len(out) == limit || !keep(e.Cursor) {
				return false, nil
			}
			f, err := e.Fields()
			if err != nil {
				return false, err
			}
			out = append(out, store.EventDoc{
				ID: store.EventDocID(subID, e.Cursor), SubscriptionID: subID, Cursor: e.Cursor,
				EventID: f.EventID, Removed: f.Removed, CreatedAt: e.CreatedAt, JSON: e.JSON,
			})
		}
		return true, nil
	})
	return out, err
}

// countPending counts the deliveries waiting, for the queue depth gauge.
// The collection's document count, from its metadata on MongoDB: a
// counting query would read the whole queue at every tick of the gauge.
func (s mongoStore) countPending(ctx context.Context) (int64, error) {
	n, err := s.queue().EstimatedDocumentCount(ctx)
	if err != nil {
		return 0, fmt.Errorf("webhook: count pending: %w", err)
	}
	return n, nil
}
