package seed_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/services/devstack/internal/seed"
)

func TestSeeder_Run_WritesPagesThatHoldThePlan(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := testMongo.Database("seed_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))[:20])
	p := testPlan()
	key := seed.NewAPIKey()
	// A small batch: the long history takes several writes.
	cfg := seed.Config{Plan: p, Batch: 300, Workers: 2, APIKey: key, Tenant: "seedtest"}
	s, err := seed.New(cfg, db)
	require.NoError(t, err)
	res, err := s.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, p.Events, res.Written)
	require.Equal(t, key, res.APIKey)

	var k store.KeyDoc
	require.NoError(t, db.Collection(store.Keys).FindOne(ctx, bson.D{{Key: "_id", Value: res.KeyID}}).Decode(&k))
	require.Equal(t, "seedtest", k.Tenant)
	require.Len(t, k.Hash, 64)

	pages := store.NewPages(db)
	for i := range p.Subscriptions {
		id := p.SubscriptionID(i)
		var sub subscription.Subscription
		require.NoError(t, db.Collection(store.Subscriptions).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&sub))
		require.Equal(t, subscription.StatusActive, sub.Status)
		require.Equal(t, "seedtest", sub.Tenant)
		require.NoError(t, store.CheckPages(ctx, db, id))

		var got []string
		require.NoError(t, pages.Scan(ctx, id, "", func(es []store.PageEntry) (bool, error) {
			for _, e := range es {
				got = append(got, e.Cursor)
			}
			return true, nil
		}))
		require.Len(t, got, p.Count(i))
		for seq, c := range got {
			require.Equal(t, p.Cursor(i, seq), c)
		}
		newest, err := pages.Newest(ctx, id)
		require.NoError(t, err)
		require.Equal(t, p.Cursor(i, p.Count(i)-1), newest)
	}

	// Again: everything is there, nothing is written.
	s, err = seed.New(cfg, db)
	require.NoError(t, err)
	res, err = s.Run(ctx)
	require.NoError(t, err)
	require.Zero(t, res.Written)
	require.Equal(t, p.Events, res.Skipped)
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	ok := seed.Config{Plan: seed.Plan{Events: 10, Subscriptions: 2}}
	require.NoError(t, ok.Validate())
	for _, tc := range []struct {
		name string
		edit func(*seed.Config)
	}{
		{"negative batch", func(c *seed.Config) { c.Batch = -1 }},
		{"negative workers", func(c *seed.Config) { c.Workers = -1 }},
		{"key without the prefix", func(c *seed.Config) { c.APIKey = "xx_0123456789abcdef" }},
		{"no subscriptions", func(c *seed.Config) { c.Plan.Subscriptions = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tc.edit(&c)
			require.Error(t, c.Validate())
		})
	}
}
