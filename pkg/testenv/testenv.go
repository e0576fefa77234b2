// Package testenv starts the real parts Mongotron's tests run against, in
// process and on random loopback ports: a NATS server with JetStream and a
// FerretDB (MongoDB wire protocol) server on SQLite in a temporary
// directory. For fault-injection tests it also has a NATS cluster whose
// nodes can be killed and restarted ([NATSCluster]), a TCP proxy whose
// link can be cut ([Proxy]), and a FerretDB that can be stopped and
// started again on the same data ([MongoConfig.Restartable]). It is
// imported by tests and the dev stack only; no service binary may link
// it.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
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

// natsTestOptions returns fresh options for a test server with
// JetStream: loopback only, no logs, no signal handlers, and limits sized
// for tests. Each server gets its own copy, since the server keeps and
// may amend the options it was given.
func natsTestOptions() *natsserver.Options {
	return &natsserver.Options{
		Host:      "127.0.0.1",
		NoLog:     true,
		NoSigs:    true,
		JetStream: true,
		// Tests publish bursts far larger than the defaults allow for a
		// slow consumer; the edge has its own slow-consumer policy.
		MaxPayload:         8 << 20,
		MaxPending:         256 << 20,
		JetStreamMaxMemory: 1 << 30,
		JetStreamMaxStore:  8 << 30,
	}
}

// StartNATS starts a NATS server and waits until it accepts clients (10 s at
// most). If Port is set and still taken, by a server that has just shut
// down for instance, it retries for about 2 s.
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
	var (
		s   *natsserver.Server
		err error
	)
	for i := range listenTries {
		opts := natsTestOptions()
		opts.Port = port
		opts.StoreDir = dir
		s, err = startNATSServer(opts)
		if err == nil || !errors.Is(err, errNATSListen) || port == -1 {
			break
		}
		time.Sleep(time.Duration(i+1) * 100 * time.Millisecond)
	}
	if err != nil {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return nil, err
	}
	return &NATS{Server: s, dir: tmp}, nil
}

// errNATSListen marks a start that failed because a port was taken.
var errNATSListen = errors.New("port in use")

// startNATSServer starts a server with opts and waits until it accepts
// clients and routes (10 s at most). A server that cannot listen says so
// only through its logger, and with logs off would just never become
// ready, so a logger that records fatal errors is set until the server
// is up; the error then wraps errNATSListen when a port was taken.
func startNATSServer(opts *natsserver.Options) (*natsserver.Server, error) {
	who := "nats"
	if opts.ServerName != "" {
		who += " " + opts.ServerName
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("testenv: %s: %w", who, err)
	}
	l := &fatalLogger{fatal: make(chan string, 1)}
	s.SetLogger(l, false, false)
	go s.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case msg := <-l.fatal:
			s.Shutdown()
			s.WaitForShutdown()
			// The server hands over only the text, not the error.
			if strings.Contains(msg, "address already in use") {
				return nil, fmt.Errorf("testenv: %s: %s: %w", who, msg, errNATSListen)
			}
			return nil, fmt.Errorf("testenv: %s: %s", who, msg)
		default:
		}
		if s.ReadyForConnections(50 * time.Millisecond) {
			// Back to no logger at all, which costs nothing per call.
			s.SetLogger(nil, false, false)
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			s.WaitForShutdown()
			return nil, fmt.Errorf("testenv: %s: not ready within 10s", who)
		}
	}
}

// fatalLogger drops every log line but the first fatal one, which it
// hands to the starter.
type fatalLogger struct{ fatal chan string }

func (l *fatalLogger) Fatalf(format string, v ...any) {
	select {
	case l.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}

func (*fatalLogger) Noticef(string, ...any) {}
func (*fatalLogger) Warnf(string, ...any)   {}
func (*fatalLogger) Errorf(string, ...any)  {}
func (*fatalLogger) Debugf(string, ...any)  {}
func (*fatalLogger) Tracef(string, ...any)  {}

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

// Mongo is an embedded FerretDB with the SQLite backend. A restartable
// one (see [MongoConfig]) can also be stopped and started again on the
// same address and data, for store-outage tests.
type Mongo struct {
	uri    string
	dir    string // the SQLite directory
	tmp    string // dir, if it is temporary and removed by Shutdown
	logger *slog.Logger
	front  *Proxy // the address clients dial, when restartable

	mu   sync.Mutex         // held through Stop, Start and Shutdown
	stop context.CancelFunc // stops FerretDB; nil while stopped
	done chan struct{}      // closed when FerretDB has stopped
	shut bool               // Shutdown was called
}

// MongoConfig configures [StartMongo]. The zero value is a server on a
// random loopback port with its data in a fresh temporary directory.
type MongoConfig struct {
	// Dir holds the SQLite files. Empty means a new temporary directory,
	// removed by Shutdown.
	Dir string
	// Addr is the listen address. Empty means 127.0.0.1:0. A
	// restartable server turns port 0 into a fixed port at the start and
	// keeps it across restarts.
	Addr string
	// Logger receives FerretDB's logs. Nil discards them.
	Logger *slog.Logger
	// Restartable makes [Mongo.Stop] and [Mongo.Start] available. The
	// server then listens behind a loopback proxy of this package, whose
	// port stays the same across restarts, so that Stop can drop open
	// client connections at once, as a mongod that died would: FerretDB
	// itself, when stopped, lets them go on for 3 s. The extra hop costs
	// about 40 µs a round trip, which would skew benchmarks, so false,
	// the default, means a direct listener, and Stop and Start fail.
	Restartable bool
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
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
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
	m := &Mongo{dir: dir, tmp: tmp, logger: logger}
	if !cfg.Restartable {
		uri, err := m.run(addr)
		if err != nil {
			m.removeTmp()
			return nil, err
		}
		m.uri = uri
		return m, nil
	}
	front, err := fixedAddr(addr)
	if err != nil {
		m.removeTmp()
		return nil, err
	}
	uri, err := m.run("127.0.0.1:0")
	if err != nil {
		m.removeTmp()
		return nil, err
	}
	backend, err := url.Parse(uri)
	if err != nil {
		m.Shutdown()
		return nil, fmt.Errorf("testenv: ferretdb uri: %w", err)
	}
	if m.front, err = startProxy(front, backend.Host, true); err != nil {
		m.Shutdown()
		return nil, err
	}
	m.uri = (&url.URL{Scheme: "mongodb", Host: m.front.Addr(), Path: "/"}).String()
	return m, nil
}

// fixedAddr turns a listen address with port 0 into one with a port
// picked now, so that a restart can listen on it again.
func fixedAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("testenv: ferretdb addr: %w", err)
	}
	if port != "0" {
		return addr, nil
	}
	p, err := pickPort(host)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// run starts FerretDB on addr and the directory, and returns its URI.
// The caller holds m.mu, or has not shared m yet.
func (m *Mongo) run(addr string) (string, error) {
	ferretMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + m.dir + "/",
		Logger:    m.logger,
	})
	ferretMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("testenv: ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	m.stop, m.done = cancel, done
	return f.MongoDBURI(), nil
}

// URI is the mongodb:// URI clients connect to. A restartable server
// keeps it across [Mongo.Stop] and [Mongo.Start].
func (m *Mongo) URI() string { return m.uri }

// errNotRestartable is what Stop and Start return for a server started
// without [MongoConfig.Restartable].
var errNotRestartable = errors.New("testenv: ferretdb: not restartable; set MongoConfig.Restartable")

// Stop makes a restartable server unreachable, as if its process had
// died: the port refuses connections and every open client connection is
// reset at once. It returns once FerretDB has stopped and closed its
// files. Stopping a stopped server does nothing.
func (m *Mongo) Stop() error {
	if m.front == nil {
		return errNotRestartable
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// The cut first: FerretDB's connections then end at once, as the
	// proxy resets them, rather than after FerretDB's 3 s grace.
	m.front.Cut()
	m.halt()
	return nil
}

// Start serves a stopped restartable server again, on the same address
// and the same data, and returns once it accepts connections. Clients
// reconnect by themselves. Starting a running server does nothing.
func (m *Mongo) Start() error {
	if m.front == nil {
		return errNotRestartable
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shut {
		return errors.New("testenv: ferretdb: shut down")
	}
	if m.stop != nil {
		return nil
	}
	uri, err := m.run("127.0.0.1:0")
	if err != nil {
		return err
	}
	backend, err := url.Parse(uri)
	if err != nil {
		m.halt()
		return fmt.Errorf("testenv: ferretdb uri: %w", err)
	}
	m.front.SetTarget(backend.Host)
	if err := m.front.restore(); err != nil {
		m.halt()
		return err
	}
	return nil
}

// halt stops FerretDB, if it runs, and waits until it has. The caller
// holds m.mu, or has not shared m yet.
func (m *Mongo) halt() {
	if m.stop != nil {
		m.stop()
		<-m.done
		m.stop = nil
	}
}

// removeTmp removes a temporary directory.
func (m *Mongo) removeTmp() {
	if m.tmp != "" {
		_ = os.RemoveAll(m.tmp)
	}
}

// Shutdown stops the server, waits for it, and removes a temporary
// directory.
func (m *Mongo) Shutdown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.shut = true
	if m.front != nil {
		m.front.Close()
	}
	m.halt()
	m.removeTmp()
}

// RunMongo starts FerretDB for a test and shuts it down on cleanup.
func RunMongo(tb testing.TB) *Mongo {
	tb.Helper()
	return runMongo(tb, false)
}

// RunRestartableMongo starts a restartable FerretDB (see
// [MongoConfig.Restartable]) for a test and shuts it down on cleanup.
func RunRestartableMongo(tb testing.TB) *Mongo {
	tb.Helper()
	return runMongo(tb, true)
}

func runMongo(tb testing.TB, restartable bool) *Mongo {
	tb.Helper()
	m, err := StartMongo(MongoConfig{Dir: tb.TempDir(), Restartable: restartable})
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
