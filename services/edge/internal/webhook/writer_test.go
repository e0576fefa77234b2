package webhook

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestGroupWriter_write(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		callers, models int
	}{
		{name: "one caller", callers: 1, models: 3},
		{name: "many small callers combined", callers: 24, models: 5},
		// Over maxWriteCost in all, and one request alone over it: it is
		// written whole.
		{name: "beyond one write", callers: 6, models: maxWriteCost/4 + 1},
		{name: "one request over the cap", callers: 2, models: maxWriteCost + 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Millisecond)
			id := func(c, i int) string { return fmt.Sprintf("c%03d_%05d", c, i) }
			retried := func(i int) bool { return i%256 == 2 }
			docs := make([]any, 0, tc.callers*tc.models)
			for c := range tc.callers {
				for i := range tc.models {
					docs = append(docs, &Delivery{ID: id(c, i), SubscriptionID: fmt.Sprint(c), Status: StatusPending, Log: []Attempt{}})
				}
			}
			s := mongoStore{db: e.db}
			require.NoError(t, s.insertNew(ctx, docs))
			// A crash left the first caller's first delivery recorded and
			// still queued: recording it again replaces the record.
			_, err := e.db.Collection(DeliveriesCollection).InsertOne(ctx, &Delivery{ID: id(0, 0), SubscriptionID: "0", Status: StatusDead})
			require.NoError(t, err)

			g := &groupWriter{store: s, timeout: time.Minute}
			var wg sync.WaitGroup
			errs := make([]error, tc.callers)
			for c := range tc.callers {
				wg.Go(func() {
					// Each caller schedules a retry of every 256th delivery
					// but the first, and finishes the others.
					var ops writeOps
					for i := range tc.models {
						if !retried(i) {
							ops.finished = append(ops.finished, &Delivery{ID: id(c, i), SubscriptionID: fmt.Sprint(c), Status: StatusSucceeded, Attempts: 1, UpdatedAt: now})
							continue
						}
						ops.updates = append(ops.updates, updateByID(id(c, i)).SetUpdate(bson.M{"$inc": bson.M{"attempts": 1}}))
					}
					errs[c] = g.write(ctx, ops)
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			for c := range tc.callers {
				got := e.deliveries(fmt.Sprint(c))
				require.Len(t, got, tc.models)
				for i, d := range got {
					require.Equal(t, id(c, i), d.ID)
					require.Equal(t, 1, d.Attempts, d.ID)
					if !retried(i) {
						require.Equal(t, StatusSucceeded, d.Status, d.ID)
						require.Equal(t, now, d.UpdatedAt.UTC(), d.ID)
					} else {
						require.Equal(t, StatusPending, d.Status, d.ID)
					}
				}
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			require.False(t, g.active, "no writer left active")
			require.Empty(t, g.queue)
		})
	}
}
