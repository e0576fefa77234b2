package stream

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// The embedded NATS and FerretDB servers are shared by the package's tests
// and benchmarks; each test takes its own database and subscription ids.
var (
	testNATS     *testenv.NATS
	testMongo    *mongo.Client
	testMongoSrv *testenv.Mongo
)

func TestMain(m *testing.M) {
	testenv.Main(m, func(s testenv.Servers) { testNATS, testMongo, testMongoSrv = s.NATS, s.Client, s.Mongo })
}
