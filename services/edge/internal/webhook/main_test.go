package webhook

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// The embedded FerretDB is shared by the package's tests and benchmarks;
// each takes its own database and subscription ids, and its own NATS
// server (newEnv).
var (
	testMongoURI string
	testMongo    *mongo.Client
)

func TestMain(m *testing.M) {
	testenv.Main(m, func(s testenv.Servers) {
		testMongoURI, testMongo = s.Mongo.URI(), s.Client
	})
}
