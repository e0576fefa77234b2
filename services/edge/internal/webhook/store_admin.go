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
)

// list returns a page of a subscription's deliveries, queued first where
// a delivery is found both queued and recorded.
func (s mongoStore) list(ctx context.Context, subID string, q ListQuery) (Page, error) {
	filter := bson.M{"subscription_id": subID}
	colls := []*mongo.Collection{s.queue(), s.records()}
	switch q.Status {
	case "":
	case StatusPending:
		colls = colls[:1]
	case StatusSucceeded, StatusFailed, StatusDead:
		colls = colls[1:]
		filter["status"] = q.Status
	default:
		return Page{}, fmt.Errorf("%w: %q; want one of %s", ErrInvalidStatus, q.Status, strings.Join(statuses, ", "))
	}
	if q.After != "" {
		filter["_id"] = bson.M{"$gt": q.After}
	}
	var docs []Delivery
	for _, c := range colls {
		filter := filter
		if c.Name() == DeliveriesCollection && q.Status == "" {
			// The record's one index leads with status; _id serves this.
			lo, hi := idRange(subID)
			filter = bson.M{"_id": bson.M{"$gt": max(lo, q.After), "$lt": hi}}
		}
		cur, err := c.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
			SetLimit(int64(q.Limit)+1).SetBatchSize(int32(q.Limit)+1).SetProjection(bson.M{"body": 0}))
		if err != nil {
			return Page{}, fmt.Errorf("webhook: list deliveries: %w", err)
		}
		var part []Delivery
		if err := cur.All(ctx, &part); err != nil {
			return Page{}, fmt.Errorf("webhook: list deliveries: %w", err)
		}
		docs = append(docs, part...)
	}
	// Queued first and the sort stable: of a delivery found in both (a
	// crash between recording and dequeuing) the queued copy, which will
	// be sent again, is shown.
	slices.SortStableFunc(docs, func(a, b Delivery) int { return strings.Compare(a.ID, b.ID) })
	docs = slices.CompactFunc(docs, func(a, b Delivery) bool { return a.ID == b.ID })
	var p Page
	if len(docs) > q.Limit {
		docs = docs[:q.Limit]
		p.Next = docs[q.Limit-1].ID
	}
	p.Deliveries = make([]View, len(docs))
	for i := range docs {
		p.Deliveries[i] = docs[i].view()
	}
	return p, nil
}

// due returns the fields making a delivery due now with a fresh retry
// schedule.
func due(now time.Time) bson.M {
	return bson.M{"status": StatusPending, "next_attempt_at": now, "round_attempts": 0, "updated_at": now}
}

// requeue makes finished deliveries pending again, due now with a fresh
// retry schedule and their record of attempts, and returns them. It
// queues before it removes the record, so a failure leaves the delivery
// in one place or the other, never in neither.
func (s mongoStore) requeue(ctx context.Context, docs []Delivery, now time.Time) error {
	if len(docs) == 0 {
		return nil
	}
	in := make([]any, len(docs))
	ids := make([]string, len(docs))
	for i := range docs {
		d := &docs[i]
		d.Status, d.NextAttemptAt, d.RoundAttempts, d.UpdatedAt = StatusPending, now, 0, now
		in[i], ids[i] = d, d.ID
	}
	if err := s.insertNew(ctx, in); err != nil {
		return err
	}
	if _, err := s.records().DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}}); err != nil {
		return fmt.Errorf("webhook: requeue: %w", err)
	}
	return nil
}

// resend makes a delivery due now with a fresh retry schedule.
func (s mongoStore) resend(ctx context.Context, subID, id string, now time.Time) (*View, error) {
	filter := bson.M{"_id": id, "subscription_id": subID}
	var d Delivery
	err := s.queue().FindOneAndUpdate(ctx, filter, bson.M{"$set": due(now)},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err == nil {
		v := d.view()
		return &v, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("webhook: retry delivery: %w", err)
	}
	err = s.records().FindOne(ctx, filter).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: retry delivery: %w", err)
	}
	docs := []Delivery{d}
	if err := s.requeue(ctx, docs, now); err != nil {
		return nil, err
	}
	v := docs[0].view()
	return &v, nil
}

// replay makes the events of a subscription after a cursor due again, at
// most limit of them, creating the deliveries that do not exist (events
// from before the webhook, or skipped while it was disabled). Its Next is
// the cursor of the last one.
func (s mongoStore) replay(ctx context.Context, subID, after string, limit int, now time.Time) (ReplayResult, error) {
	evs, err := s.history(ctx, subID, after, limit, func(string) bool { return true })
	if err != nil {
		return ReplayResult{}, fmt.Errorf("webhook: replay: %w", err)
	}
	if len(evs) == 0 {
		return ReplayResult{}, nil
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = DeliveryID(subID, e.Cursor)
	}
	byID := bson.M{"_id": bson.M{"$in": ids}}
	// Pending already: due now.
	res, err := s.queue().UpdateMany(ctx, byID, bson.M{"$set": due(now)})
	if err != nil {
		return ReplayResult{}, fmt.Errorf("webhook: replay: %w", err)
	}
	// Finished: back to the queue with their attempts.
	var done []Delivery
	if res.MatchedCount < int64(len(ids)) {
		cur, err := s.records().Find(ctx, byID)
		if err != nil {
			return ReplayResult{}, fmt.Errorf("webhook: replay: %w", err)
		}
		if err := cur.All(ctx, &done); err != nil {
			return ReplayResult{}, fmt.Errorf("webhook: replay: %w", err)
		}
		if err := s.requeue(ctx, done, now); err != nil {
			return ReplayResult{}, err
		}
	}
	// Never made: new. Inserting all of them leaves the existing ones
	// as they are.
	if res.MatchedCount+int64(len(done)) < int64(len(ids)) {
		docs := make([]any, len(evs))
		for i, e := range evs {
			docs[i] = &Delivery{
				ID: ids[i], SubscriptionID: subID, EventID: e.EventID, Cursor: e.Cursor, Removed: e.Removed,
				Status: StatusPending, NextAttemptAt: now, Log: []Attempt{}, CreatedAt: now, UpdatedAt: now, Body: e.JSON,
			}
		}
		if err := s.insertNew(ctx, docs); err != nil {
			return ReplayResult{}, err
		}
	}
	return ReplayResult{Replayed: len(evs), Next: evs[len(evs)-1].Cursor}, nil
}
