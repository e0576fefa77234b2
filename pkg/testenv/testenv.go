// Package testenv starts the real parts Mongotron's tests run against, in
// process and on random loopback ports: a NATS server with JetStream and a
// FerretDB (MongoDB wire protocol) server on SQLite in a temporary
// directory. It is imported by tests and the dev stack only; no service
// binary may link it.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"
)

// NATS is an embedded NATS server with JetStream.
type NATS struct {
	Server *natsserver.Server
	dir    string
}

// NATSConfig configures [StartNATS]. The zero value is a JetStream server on
// a random loopback port with its store in a fresh temporary directory.
type NATSConfig struct {
	// StoreDir holds JetStream data. Empty means a new temporary directory,
	// removed by Shutdown.
	StoreDir string
	// Port is the client port. Zero means a random free port.
	Port int
}

// StartNATS starts a NATS server and waits until it accepts clients (10 s at
// most).
func StartNATS(cfg NATSConfig) (*NATS, error) {
	dir := cfg.StoreDir
	tmp := ""
	if dir == "" {
		d, err := os.MkdirTemp("", "mongotron-nats-*")
		if err != nil {
			return nil, fmt.Errorf("testenv: nats store: %w", err)
		}
		dir, tmp = d, d
	}
	port := cfg.Port
	if port == 0 {
		port = -1
	}
	opts := &natsserver.Options{
		Host:      "127.0.0.1",
		Port:      port,
		NoLog:     true,
		NoSigs:    true,
		JetStream: true,
		StoreDir:  dir,
		// Tests publish bursts far larger than the defaults allow for a
		// slow consumer; the edge has its own slow-consumer policy.
		MaxPayload:         8 << 20,
		MaxPending:         256 << 20,
		JetStreamMaxMemory: 1 << 30,
		JetStreamMaxStore:  8 << 30,
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("testenv: nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("testenv: nats: not ready within 10s")
	}
	return &NATS{Server: s, dir: tmp}, nil
}

// URL is the client URL, nats://127.0.0.1:<port>.
func (n *NATS) URL() string { return n.Server.ClientURL() }

// Shutdown stops the server and removes a temporary store.
func (n *NATS) Shutdown() {
	n.Server.Shutdown()
	n.Server.WaitForShutdown()
	if n.dir != "" {
		_ = os.RemoveAll(n.dir)
	}
}

// RunNATS starts a NATS server for a test and shuts it down on cleanup.
func RunNATS(tb testing.TB) *NATS {
	tb.Helper()
	n, err := StartNATS(NATSConfig{StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Shutdown)
	return n
}

// Mongo is an embedded FerretDB with the SQLite backend.
type Mongo struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
	dir    string
}

// MongoConfig configures [StartMongo]. The zero value is a server on a
// random loopback port with its data in a fresh temporary directory.
type MongoConfig struct {
	// Dir holds the SQLite files. Empty means a new temporary directory,
	// removed by Shutdown.
	Dir string
	// Addr is the listen address. Empty means 127.0.0.1:0.
	Addr string
	// Logger receives FerretDB's logs. Nil discards them.
	Logger *slog.Logger
}

// ferretMu serialises construction: FerretDB's New writes a package-level
// version field, which the race detector flags when two start at once.
var ferretMu sync.Mutex

// StartMongo starts FerretDB and returns once it listens.
func StartMongo(cfg MongoConfig) (*Mongo, error) {
	dir, tmp := cfg.Dir, ""
	if dir == "" {
		d, err := os.MkdirTemp("", "mongotron-ferretdb-*")
		if err != nil {
			return nil, fmt.Errorf("testenv: ferretdb dir: %w", err)
		}
		dir, tmp = d, d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("testenv: ferretdb dir: %w", err)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	logger := cfg.Logger
	if logger == nil {
		// Not a text handler writing to io.Discard: FerretDB calls With
		// with every SQL statement and its arguments before it logs at
		// debug level, and a text handler formats those attributes at
		// once, whatever its level. That was 18 % of the CPU of a
		// webhook benchmark's inserts; the discard handler drops them
		// unformatted.
		logger = slog.New(slog.DiscardHandler)
	}
	ferretMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    logger,
	})
	ferretMu.Unlock()
	if err != nil {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return nil, fmt.Errorf("testenv: ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mongo{cancel: cancel, done: make(chan struct{}), dir: tmp}
	go func() {
		defer close(m.done)
		_ = f.Run(ctx)
	}()
	m.uri = f.MongoDBURI()
	return m, nil
}

// URI is the mongodb:// URI clients connect to.
func (m *Mongo) URI() string { return m.uri }

// Shutdown stops the server, waits for it, and removes a temporary
// directory.
func (m *Mongo) Shutdown() {
	m.cancel()
	<-m.done
	if m.dir != "" {
		_ = os.RemoveAll(m.dir)
	}
}

// RunMongo starts FerretDB for a test and shuts it down on cleanup.
func RunMongo(tb testing.TB) *Mongo {
	tb.Helper()
	m, err := StartMongo(MongoConfig{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Shutdown)
	return m
}

// GoleakOptions lists goroutines of the embedded servers' libraries that
// outlive a clean shutdown by design, for goleak.VerifyTestMain. It is empty
// today; tests call it so a library upgrade that needs an entry has one
// place to add it.
func GoleakOptions() []goleak.Option { return nil }
