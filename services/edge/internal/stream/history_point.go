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

// pointChecker is implemented by a [History] that can answer by primary
// key lookups: whether the event at a cursor is stored, and the
// subscription's head.
type pointChecker interface {
	stored(ctx context.Context, subscriptionID, cursor string) (bool, error)
	head(ctx context.Context, subscriptionID string) (cursor string, found bool, err error)
}

// stored reports whether the event of subscriptionID at cursor is stored:
// one lookup of its _id, which FerretDB serves from its primary key where
// the retention query ([mongoHistory.Retained]) reads the whole events
// collection. A client resumes with the cursor of the last event it got,
// so during a reconnect storm this answers nearly every resume.
func (m mongoHistory) stored(ctx context.Context, subscriptionID, cursor string) (bool, error) {
	err := m.coll.FindOne(ctx, bson.D{{Key: "_id", Value: store.EventDocID(subscriptionID, cursor)}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("stream: retention check %s: %w", subscriptionID, err)
	}
	return true, nil
}

// retainedByPoint answers [History.Retained] from the event at after when
// it is stored, and from fallback's query otherwise (a cursor of an event
// since expired, or one the client did not get from this subscription).
func retainedByPoint(ctx context.Context, h History, subscriptionID, after string) (bool, error) {
	if p, ok := h.(pointChecker); ok {
		yes, err := p.stored(ctx, subscriptionID, after)
		if err != nil || yes {
			return yes, err
		}
	}
	return h.Retained(ctx, subscriptionID, after)
}

// head returns the cursor of the last event the ingest published to
// subscriptionID as its head records it (store.SubHeads, by _id), found
// false when it has none.
func (m mongoHistory) head(ctx context.Context, subscriptionID string) (string, bool, error) {
	var d struct {
		Cursor string `bson:"cursor"`
	}
	err := m.coll.Database().Collection(store.SubHeads).FindOne(ctx, bson.D{{Key: "_id", Value: subscriptionID}},
		options.FindOne().SetProjection(bson.D{{Key: "cursor", Value: 1}})).Decode(&d)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("stream: head of %s: %w", subscriptionID, err)
	}
	return d.Cursor, true, nil
}

// newestByHead answers [History.Newest] for a subscription none of whose
// events are in the events stream's window, from its head: one lookup by
// _id where the newest-event query sorts the subscription's events (all
// of the collection on FerretDB), which a reconnect storm after an edge
// restart would run once per subscription. The head is written after the
// events it names are published, and no event of the subscription was
// published within the window, so it is the newest. A subscription
// without a head (no event yet, or one still backfilling) gets the query.
func newestByHead(ctx context.Context, h History, subscriptionID string) (string, error) {
	if p, ok := h.(pointChecker); ok {
		c, found, err := p.head(ctx, subscriptionID)
		if err != nil || found {
			return c, err
		}
	}
	return h.Newest(ctx, subscriptionID, "")
}
