package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.GoleakOptions()...) }

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
