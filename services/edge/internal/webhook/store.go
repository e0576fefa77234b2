package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// Collections of the webhook deliverer.
const (
	// DeliveriesCollection holds one [Delivery] per event and
	// subscription with a webhook.
	DeliveriesCollection = "webhook_deliveries"
	// LanesCollection holds one lease per subscription with deliveries:
	// the edge holding it is the only one delivering that subscription.
	LanesCollection = "webhook_lanes"
)

// Statuses of a [Delivery].
const (
	// StatusPending waits for its next attempt, due at NextAttemptAt.
	StatusPending = "pending"
	// StatusSucceeded got a 2xx.
	StatusSucceeded = "succeeded"
	// StatusFailed stopped without exhausting its retries: the receiver
	// answered 410 Gone, the webhook was removed or disabled, or the
	// target is refused by the server's security policy.
	StatusFailed = "failed"
	// StatusDead exhausted its retries: the dead letter.
	StatusDead = "dead"
)

// Statuses lists every status, for validating a filter.
var statuses = []string{StatusPending, StatusSucceeded, StatusFailed, StatusDead}

// Delivery is one event to POST to one subscription's webhook, with the
// record of every attempt.
type Delivery struct {
	ID             string `bson:"_id"`
	SubscriptionID string `bson:"subscription_id"`
	EventID        string `bson:"event_id"`
	Cursor         string `bson:"cursor"`
	Removed        bool   `bson:"removed"`
	Status         string `bson:"status"`
	// Attempts counts every attempt ever made.
	Attempts int `bson:"attempts"`
	// RoundAttempts counts attempts since creation or the last manual
	// retry or replay: the position in the retry schedule.
	RoundAttempts int       `bson:"round_attempts"`
	NextAttemptAt time.Time `bson:"next_attempt_at"`
	Last          *Attempt  `bson:"last,omitempty"`
	Log           []Attempt `bson:"attempts_log"`
	CreatedAt     time.Time `bson:"created_at"`
	UpdatedAt     time.Time `bson:"updated_at"`
	// Body is the event JSON exactly as published and stored.
	Body []byte `bson:"body"`
}

// Attempt is the record of one POST.
type Attempt struct {
	At         time.Time `bson:"at" json:"at"`
	Attempt    int       `bson:"attempt" json:"attempt"`
	StatusCode int       `bson:"status_code" json:"status_code"`
	LatencyMS  int64     `bson:"latency_ms" json:"latency_ms"`
	Error      string    `bson:"error,omitempty" json:"error,omitempty"`
	Edge       string    `bson:"edge" json:"-"`
}

// View is a delivery as the REST API shows it: no body, and a next attempt
// time only while one is due.
type View struct {
	ID             string     `json:"id"`
	SubscriptionID string     `json:"subscription_id"`
	EventID        string     `json:"event_id"`
	Cursor         string     `json:"cursor"`
	Removed        bool       `json:"removed"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	Last           *Attempt   `json:"last"`
	AttemptsLog    []Attempt  `json:"attempts_log"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

func (d *Delivery) view() View {
	v := View{
		ID: d.ID, SubscriptionID: d.SubscriptionID, EventID: d.EventID, Cursor: d.Cursor, Removed: d.Removed,
		Status: d.Status, Attempts: d.Attempts, Last: d.Last, AttemptsLog: d.Log,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
	if v.AttemptsLog == nil {
		v.AttemptsLog = []Attempt{}
	}
	if d.Status == StatusPending {
		t := d.NextAttemptAt
		v.NextAttemptAt = &t
	}
	return v
}

// DeliveryID returns the id of the delivery of the event at cursor to a
// subscription. It is deterministic, so a redelivered JetStream message or
// a replay finds the delivery it already made, and ids of one subscription
// sort in cursor order.
func DeliveryID(subscriptionID, cursor string) string {
	return "dlv_" + strings.TrimPrefix(subscriptionID, subscription.IDPrefix) + "_" + cursor
}

// lane is a subscription's delivery lease.
type lane struct {
	ID         string    `bson:"_id"`
	Owner      string    `bson:"owner"`
	LeaseUntil time.Time `bson:"lease_until"`
}

// mongoStore is the deliverer's MongoDB access.
type mongoStore struct {
	db *mongo.Database
}

func (s mongoStore) deliveries() *mongo.Collection { return s.db.Collection(DeliveriesCollection) }
func (s mongoStore) lanes() *mongo.Collection      { return s.db.Collection(LanesCollection) }

func (s mongoStore) ensureIndexes(ctx context.Context) error {
	idx := []mongo.IndexModel{
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "next_attempt_at", Value: 1}}, Options: options.Index().SetName("status_next")},
		{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "status", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("sub_status_id")},
	}
	for _, m := range idx {
		if _, err := s.deliveries().Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("webhook: index on %s: %w", DeliveriesCollection, err)
		}
	}
	return nil
}

// insertNew stores new deliveries; those already stored (a redelivered
// message) are left as they are.
func (s mongoStore) insertNew(ctx context.Context, docs []any) error {
	if len(docs) == 0 {
		return nil
	}
	_, err := s.deliveries().InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicates(err) {
		return fmt.Errorf("webhook: store deliveries: %w", err)
	}
	return nil
}

func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return mongo.IsDuplicateKeyError(err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}

// dueSubscriptions returns the subscriptions with a pending delivery due.
func (s mongoStore) dueSubscriptions(ctx context.Context, now time.Time) ([]string, error) {
	res := s.deliveries().Distinct(ctx, "subscription_id", bson.M{"status": StatusPending, "next_attempt_at": bson.M{"$lte": now}})
	var ids []string
	if err := res.Decode(&ids); err != nil {
		return nil, fmt.Errorf("webhook: due subscriptions: %w", err)
	}
	return ids, nil
}

// pending returns a subscription's first pending deliveries in cursor
// order.
func (s mongoStore) pending(ctx context.Context, subID string, limit int) ([]Delivery, error) {
	cur, err := s.deliveries().Find(ctx, bson.M{"subscription_id": subID, "status": StatusPending},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)).SetProjection(bson.M{"attempts_log": 0}))
	if err != nil {
		return nil, fmt.Errorf("webhook: pending deliveries: %w", err)
	}
	var out []Delivery
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("webhook: pending deliveries: %w", err)
	}
	return out, nil
}

// acquireLane takes a subscription's lane for owner until until, when it
// is free, expired or already owner's. When another edge holds it, it
// returns false and when that lease ends.
func (s mongoStore) acquireLane(ctx context.Context, subID, owner string, now, until time.Time) (bool, time.Time, error) {
	filter := bson.M{"_id": subID, "$or": bson.A{bson.M{"lease_until": bson.M{"$lte": now}}, bson.M{"owner": owner}}}
	_, err := s.lanes().UpdateOne(ctx, filter, bson.M{"$set": bson.M{"owner": owner, "lease_until": until}}, options.UpdateOne().SetUpsert(true))
	if err == nil {
		return true, time.Time{}, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return false, time.Time{}, fmt.Errorf("webhook: acquire lane: %w", err)
	}
	var l lane
	if err := s.lanes().FindOne(ctx, bson.M{"_id": subID}).Decode(&l); err != nil {
		return false, time.Time{}, fmt.Errorf("webhook: read lane: %w", err)
	}
	return false, l.LeaseUntil, nil
}

// renewLane extends owner's lease; false means it was lost.
func (s mongoStore) renewLane(ctx context.Context, subID, owner string, until time.Time) (bool, error) {
	res, err := s.lanes().UpdateOne(ctx, bson.M{"_id": subID, "owner": owner}, bson.M{"$set": bson.M{"lease_until": until}})
	if err != nil {
		return false, fmt.Errorf("webhook: renew lane: %w", err)
	}
	return res.MatchedCount == 1, nil
}

// releaseLane gives the lane up; no edge takes it before at, which parks a
// subscription whose first delivery waits for a retry.
func (s mongoStore) releaseLane(ctx context.Context, subID, owner string, at time.Time) error {
	_, err := s.lanes().UpdateOne(ctx, bson.M{"_id": subID, "owner": owner}, bson.M{"$set": bson.M{"owner": "", "lease_until": at}})
	if err != nil {
		return fmt.Errorf("webhook: release lane: %w", err)
	}
	return nil
}

// wakeLane ends a parked lane's wait, for a manual retry or a replay; a
// lane some edge is working on sees the new work by itself.
func (s mongoStore) wakeLane(ctx context.Context, subID string, now time.Time) error {
	_, err := s.lanes().UpdateOne(ctx, bson.M{"_id": subID, "owner": ""}, bson.M{"$set": bson.M{"lease_until": now}})
	if err != nil {
		return fmt.Errorf("webhook: wake lane: %w", err)
	}
	return nil
}

// updateByID returns a bulk write model updating the one document with
// the given _id.
//
// It is an update with multi set, not an updateOne, on purpose: FerretDB
// (1.24, SQLite) keeps each single-document statement's query open, and
// with it one SQLite connection of its pool of 100, until the whole
// command ends, and needs a second one to write. A bulk write of a few
// dozen updateOne statements, or a few of them at once, so exhausts the
// pool and deadlocks the server: every write in the database then hangs,
// which is the stall seen under load. A multi update reads its query to
// the end, which frees the connection; on a unique _id it changes the
// same one document.
func updateByID(id string) *mongo.UpdateManyModel {
	return mongo.NewUpdateManyModel().SetFilter(bson.M{"_id": id})
}

// record writes the outcomes of attempts, in order.
func (s mongoStore) record(ctx context.Context, models []mongo.WriteModel) error {
	if len(models) == 0 {
		return nil
	}
	if _, err := s.deliveries().BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true)); err != nil {
		return fmt.Errorf("webhook: record attempts: %w", err)
	}
	return nil
}

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

func (s mongoStore) list(ctx context.Context, subID string, q ListQuery) ([]View, string, error) {
	filter := bson.M{"subscription_id": subID}
	if q.Status != "" {
		ok := false
		for _, st := range statuses {
			ok = ok || st == q.Status
		}
		if !ok {
			return nil, "", fmt.Errorf("%w: %q; want one of %s", ErrInvalidStatus, q.Status, strings.Join(statuses, ", "))
		}
		filter["status"] = q.Status
	}
	if q.After != "" {
		filter["_id"] = bson.M{"$gt": q.After}
	}
	cur, err := s.deliveries().Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetLimit(int64(q.Limit)+1).SetProjection(bson.M{"body": 0}))
	if err != nil {
		return nil, "", fmt.Errorf("webhook: list deliveries: %w", err)
	}
	var docs []Delivery
	if err := cur.All(ctx, &docs); err != nil {
		return nil, "", fmt.Errorf("webhook: list deliveries: %w", err)
	}
	next := ""
	if len(docs) > q.Limit {
		docs = docs[:q.Limit]
		next = docs[q.Limit-1].ID
	}
	out := make([]View, len(docs))
	for i := range docs {
		out[i] = docs[i].view()
	}
	return out, next, nil
}

// resend makes a delivery due now with a fresh retry schedule.
func (s mongoStore) resend(ctx context.Context, subID, id string, now time.Time) (*View, error) {
	var d Delivery
	err := s.deliveries().FindOneAndUpdate(ctx, bson.M{"_id": id, "subscription_id": subID},
		bson.M{"$set": bson.M{"status": StatusPending, "next_attempt_at": now, "round_attempts": 0, "updated_at": now}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: retry delivery: %w", err)
	}
	v := d.view()
	return &v, nil
}

// replay makes the events of a subscription after a cursor due again, at
// most limit of them, creating the deliveries that do not exist (events
// from before the webhook, or skipped while it was disabled). It returns
// how many and the cursor of the last.
func (s mongoStore) replay(ctx context.Context, subID, after string, limit int, now time.Time) (int, string, error) {
	cur, err := s.db.Collection(store.Events).Find(ctx,
		bson.M{"subscription_id": subID, "cursor": bson.M{"$gt": after}},
		options.Find().SetSort(bson.D{{Key: "cursor", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return 0, "", fmt.Errorf("webhook: replay: %w", err)
	}
	var evs []store.EventDoc
	if err := cur.All(ctx, &evs); err != nil {
		return 0, "", fmt.Errorf("webhook: replay: %w", err)
	}
	if len(evs) == 0 {
		return 0, "", nil
	}
	models := make([]mongo.WriteModel, len(evs))
	for i, e := range evs {
		models[i] = updateByID(DeliveryID(subID, e.Cursor)).SetUpsert(true).SetUpdate(bson.M{
			"$set": bson.M{"status": StatusPending, "next_attempt_at": now, "round_attempts": 0, "updated_at": now},
			"$setOnInsert": bson.M{
				"subscription_id": subID, "event_id": e.EventID, "cursor": e.Cursor, "removed": e.Removed,
				"attempts": 0, "attempts_log": bson.A{}, "created_at": now, "body": e.JSON,
			},
		})
	}
	if _, err := s.deliveries().BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return 0, "", fmt.Errorf("webhook: replay: %w", err)
	}
	return len(evs), evs[len(evs)-1].Cursor, nil
}

// countPending counts the deliveries waiting, for the queue depth gauge.
func (s mongoStore) countPending(ctx context.Context) (int64, error) {
	n, err := s.deliveries().CountDocuments(ctx, bson.M{"status": StatusPending})
	if err != nil {
		return 0, fmt.Errorf("webhook: count pending: %w", err)
	}
	return n, nil
}
