package backfill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Collection holds one state document per running backfill, keyed by
// subscription id. It is the ingest's own: the edge shows progress from
// the subscription's backfill field instead.
const Collection = "backfills"

// state is where a backfill stands: the next block to replay and the next
// cursor position, both moved only once the blocks before them are stored
// and published.
type state struct {
	ID string `bson:"_id"`
	// Step is the reserved cursor step of every event of this backfill.
	Step int64 `bson:"step"`
	From int64 `bson:"from"`
	Next int64 `bson:"next"`
	Pos  int64 `bson:"pos"`
	// Version is the subscription version the backfill matched with,
	// for the logs: a filter change applies from the next chunk on.
	Version   int64     `bson:"version"`
	UpdatedAt time.Time `bson:"updated_at"`
}

func loadState(ctx context.Context, db *mongo.Database, id string) (state, bool, error) {
	var st state
	err := db.Collection(Collection).FindOne(ctx, bson.M{"_id": id}).Decode(&st)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, fmt.Errorf("backfill: load state of %s: %w", id, err)
	}
	return st, true, nil
}

// createState inserts st unless a state exists already, and returns the
// one that holds: a concurrent or earlier start wins.
func createState(ctx context.Context, db *mongo.Database, st state) (state, error) {
	st.UpdatedAt = time.Now().UTC()
	_, err := db.Collection(Collection).InsertOne(ctx, st)
	if err == nil {
		return st, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return state{}, fmt.Errorf("backfill: create state of %s: %w", st.ID, err)
	}
	got, ok, err := loadState(ctx, db, st.ID)
	if err != nil {
		return state{}, err
	}
	if !ok {
		return state{}, fmt.Errorf("backfill: state of %s vanished", st.ID)
	}
	return got, nil
}

func saveState(ctx context.Context, db *mongo.Database, st state) error {
	_, err := db.Collection(Collection).UpdateOne(ctx, bson.M{"_id": st.ID}, bson.M{"$set": bson.M{
		"next": st.Next, "pos": st.Pos, "version": st.Version, "updated_at": time.Now().UTC(),
	}})
	if err != nil {
		return fmt.Errorf("backfill: save state of %s: %w", st.ID, err)
	}
	return nil
}

func deleteState(ctx context.Context, db *mongo.Database, id string) error {
	if _, err := db.Collection(Collection).DeleteOne(ctx, bson.M{"_id": id}); err != nil {
		return fmt.Errorf("backfill: delete state of %s: %w", id, err)
	}
	return nil
}

// loadSub returns the subscription, nil when it is gone.
func loadSub(ctx context.Context, db *mongo.Database, id string) (*subscription.Subscription, error) {
	var s subscription.Subscription
	err := db.Collection(store.Subscriptions).FindOne(ctx, bson.M{"_id": id}).Decode(&s)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backfill: load %s: %w", id, err)
	}
	return &s, nil
}

func loadAddresses(ctx context.Context, db *mongo.Database, id string) ([]tron.Address, error) {
	cur, err := db.Collection(store.SubscriptionAddresses).Find(ctx, bson.M{"subscription_id": id},
		options.Find().SetProjection(bson.M{"address": 1}))
	if err != nil {
		return nil, fmt.Errorf("backfill: addresses of %s: %w", id, err)
	}
	defer func() { _ = cur.Close(ctx) }()
	var out []tron.Address
	for cur.Next(ctx) {
		var d struct {
			Address string `bson:"address"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("backfill: addresses of %s: %w", id, err)
		}
		if a, err := tron.ParseAddress(d.Address); err == nil {
			out = append(out, a)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("backfill: addresses of %s: %w", id, err)
	}
	return out, nil
}

// insertEvents writes docs unordered; a duplicate is success (see
// store.InsertEvents).
func insertEvents(ctx context.Context, db *mongo.Database, docs []any) error {
	if err := store.InsertEvents(ctx, db, docs); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	return nil
}

// writePages writes docs to the subscription's history pages with fence
// (see store.Pages.Write).
func writePages(ctx context.Context, pages *store.Pages, docs []store.EventDoc, fence int64) error {
	if err := pages.Write(ctx, docs, fence); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	return nil
}

// setProgress records on the subscription the last block replayed. The
// version is left alone: progress is not a change a client's PATCH must
// conflict with, nor one the matchers must reload for.
func setProgress(ctx context.Context, db *mongo.Database, id string, to int64) error {
	_, err := db.Collection(store.Subscriptions).UpdateOne(ctx,
		bson.M{"_id": id, "status": subscription.StatusBackfilling},
		bson.M{"$set": bson.M{"backfill.to": to}})
	if err != nil {
		return fmt.Errorf("backfill: progress of %s: %w", id, err)
	}
	return nil
}

// activate marks the subscription active with its backfill done up to to,
// and returns its new version; ok is false when it is no longer
// backfilling (deleted meanwhile).
func activate(ctx context.Context, db *mongo.Database, id string, from, to int64) (version int64, ok bool, err error) {
	var s subscription.Subscription
	err = db.Collection(store.Subscriptions).FindOneAndUpdate(ctx,
		bson.M{"_id": id, "status": subscription.StatusBackfilling},
		bson.M{
			"$set": bson.M{"status": subscription.StatusActive, "backfill": subscription.Backfill{From: from, To: to, Done: true}, "updated_at": time.Now().UTC()},
			"$inc": bson.M{"version": 1},
		},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&s)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("backfill: activate %s: %w", id, err)
	}
	return s.Version, true, nil
}
