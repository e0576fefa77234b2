package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
)

// queryCheck fails the package when a query its tests send is served by
// no index (see testenv.QueryCheck).
var queryCheck = testenv.NewQueryCheck()

func TestMain(m *testing.M) { testenv.MainChecked(m, queryCheck) }

func TestEnsureIndexes_IdempotentAndSweepWorksWithoutTTL(t *testing.T) {
	m := testenv.RunMongo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := mongo.Connect(options.Client().ApplyURI(m.URI()).SetMonitor(queryCheck.Monitor()))
	require.NoError(t, err)
	defer func() { _ = cl.Disconnect(context.Background()) }()
	db := cl.Database("mongotron")

	ttl, err := store.EnsureIndexes(ctx, db, time.Hour)
	require.NoError(t, err)
	require.False(t, ttl, "FerretDB refuses expireAfterSeconds, so the sweep must run")
	_, err = store.EnsureIndexes(ctx, db, time.Hour)
	require.NoError(t, err, "a second run changes nothing")

	now := time.Now().UTC()
	ev := db.Collection(store.Events)
	docs := []any{
		store.EventDoc{ID: "sub_a|1", SubscriptionID: "sub_a", Cursor: "1", EventID: "x:0", CreatedAt: now.Add(-2 * time.Hour)},
		store.EventDoc{ID: "sub_a|2", SubscriptionID: "sub_a", Cursor: "2", EventID: "y:0", CreatedAt: now},
	}
	_, err = ev.InsertMany(ctx, docs)
	require.NoError(t, err)
	_, err = ev.InsertOne(ctx, store.EventDoc{ID: "sub_a|3", SubscriptionID: "sub_a", Cursor: "3", EventID: "y:0", CreatedAt: now})
	require.True(t, mongo.IsDuplicateKeyError(err), "(subscription_id, event_id, removed, block_id) is unique: %v", err)

	n, err := store.SweepEvents(ctx, db, time.Hour, now)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	left, err := ev.CountDocuments(ctx, bson.M{})
	require.NoError(t, err)
	require.EqualValues(t, 1, left)
}
