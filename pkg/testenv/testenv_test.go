package testenv_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.VerifyTestMain(m) }

func TestRunNATS_JetStreamPublish(t *testing.T) {
	n := testenv.RunNATS(t)
	nc, err := nats.Connect(n.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	require.NoError(t, err)
	ack, err := js.Publish(ctx, "t.x", []byte("hello"), jetstream.WithMsgID("1"))
	require.NoError(t, err)
	require.Equal(t, uint64(1), ack.Sequence)
	ack, err = js.Publish(ctx, "t.x", []byte("hello"), jetstream.WithMsgID("1"))
	require.NoError(t, err)
	require.True(t, ack.Duplicate, "Nats-Msg-Id de-duplicates")
}

func TestRunMongo_CRUDAndIndexes(t *testing.T) {
	m := testenv.RunMongo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(t, err)
	defer func() { _ = cl.Disconnect(context.Background()) }()
	c := cl.Database("t").Collection("c")
	_, err = c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "k", Value: 1}}, Options: options.Index().SetUnique(true)})
	require.NoError(t, err)
	_, err = c.InsertOne(ctx, bson.M{"_id": "a", "k": 1})
	require.NoError(t, err)
	_, err = c.InsertOne(ctx, bson.M{"_id": "b", "k": 1})
	require.True(t, mongo.IsDuplicateKeyError(err), "unique index enforced: %v", err)
	_, err = c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "at", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(60)})
	t.Logf("TTL index on FerretDB: %v", err)
	var got bson.M
	require.NoError(t, c.FindOne(ctx, bson.M{"_id": "a"}).Decode(&got))
	require.EqualValues(t, 1, got["k"])
}

// TestMongo_StopAndStartKeepDataAndURI pins what store-outage tests rely
// on: Stop is a dead server (refused, open connections dropped at once),
// and after Start the same URI serves the same data to the same client,
// which reconnects by itself.
func TestMongo_StopAndStartKeepDataAndURI(t *testing.T) {
	t.Parallel()
	m := testenv.RunRestartableMongo(t)
	uri := m.URI()
	u, err := url.Parse(uri)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cl, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	defer func() { _ = cl.Disconnect(context.Background()) }()
	c := cl.Database("t").Collection("c")
	_, err = c.InsertOne(ctx, bson.M{"_id": "before"})
	require.NoError(t, err)
	raw, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer raw.Close()

	start := time.Now()
	require.NoError(t, m.Stop())
	// FerretDB on its own gives open connections 3 s; a dead server
	// gives them none.
	require.Less(t, time.Since(start), 2*time.Second, "Stop waited for open connections")
	require.NoError(t, raw.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = raw.Read(make([]byte, 1))
	require.Error(t, err, "an open connection is dropped")
	require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "dropped, not timed out")
	_, err = net.Dial("tcp", u.Host)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "the port refuses connections")
	octx, ocancel := context.WithTimeout(ctx, time.Second)
	err = c.FindOne(octx, bson.M{"_id": "before"}).Err()
	ocancel()
	require.Error(t, err, "the client sees the outage")
	require.NoError(t, m.Stop(), "a second Stop does nothing")

	require.NoError(t, m.Start())
	require.NoError(t, m.Start(), "a second Start does nothing")
	require.Equal(t, uri, m.URI())
	var got bson.M
	require.NoError(t, c.FindOne(ctx, bson.M{"_id": "before"}).Decode(&got), "same client, same data")
	_, err = c.InsertOne(ctx, bson.M{"_id": "after"})
	require.NoError(t, err)
	n, err := c.CountDocuments(ctx, bson.M{})
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
}

func TestMongo_ShutdownWhileStopped(t *testing.T) {
	t.Parallel()
	m, err := testenv.StartMongo(testenv.MongoConfig{Dir: t.TempDir(), Restartable: true})
	require.NoError(t, err)
	u, err := url.Parse(m.URI())
	require.NoError(t, err)
	require.NoError(t, m.Stop())
	m.Shutdown()
	m.Shutdown()
	_, err = net.Dial("tcp", u.Host)
	require.Error(t, err)
	require.Error(t, m.Start(), "a shut-down server stays down")
}

func TestMongo_StopNeedsRestartable(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	require.Error(t, m.Stop())
	require.Error(t, m.Start())
}
