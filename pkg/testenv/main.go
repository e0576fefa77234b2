package testenv

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Servers is an embedded NATS and FerretDB, with a client connected to
// the FerretDB, shared by the tests and benchmarks of one package.
type Servers struct {
	NATS   *NATS
	Mongo  *Mongo
	Client *mongo.Client
}

// Main starts [Servers], hands them to set, runs the package's tests and
// benchmarks, shuts the servers down, checks that no goroutine leaked and
// exits. Call it from TestMain; each test then takes its own database
// (and subjects or consumers), so tests can run in parallel.
func Main(m *testing.M, set func(Servers)) {
	VerifyTestMain(serversMain{m: m, set: set})
}

type serversMain struct {
	m   *testing.M
	set func(Servers)
}

func (s serversMain) Run() int {
	n, err := StartNATS(NATSConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer n.Shutdown()
	mg, err := StartMongo(MongoConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mg.Shutdown()
	qc := NewQueryCheck()
	client, err := mongo.Connect(options.Client().ApplyURI(mg.URI()).SetMonitor(qc.Monitor()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	}()
	s.set(Servers{NATS: n, Mongo: mg, Client: client})
	return qc.Report(s.m.Run())
}
