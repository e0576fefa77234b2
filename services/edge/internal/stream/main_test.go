package stream

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// The embedded NATS and FerretDB servers are shared by the package's tests
// and benchmarks; each test takes its own database and subscription ids.
var (
	testNATS  *testenv.NATS
	testMongo *mongo.Client
)

type testMain struct{ m *testing.M }

func (tm testMain) Run() int {
	n, err := testenv.StartNATS(testenv.NATSConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer n.Shutdown()
	mg, err := testenv.StartMongo(testenv.MongoConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mg.Shutdown()
	client, err := mongo.Connect(options.Client().ApplyURI(mg.URI()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	}()
	testNATS, testMongo = n, client
	return tm.m.Run()
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(testMain{m}, testenv.GoleakOptions()...)
}
