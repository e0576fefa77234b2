package webhook

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/subscription"
)

func TestMongoStore_acquireLane(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := mongoStore{db: e.db}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)

	epoch, ok, _, err := s.acquireLane(ctx, "sub_a", "edge1", now, now.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok, "a lane never taken is free")
	require.EqualValues(t, 1, epoch)

	_, ok, wait, err := s.acquireLane(ctx, "sub_a", "edge2", now, now.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, ok, "a held lane is not taken")
	require.True(t, wait.Equal(now.Add(time.Minute)), "the wait is the holder's lease: %s", wait)

	renewed, err := s.renewLane(ctx, "sub_a", "edge1", 1, now.Add(2*time.Minute))
	require.NoError(t, err)
	require.True(t, renewed)

	later := now.Add(3 * time.Minute)
	epoch, ok, _, err = s.acquireLane(ctx, "sub_a", "edge2", later, later.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok, "a lease that ran out is taken over")
	require.EqualValues(t, 2, epoch)
	renewed, err = s.renewLane(ctx, "sub_a", "edge1", 1, later.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, renewed, "the earlier holder learns it lost the lane")

	// Released with a park: not taken before it ends, taken after a wake.
	require.NoError(t, s.releaseLane(ctx, "sub_a", "edge2", 2, later.Add(time.Hour)))
	_, ok, wait, err = s.acquireLane(ctx, "sub_a", "edge1", later, later.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, ok)
	require.True(t, wait.Equal(later.Add(time.Hour)))
	require.NoError(t, s.wakeLane(ctx, "sub_a", later))
	_, ok, _, err = s.acquireLane(ctx, "sub_a", "edge1", later, later.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
}

// FerretDB applies an update as a read then a write, so two edges taking
// a free lane with a conditional update could both succeed; taking it by
// inserting the next tenure lets exactly one.
func TestMongoStore_acquireLane_oneWinnerAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := mongoStore{db: e.db}
	ctx := context.Background()
	for round := range 5 {
		now := time.Now().UTC()
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				_, ok, _, err := s.acquireLane(ctx, "sub_race", fmt.Sprintf("edge%d", i), now, now.Add(time.Minute))
				if err == nil && ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		require.EqualValues(t, 1, wins.Load(), "round %d", round)
		last, err := s.latestLane(ctx, "sub_race")
		require.NoError(t, err)
		require.NoError(t, s.releaseLane(ctx, "sub_race", last.Owner, last.Epoch, now))
	}
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
				page, next, err := s.list(ctx, sub, ListQuery{Status: tc.status, After: after, Limit: 2})
				require.NoError(t, err)
				for _, v := range page {
					require.Equal(t, DeliveryID(sub, v.Cursor), v.ID)
					got = append(got, v.Cursor)
				}
				if next == "" {
					break
				}
				after = next
			}
			require.Equal(t, tc.want, got, "pages of 2 across both collections")
		})
	}
	_, _, err = s.list(ctx, sub, ListQuery{Status: "lost", Limit: 2})
	require.ErrorIs(t, err, ErrInvalidStatus)
}
