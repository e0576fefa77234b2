package subs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/subscription/subscriptiontest"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/ingest/internal/subs"
)

// benchSubs is how many subscriptions the store holds.
const benchSubs = 100_000

// BenchmarkManager_Apply100k measures what the control message of each
// subscription write costs an ingest holding 100,000 subscriptions (each
// with one address), on FerretDB: each round stores a subscription as
// the edge's create would and applies its upsert, then a PATCH's upsert,
// the deltas of adding and removing 10,000 addresses, and the delete. The
// edge's writes are not timed. It reports each message's p50 and p99 in
// milliseconds, and the first full load as load-ms; run it with
// -benchtime=Nx for N rounds.
func BenchmarkManager_Apply100k(b *testing.B) {
	mc, err := mongo.Connect(options.Client().ApplyURI(testenv.RunMongo(b).URI()).SetMonitor(queryCheck.Monitor()))
	require.NoError(b, err)
	b.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database("bench")
	ctx := b.Context()
	_, err = store.EnsureIndexes(ctx, db, 0)
	require.NoError(b, err)
	require.NoError(b, subscriptiontest.Seed(ctx, db, subscriptiontest.SeedConfig{Count: benchSubs}))

	m := subs.New(subs.Config{DB: db})
	start := time.Now()
	require.NoError(b, m.Resync(ctx))
	load := time.Since(start)
	require.Equal(b, benchSubs, m.Len())

	bulk := make([]string, subscription.MaxAddressesPerCall)
	for i := range bulk {
		bulk[i] = subscriptiontest.Address(benchSubs+1, i+1)
	}
	lat := testenv.Latencies{}
	apply := func(op string, ch bus.SubscriptionChange) {
		start := time.Now()
		require.NoError(b, m.Apply(ctx, ch))
		lat.Add(op, time.Since(start))
	}
	subsColl := db.Collection(store.Subscriptions)
	round := 0
	for b.Loop() {
		round++
		id := fmt.Sprintf("sub_bench%020d", round)
		first := subscriptiontest.Address(benchSubs+1, 0)
		_, err := db.Collection(store.SubscriptionAddresses).InsertOne(ctx, subscription.Address{ID: subscription.AddressDocID(id, first), SubscriptionID: id, Address: first})
		require.NoError(b, err)
		_, err = subsColl.InsertOne(ctx, subscription.Subscription{ID: id, Tenant: "t", Direction: subscription.DirectionAny, OnlySuccess: true,
			Confirmations: subscription.DefaultConfirmations, Finality: subscription.FinalityConfirmations, Contracts: []string{}, Kinds: []string{},
			Status: subscription.StatusActive, AddressCount: 1, Version: 1})
		require.NoError(b, err)
		apply("create", bus.SubscriptionChange{Op: bus.OpUpsert, SubscriptionID: id, Tenant: "t", Version: 1})

		setVersion(b, subsColl, id, 2, bson.M{"label": "renamed"})
		apply("patch", bus.SubscriptionChange{Op: bus.OpUpsert, SubscriptionID: id, Tenant: "t", Version: 2})

		setVersion(b, subsColl, id, 3, bson.M{"address_count": 1 + len(bulk)})
		apply("add10k", bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: id, Tenant: "t", Version: 3, Added: bulk})
		setVersion(b, subsColl, id, 4, bson.M{"address_count": 1})
		apply("remove10k", bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: id, Tenant: "t", Version: 4, Removed: bulk})

		setVersion(b, subsColl, id, 5, bson.M{"status": subscription.StatusDeleted})
		apply("delete", bus.SubscriptionChange{Op: bus.OpDelete, SubscriptionID: id, Tenant: "t", Version: 5})
	}
	lat.Report(b)
	b.ReportMetric(testenv.Millis(load), "load-ms")
}

// setVersion sets fields of subscription id and its version, as an edge's
// write would (the address entries a delta names are not needed: a delta
// is applied without reading them).
func setVersion(tb testing.TB, coll *mongo.Collection, id string, version int64, set bson.M) {
	tb.Helper()
	set["version"] = version
	_, err := coll.UpdateOne(tb.Context(), bson.M{"_id": id}, bson.M{"$set": set})
	require.NoError(tb, err)
}
