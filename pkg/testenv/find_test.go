package testenv_test

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// TestFindAll_needsNoCursorConnection pins the FerretDB fault FindAll
// exists for, and that FindAll does not meet it: a cursor dies with the
// connection that opened it, and FindAll never asks for a second batch.
func TestFindAll_needsNoCursorConnection(t *testing.T) {
	m := testenv.RunMongo(t)
	u, err := url.Parse(m.URI())
	require.NoError(t, err)
	p := testenv.RunProxy(t, u.Host)
	var getMores atomic.Int32
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "getMore" {
			getMores.Add(1)
		}
	}}
	cl, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + p.Addr() + "/?directConnection=true").SetMonitor(mon))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	c := cl.Database("t").Collection("c")
	docs := make([]any, 300)
	for i := range docs {
		docs[i] = bson.M{"_id": i, "k": i % 3}
	}
	_, err = c.InsertMany(ctx, docs)
	require.NoError(t, err)

	// A plain find's first reply holds 101 documents; once the connection
	// that opened the cursor is gone, the rest cannot be read.
	cur, err := c.Find(ctx, bson.M{})
	require.NoError(t, err)
	p.Cut()
	p.Restore()
	var lost []bson.M
	require.Error(t, cur.All(ctx, &lost), "the cursor outlived its connection")
	require.EqualValues(t, 1, getMores.Load())

	var all []bson.M
	require.NoError(t, testenv.FindAll(ctx, c, bson.M{"k": 1}, &all, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}})))
	require.Len(t, all, 100)
	require.EqualValues(t, 298, all[0]["_id"], "the caller's options apply")
	require.EqualValues(t, 1, getMores.Load(), "FindAll sent no getMore")

	var none []bson.M
	require.ErrorContains(t, testenv.FindAll(ctx, c, bson.M{"$bad": 1}, &none), "testenv: find in c")
}
