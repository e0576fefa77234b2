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

// pointChecker is implemented by a [History] that can tell, by a primary
// key lookup, whether the event at a cursor is stored.
type pointChecker interface {
	stored(ctx context.Context, subscriptionID, cursor string) (bool, error)
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
