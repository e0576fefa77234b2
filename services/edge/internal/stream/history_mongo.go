package stream

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
)

// mongoHistory is a [History] over the store.Events collection, served by
// its (subscription_id, cursor) index.
type mongoHistory struct {
	coll *mongo.Collection
}

func newMongoHistory(db *mongo.Database) mongoHistory {
	return mongoHistory{coll: db.Collection(store.Events)}
}

func (m mongoHistory) Scan(ctx context.Context, subscriptionID, after string, batch int, fn func([]Record) error) error {
	filter := bson.D{{Key: "subscription_id", Value: subscriptionID}}
	if after != "" {
		filter = append(filter, bson.E{Key: "cursor", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "cursor", Value: 1}}).
		SetBatchSize(int32(batch)).
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "cursor", Value: 1}, {Key: "json", Value: 1}})
	cur, err := m.coll.Find(ctx, filter, opts)
	if err != nil {
		return fmt.Errorf("stream: replay %s after %q: %w", subscriptionID, after, err)
	}
	// A cursor read to its end is closed already; one left early that
	// fails to close is reaped by the server, so there is nothing to do.
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	recs := make([]Record, 0, batch)
	for cur.Next(ctx) {
		var r Record
		if err := cur.Decode(&r); err != nil {
			return fmt.Errorf("stream: replay %s: %w", subscriptionID, err)
		}
		recs = append(recs, r)
		// Hand over what the driver already holds, so a long replay
		// streams instead of piling up.
		if len(recs) == batch || cur.RemainingBatchLength() == 0 {
			if err := fn(recs); err != nil {
				return err
			}
			recs = make([]Record, 0, batch)
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("stream: replay %s after %q: %w", subscriptionID, after, err)
	}
	if len(recs) > 0 {
		return fn(recs)
	}
	return nil
}

func (m mongoHistory) Retained(ctx context.Context, subscriptionID, after string) (bool, error) {
	filter := bson.D{
		{Key: "subscription_id", Value: subscriptionID},
		{Key: "cursor", Value: bson.D{{Key: "$lte", Value: after}}},
	}
	opts := options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})
	err := m.coll.FindOne(ctx, filter, opts).Err()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("stream: retention check %s: %w", subscriptionID, err)
	}
	return true, nil
}

func (m mongoHistory) Newest(ctx context.Context, subscriptionID, _ string) (string, error) {
	opts := options.FindOne().
		SetSort(bson.D{{Key: "cursor", Value: -1}}).
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "cursor", Value: 1}})
	var r Record
	err := m.coll.FindOne(ctx, bson.D{{Key: "subscription_id", Value: subscriptionID}}, opts).Decode(&r)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("stream: newest event of %s: %w", subscriptionID, err)
	}
	return r.Cursor, nil
}
