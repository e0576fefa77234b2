package seed_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/testenv"
)

var testMongo *mongo.Client

func TestMain(m *testing.M) {
	testenv.Main(m, func(s testenv.Servers) { testMongo = s.Client })
}
