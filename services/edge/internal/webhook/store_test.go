package webhook

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/lease"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// The lanes are package lease's, in the shape of the lane documents
// earlier edges wrote, so that during a rolling upgrade edges of both
// versions keep out of each other's lanes.
func TestLanes_shapeOfEarlierEdges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	lanes, err := newLanes(e.db, func() time.Time { return now })
	require.NoError(t, err)

	// An earlier edge holds sub_a's lane: this edge does not take it.
	insertLane(t, e.db, "sub_a", 7, "old-edge", now.Add(time.Minute))
	held, err := lanes.Acquire(ctx, "sub_a", "new-edge", time.Minute)
	require.ErrorIs(t, err, lease.ErrHeld)
	require.Equal(t, lease.Tenure{Name: "sub_a", Holder: "old-edge", Token: 7, Expires: now.Add(time.Minute)}, held)

	// This edge's tenure reads as an earlier edge reads lanes: the
	// subscription's document with the highest epoch.
	now = now.Add(time.Minute)
	t8, err := lanes.Acquire(ctx, "sub_a", "new-edge", time.Minute)
	require.NoError(t, err)
	require.Equal(t, int64(8), t8.Token)
	var doc struct {
		SubscriptionID string    `bson:"subscription_id"`
		Epoch          int64     `bson:"epoch"`
		Owner          string    `bson:"owner"`
		LeaseUntil     time.Time `bson:"lease_until"`
	}
	require.NoError(t, e.db.Collection(LanesCollection).FindOne(ctx, bson.M{"subscription_id": "sub_a"},
		options.FindOne().SetSort(bson.M{"epoch": -1})).Decode(&doc))
	require.Equal(t, "new-edge", doc.Owner)
	require.Equal(t, int64(8), doc.Epoch)
	require.True(t, doc.LeaseUntil.Equal(now.Add(time.Minute)), doc.LeaseUntil)

	// Parked, as earlier edges parked: no owner, until the retry.
	require.NoError(t, lanes.Park(ctx, t8, now.Add(time.Hour)))
	require.NoError(t, e.db.Collection(LanesCollection).FindOne(ctx, bson.M{"_id": lease.TenureID("sub_a", 8)}).Decode(&doc))
	require.Empty(t, doc.Owner)
	require.True(t, doc.LeaseUntil.Equal(now.Add(time.Hour)), doc.LeaseUntil)
}

func TestMongoStore_sweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := mongoStore{db: e.db}
	ctx := context.Background()
	now := time.Now().UTC()
	old := now.Add(-8 * 24 * time.Hour)
	require.NoError(t, s.insertNew(ctx, []any{&Delivery{ID: "dlv_q", SubscriptionID: "s", Status: StatusPending, UpdatedAt: old}}))
	_, err := s.records().InsertMany(ctx, []any{
		&Delivery{ID: "dlv_old", SubscriptionID: "s", Status: StatusSucceeded, UpdatedAt: old},
		&Delivery{ID: "dlv_new", SubscriptionID: "s", Status: StatusDead, UpdatedAt: now.Add(-time.Hour)},
	})
	require.NoError(t, err)
	n, err := s.sweep(ctx, DefaultRetention, now)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	var ids []string
	for _, d := range e.deliveries("s") {
		ids = append(ids, d.ID)
	}
	require.Equal(t, []string{"dlv_new", "dlv_q"}, ids, "finished past the retention go; pending stay whatever their age")
}

func TestMongoStore_list(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := mongoStore{db: e.db}
	ctx := context.Background()
	const sub = subscription.IDPrefix + "ab12"
	var queued []any
	var finished []any
	for i := range 7 {
		c := fmt.Sprintf("c%02d", i)
		d := &Delivery{ID: DeliveryID(sub, c), SubscriptionID: sub, Cursor: c, Status: StatusPending, Log: []Attempt{}}
		if i%3 != 0 {
			d.Status = StatusSucceeded
			finished = append(finished, d)
			continue
		}
		queued = append(queued, d)
	}
	// Other subscriptions' deliveries, with ids sorting on either side
	// and one whose id extends this one's prefix, are never listed.
	for _, other := range []string{subscription.IDPrefix + "ab1", subscription.IDPrefix + "ab123", subscription.IDPrefix + "ab13"} {
		for i := range 2 {
			c := fmt.Sprintf("c%02d", i)
			finished = append(finished, &Delivery{ID: DeliveryID(other, c), SubscriptionID: other, Cursor: c, Status: StatusSucceeded, Log: []Attempt{}})
		}
	}
	require.NoError(t, s.insertNew(ctx, queued))
	_, err := s.records().InsertMany(ctx, finished)
	require.NoError(t, err)
	tests := []struct {
		status string
		want   []string
	}{
		{"", []string{"c00", "c01", "c02", "c03", "c04", "c05", "c06"}},
		{StatusPending, []string{"c00", "c03", "c06"}},
		{StatusSucceeded, []string{"c01", "c02", "c04", "c05"}},
		{StatusDead, nil},
	}
	for _, tc := range tests {
		t.Run("status="+tc.status, func(t *testing.T) {
			var got []string
			after := ""
			for {
				page, err := s.list(ctx, sub, ListQuery{Status: tc.status, After: after, Limit: 2})
				require.NoError(t, err)
				for _, v := range page.Deliveries {
					require.Equal(t, DeliveryID(sub, v.Cursor), v.ID)
					got = append(got, v.Cursor)
				}
				if page.Next == "" {
					break
				}
				after = page.Next
			}
			require.Equal(t, tc.want, got, "pages of 2 across both collections")
		})
	}
	_, err = s.list(ctx, sub, ListQuery{Status: "lost", Limit: 2})
	require.ErrorIs(t, err, ErrInvalidStatus)
}

// TestMongoStore_pending pins the queue read both ways it is made (each
// subscription from the index, as on MongoDB; every one in one query, as
// on FerretDB): each subscription's first deliveries in cursor order,
// whatever was queued in another order, however many are behind them,
// and nothing of a subscription not asked about.
func TestMongoStore_pending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := mongoStore{db: e.db}
	ctx := context.Background()
	subA, subB, subC := subscription.IDPrefix+"ab1", subscription.IDPrefix+"ab12", subscription.IDPrefix+"cd3"
	var queued []any
	// Queued newest first: the read sorts.
	for i := 29; i >= 0; i-- {
		for _, sub := range []string{subA, subB, subC} {
			if sub == subB && i >= 3 {
				continue
			}
			c := fmt.Sprintf("c%02d", i)
			queued = append(queued, &Delivery{ID: DeliveryID(sub, c), SubscriptionID: sub, Cursor: c, Status: StatusPending, Log: []Attempt{}})
		}
	}
	require.NoError(t, s.insertNew(ctx, queued))
	cursors := func(ds []Delivery) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Cursor)
		}
		return out
	}
	reads := map[string]func(context.Context, []string, int) (map[string][]Delivery, error){
		"each":  s.pendingEach,
		"all":   s.pendingAll,
		"store": s.pending,
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			got, err := read(ctx, []string{subA, subB, subscription.IDPrefix + "none"}, 5)
			require.NoError(t, err)
			require.Len(t, got, 2, "no entry for a subscription with nothing queued, none for one not asked")
			require.Equal(t, []string{"c00", "c01", "c02", "c03", "c04"}, cursors(got[subA]))
			require.Equal(t, []string{"c00", "c01", "c02"}, cursors(got[subB]))
		})
	}
}

// TestMongoStore_ensureIndexes pins the indexes a store of an earlier
// version ends with: the queue's index on next_attempt_at alone gives
// way to (next_attempt_at, subscription_id), the record's (subscription_id,
// _id) goes, and running it again changes nothing.
func TestMongoStore_ensureIndexes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := mongoStore{db: e.db}
	ctx := context.Background()
	_, err := s.queue().Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "next_attempt_at", Value: 1}}, Options: options.Index().SetName("next_attempt_at")})
	require.NoError(t, err)
	_, err = s.records().Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("sub_id")})
	require.NoError(t, err)
	names := func(c *mongo.Collection) []string {
		specs, err := c.Indexes().ListSpecifications(ctx)
		require.NoError(t, err)
		var out []string
		for _, sp := range specs {
			out = append(out, sp.Name)
		}
		return out
	}
	for range 2 {
		_, err := s.ensureIndexes(ctx, time.Hour)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"_id_", "sub_id", "due_sub"}, names(s.queue()))
		require.NotContains(t, names(s.records()), "sub_id")
		require.Contains(t, names(s.records()), "sub_status_id")
	}
}
