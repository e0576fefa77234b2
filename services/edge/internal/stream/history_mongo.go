package stream

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/store"
)

// mongoHistory is a [History] over the subscriptions' history pages in
// MongoDB (store.Pages): every read is a lookup by _id, so a replay costs
// the same whatever the collections hold, on FerretDB as on MongoDB.
type mongoHistory struct {
	// coll is the events collection, for lookups of one event by _id.
	coll  *mongo.Collection
	pages *store.Pages
}

// replayReadAhead is how many history pages a replay reads at once: the
// next ones are read while a page is sent, and FerretDB, which decodes a
// page in about 10 ms of one core, decodes them on both cores.
const replayReadAhead = 3

func newMongoHistory(db *mongo.Database) mongoHistory {
	return mongoHistory{coll: db.Collection(store.Events), pages: store.NewPages(db)}
}

func (m mongoHistory) Scan(ctx context.Context, subscriptionID, after string, batch int, fn func([]Record) error) error {
	var fnErr error
	hand := func(recs []Record) bool {
		fnErr = fn(recs)
		return fnErr == nil
	}
	recs := make([]Record, 0, batch)
	err := m.pages.ScanAhead(ctx, subscriptionID, after, replayReadAhead, func(es []store.PageEntry) (bool, error) {
		for _, e := range es {
			recs = append(recs, Record{Cursor: e.Cursor, JSON: e.JSON})
			if len(recs) == batch {
				if !hand(recs) {
					return false, nil
				}
				recs = make([]Record, 0, batch)
			}
		}
		// Hand over a page's worth as it comes, so that a long replay
		// streams instead of piling up.
		if len(recs) > 0 {
			if !hand(recs) {
				return false, nil
			}
			recs = make([]Record, 0, batch)
		}
		return true, nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("stream: replay %s after %q: %w", subscriptionID, after, err)
	}
	return nil
}

func (m mongoHistory) Retained(ctx context.Context, subscriptionID, after string) (bool, error) {
	ok, err := m.pages.Retained(ctx, subscriptionID, after)
	if err != nil {
		return false, fmt.Errorf("stream: retention check %s: %w", subscriptionID, err)
	}
	return ok, nil
}

func (m mongoHistory) Newest(ctx context.Context, subscriptionID, _ string) (string, error) {
	c, err := m.pages.Newest(ctx, subscriptionID)
	if err != nil {
		return "", fmt.Errorf("stream: newest event of %s: %w", subscriptionID, err)
	}
	return c, nil
}
