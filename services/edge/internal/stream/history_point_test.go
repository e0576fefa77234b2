package stream

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
)

// A resume from the cursor of a stored event is answered by one primary
// key lookup (what FerretDB serves without reading the collection); any
// other cursor by the retention query, with the same answers as before.
func TestRetainedByPoint_resumeFromAStoredEventIsOneLookup(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var filters []bson.Raw
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "find" {
			mu.Lock()
			filters = append(filters, e.Command.Lookup("filter").Document())
			mu.Unlock()
		}
	}}
	mc, err := mongo.Connect(options.Client().ApplyURI(testMongoSrv.URI()).SetMonitor(mon))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database(randomID("t_"))
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	const sub = "sub_a"
	older, stored := "00000000000000010000000000000000", "00000000000000020000000000000003"
	for _, c := range []string{older, stored} {
		require.NoError(t, store.AppendEvents(t.Context(), db, store.EventDoc{ID: store.EventDocID(sub, c), SubscriptionID: sub, Cursor: c}))
	}
	h := newMongoHistory(db)
	taken := func() []bson.Raw {
		mu.Lock()
		defer mu.Unlock()
		out := filters
		filters = nil
		return out
	}
	taken() // the writes'

	ok, err := retainedByPoint(t.Context(), h, sub, stored)
	require.NoError(t, err)
	require.True(t, ok)
	fs := taken()
	require.Len(t, fs, 1, "one query")
	require.Equal(t, store.EventDocID(sub, stored), fs[0].Lookup("_id").StringValue(), "by _id alone")

	cases := []struct {
		name  string
		after string
		want  bool
	}{
		{"a cursor between stored events", "00000000000000010000000000000005", true},
		{"a cursor below every stored event", "00000000000000000000000000000001", false},
		{"another subscription's event", stored + "x", true},
	}
	for _, c := range cases {
		ok, err := retainedByPoint(t.Context(), h, sub, c.after)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, ok, c.name)
		require.Len(t, taken(), 2, "%s: the lookup, then the retention query", c.name)
	}
}

// A subscription with nothing in the events stream's window gets its
// newest event from its head, by _id; one without a head from the query.
func TestNewestByHead_readsTheHeadAndFallsBackToTheQuery(t *testing.T) {
	t.Parallel()
	db := testMongo.Database(randomID("t_"))
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	const withHead, withoutHead = "sub_h", "sub_n"
	head, stored := "00000000000000050000000000000001", "00000000000000040000000000000002"
	_, err := db.Collection(store.SubHeads).InsertOne(t.Context(), bson.D{{Key: "_id", Value: withHead}, {Key: "cursor", Value: head}, {Key: "base", Value: ""}})
	require.NoError(t, err)
	require.NoError(t, store.AppendEvents(t.Context(), db, store.EventDoc{ID: store.EventDocID(withoutHead, stored), SubscriptionID: withoutHead, Cursor: stored}))
	_, err = db.Collection(store.SubHeads).DeleteOne(t.Context(), bson.M{"_id": withoutHead})
	require.NoError(t, err)
	h := newMongoHistory(db)

	got, err := newestByHead(t.Context(), h, withHead)
	require.NoError(t, err)
	require.Equal(t, head, got)
	got, err = newestByHead(t.Context(), h, withoutHead)
	require.NoError(t, err)
	require.Equal(t, stored, got, "no head: the newest stored event")
	got, err = newestByHead(t.Context(), h, "sub_none")
	require.NoError(t, err)
	require.Empty(t, got)
}
