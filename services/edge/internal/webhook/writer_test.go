package webhook

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestGroupWriter_write(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		callers, models int
	}{
		{name: "one caller", callers: 1, models: 3},
		{name: "many small callers combined", callers: 24, models: 5},
		// Over maxWriteModels in all, and one request alone over it: it is
		// written whole.
		{name: "beyond one write", callers: 6, models: maxWriteModels/4 + 1},
		{name: "one request over the cap", callers: 2, models: maxWriteModels + 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			docs := make([]any, 0, tc.callers*tc.models)
			for c := range tc.callers {
				for i := range tc.models {
					docs = append(docs, bson.M{"_id": fmt.Sprintf("c%03d_%04d", c, i), "n": 0})
				}
			}
			_, err := e.db.Collection(DeliveriesCollection).InsertMany(ctx, docs)
			require.NoError(t, err)

			g := &groupWriter{store: mongoStore{db: e.db}}
			var wg sync.WaitGroup
			errs := make([]error, tc.callers)
			for c := range tc.callers {
				wg.Go(func() {
					// Each caller's updates of one document must be applied
					// in its order: $set after $inc leaves the $set value.
					ms := make([]mongo.WriteModel, 0, tc.models+1)
					for i := range tc.models {
						ms = append(ms, updateByID(fmt.Sprintf("c%03d_%04d", c, i)).SetUpdate(bson.M{"$inc": bson.M{"n": 1}}))
					}
					ms = append(ms, updateByID(fmt.Sprintf("c%03d_%04d", c, 0)).SetUpdate(bson.M{"$set": bson.M{"n": 7}}))
					errs[c] = g.write(ctx, ms)
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			cur, err := e.db.Collection(DeliveriesCollection).Find(ctx, bson.M{})
			require.NoError(t, err)
			var got []struct {
				ID string `bson:"_id"`
				N  int    `bson:"n"`
			}
			require.NoError(t, cur.All(ctx, &got))
			require.Len(t, got, tc.callers*tc.models)
			for _, d := range got {
				want := 1
				if d.ID[len(d.ID)-4:] == "0000" {
					want = 7
				}
				require.Equal(t, want, d.N, d.ID)
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			require.False(t, g.active, "no writer left active")
			require.Empty(t, g.queue)
		})
	}
}
