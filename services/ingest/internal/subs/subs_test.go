package subs_test

import (
	"context"
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/subscription/subscriptiontest"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/ingest/internal/subs"
)

// queryCheck fails the package when a query its tests send is served by
// no index (see testenv.QueryCheck).
var queryCheck = testenv.NewQueryCheck()

func TestMain(m *testing.M) { testenv.MainChecked(m, queryCheck) }

// addr returns a distinct valid address per byte.
func addr(b byte) tron.Address {
	var a tron.Address
	a[0] = 0x41
	a[20] = b
	return a
}

var (
	addrA, addrB, addrC, addrD = addr(1), addr(2), addr(3), addr(4)
	other                      = addr(99)
)

// put writes subscription id at version with the address set addrs, as
// the edge would (minus the control message).
func put(t testing.TB, db *mongo.Database, id string, version int64, status string, addrs ...tron.Address) {
	t.Helper()
	ctx := t.Context()
	sub := subscription.Subscription{ID: id, Tenant: "t", Direction: subscription.DirectionAny, Status: status, Version: version, Contracts: []string{}, Kinds: []string{}}
	_, err := db.Collection(store.Subscriptions).ReplaceOne(ctx, bson.M{"_id": id}, sub, options.Replace().SetUpsert(true))
	require.NoError(t, err)
	setAddrs(t, db, id, addrs...)
}

// setAddrs replaces the address set of id without touching its version.
func setAddrs(t testing.TB, db *mongo.Database, id string, addrs ...tron.Address) {
	t.Helper()
	_, err := db.Collection(store.SubscriptionAddresses).DeleteMany(t.Context(), bson.M{"subscription_id": id})
	require.NoError(t, err)
	var docs []any
	for _, a := range addrs {
		docs = append(docs, subscription.Address{ID: subscription.AddressDocID(id, a.String()), SubscriptionID: id, Address: a.String()})
	}
	if len(docs) > 0 {
		_, err := db.Collection(store.SubscriptionAddresses).InsertMany(t.Context(), docs)
		require.NoError(t, err)
	}
}

// matches returns the subscriptions a transfer from a matches.
func matches(m *subs.Manager, a tron.Address) []string {
	e := event.Event{ID: "x:0", Kind: event.KindTRXTransfer, From: a, To: other, Success: true}
	var out []string
	m.Match(&e, func(x follow.Match) { out = append(out, x.SubscriptionID) })
	sort.Strings(out)
	return out
}

func change(op, id string, version int64) bus.SubscriptionChange {
	return bus.SubscriptionChange{Op: op, SubscriptionID: id, Tenant: "t", Version: version}
}

func TestManager_Apply(t *testing.T) {
	t.Parallel()
	mongoSrv := testenv.RunMongo(t)
	mc, err := mongo.Connect(options.Client().ApplyURI(mongoSrv.URI()).SetMonitor(queryCheck.Monitor()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })

	tests := []struct {
		name string
		run  func(t *testing.T, db *mongo.Database, m *subs.Manager)
	}{
		{"late or repeated upsert never undoes a newer change", func(t *testing.T, db *mongo.Database, m *subs.Manager) {
			put(t, db, "s", 1, subscription.StatusActive, addrA)
			require.NoError(t, m.Resync(t.Context()))
			require.Equal(t, []string{"s"}, matches(m, addrA))

			put(t, db, "s", 2, subscription.StatusActive, addrB)
			require.NoError(t, m.Apply(t.Context(), change(bus.OpUpsert, "s", 2)))
			require.Empty(t, matches(m, addrA))
			require.Equal(t, []string{"s"}, matches(m, addrB))

			// Had either message below been applied, it would have
			// re-read this set.
			setAddrs(t, db, "s", addrC)
			gen := m.Generation()
			require.NoError(t, m.Apply(t.Context(), change(bus.OpUpsert, "s", 1)))
			require.NoError(t, m.Apply(t.Context(), change(bus.OpUpsert, "s", 2)))
			require.NoError(t, m.Apply(t.Context(), bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: "s", Version: 2, Removed: []string{addrB.String()}}))
			require.Equal(t, gen, m.Generation())
			require.Equal(t, []string{"s"}, matches(m, addrB))
			require.Empty(t, matches(m, addrC))
		}},
		{"delete, and a late upsert does not resurrect", func(t *testing.T, db *mongo.Database, m *subs.Manager) {
			put(t, db, "s", 1, subscription.StatusActive, addrA)
			put(t, db, "keep", 1, subscription.StatusActive, addrA)
			require.NoError(t, m.Resync(t.Context()))
			require.Equal(t, []string{"keep", "s"}, matches(m, addrA))

			put(t, db, "s", 3, subscription.StatusDeleted)
			require.NoError(t, m.Apply(t.Context(), change(bus.OpDelete, "s", 3)))
			require.Equal(t, []string{"keep"}, matches(m, addrA))
			require.Equal(t, 1, m.Len())

			require.NoError(t, m.Apply(t.Context(), change(bus.OpUpsert, "s", 2)))
			require.NoError(t, m.Apply(t.Context(), change(bus.OpDelete, "s", 3)))
			require.Equal(t, []string{"keep"}, matches(m, addrA))
			require.NoError(t, m.Resync(t.Context()))
			require.Equal(t, []string{"keep"}, matches(m, addrA))
		}},
		{"address deltas apply in order, a gap reloads", func(t *testing.T, db *mongo.Database, m *subs.Manager) {
			put(t, db, "s", 1, subscription.StatusActive, addrA)
			require.NoError(t, m.Resync(t.Context()))

			// The next version's delta is applied as is, without a read.
			require.NoError(t, m.Apply(t.Context(), bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: "s", Version: 2,
				Added: []string{addrB.String(), addrC.String()}, Removed: []string{addrA.String()}}))
			require.Empty(t, matches(m, addrA))
			require.Equal(t, []string{"s"}, matches(m, addrB))
			require.Equal(t, []string{"s"}, matches(m, addrC))
			require.NoError(t, m.Apply(t.Context(), bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: "s", Version: 3,
				Removed: []string{"41" + "00000000000000000000000000000000000000" + "03"}}))
			require.Empty(t, matches(m, addrC), "hex addresses are accepted in deltas")

			// Version 4 was missed: the delta of 5 cannot be trusted,
			// so the whole set is read again.
			put(t, db, "s", 5, subscription.StatusActive, addrD)
			require.NoError(t, m.Apply(t.Context(), bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: "s", Version: 5, Added: []string{addrA.String()}}))
			require.Empty(t, matches(m, addrA))
			require.Empty(t, matches(m, addrB))
			require.Equal(t, []string{"s"}, matches(m, addrD))

			// A delta without lists says "reload".
			put(t, db, "s", 6, subscription.StatusActive, addrB)
			require.NoError(t, m.Apply(t.Context(), change(bus.OpAddresses, "s", 6)))
			require.Equal(t, []string{"s"}, matches(m, addrB))
			require.Empty(t, matches(m, addrD))
		}},
		{"an unknown subscription's change loads it", func(t *testing.T, db *mongo.Database, m *subs.Manager) {
			require.NoError(t, m.Resync(t.Context()))
			put(t, db, "new", 1, subscription.StatusActive, addrA)
			require.NoError(t, m.Apply(t.Context(), bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: "new", Version: 1, Added: []string{addrB.String()}}))
			require.Equal(t, []string{"new"}, matches(m, addrA))
			require.Empty(t, matches(m, addrB), "a delta on an unknown subscription is not trusted")
		}},
		{"resync heals missed messages", func(t *testing.T, db *mongo.Database, m *subs.Manager) {
			put(t, db, "s", 1, subscription.StatusActive, addrA)
			put(t, db, "gone", 1, subscription.StatusActive, addrC)
			require.NoError(t, m.Resync(t.Context()))

			put(t, db, "s", 2, subscription.StatusActive, addrB)
			put(t, db, "gone", 2, subscription.StatusDeleted)
			put(t, db, "added", 1, subscription.StatusActive, addrD)
			require.Equal(t, []string{"s"}, matches(m, addrA), "nothing changes without a message or a resync")

			require.NoError(t, m.Resync(t.Context()))
			require.Empty(t, matches(m, addrA))
			require.Equal(t, []string{"s"}, matches(m, addrB))
			require.Empty(t, matches(m, addrC))
			require.Equal(t, []string{"added"}, matches(m, addrD))
			require.Equal(t, 2, m.Len())

			// Unchanged versions are not reloaded.
			gen := m.Generation()
			require.NoError(t, m.Resync(t.Context()))
			require.Equal(t, gen, m.Generation())
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := mc.Database("subs" + string(rune('a'+i)))
			_, err := store.EnsureIndexes(t.Context(), db, 0)
			require.NoError(t, err)
			tc.run(t, db, subs.New(subs.Config{DB: db}))
		})
	}
}

func TestManager_Run(t *testing.T) {
	t.Parallel()
	mongoSrv := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	mc, err := mongo.Connect(options.Client().ApplyURI(mongoSrv.URI()).SetMonitor(queryCheck.Monitor()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database("run")
	nc, err := nats.Connect(n.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)

	put(t, db, "s", 1, subscription.StatusActive, addrA)
	m := subs.New(subs.Config{DB: db, ResyncInterval: time.Hour})
	require.NoError(t, m.Resync(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, nc) }()

	publish := func(ch bus.SubscriptionChange) {
		data, err := json.Marshal(ch)
		require.NoError(t, err)
		require.NoError(t, nc.Publish(bus.SubscriptionsSubject, data))
	}
	// The subscription may not be in place for the first message: keep
	// sending the (idempotent) change until it is applied.
	put(t, db, "s", 2, subscription.StatusActive, addrB)
	require.Eventually(t, func() bool {
		publish(change(bus.OpUpsert, "s", 2))
		return len(matches(m, addrB)) == 1
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, nc.Publish(bus.SubscriptionsSubject, []byte("not json")))
	publish(change(bus.OpDelete, "s", 3))
	require.Eventually(t, func() bool { return m.Len() == 0 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

func TestManager_Resync(t *testing.T) {
	t.Parallel()
	mongoSrv := testenv.RunMongo(t)
	mc, err := mongo.Connect(options.Client().ApplyURI(mongoSrv.URI()).SetMonitor(queryCheck.Monitor()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database("resync")
	_, err = store.EnsureIndexes(t.Context(), db, 0)
	require.NoError(t, err)

	// More subscriptions than a resync reloads one at a time: with two
	// addresses each, with none (a contract), held, and a tombstone.
	require.NoError(t, subscriptiontest.Seed(t.Context(), db, subscriptiontest.SeedConfig{Count: 400, AddressesEach: 2}))
	require.NoError(t, subscriptiontest.Seed(t.Context(), db, subscriptiontest.SeedConfig{From: 400, Count: 10, AddressesEach: -1}))
	put(t, db, "dead", 1, subscription.StatusDeleted, addrA)
	held := subscriptiontest.ID(7)
	m := subs.New(subs.Config{DB: db, Hold: func(s *subscription.Subscription) bool { return s.ID == held }})

	require.NoError(t, m.Resync(t.Context()))
	require.Equal(t, 409, m.Len(), "every live subscription but the held one")
	for _, i := range []int{0, 5, 399} {
		for j := range 2 {
			a, err := tron.ParseAddress(subscriptiontest.Address(i, j))
			require.NoError(t, err)
			require.Equal(t, []string{subscriptiontest.ID(i)}, matches(m, a), "subscription %d address %d", i, j)
		}
	}
	a, err := tron.ParseAddress(subscriptiontest.Address(7, 0))
	require.NoError(t, err)
	require.Empty(t, matches(m, a), "held out of matching")
	require.Empty(t, matches(m, addrA), "a tombstone is not loaded")

	// Then only what changed is read again.
	gen := m.Generation()
	require.NoError(t, m.Resync(t.Context()))
	require.Equal(t, gen, m.Generation())
	put(t, db, subscriptiontest.ID(5), 2, subscription.StatusActive, addrB)
	require.NoError(t, m.Resync(t.Context()))
	require.Equal(t, []string{subscriptiontest.ID(5)}, matches(m, addrB))
	require.Equal(t, 409, m.Len())
}
