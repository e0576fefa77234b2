// Package simtest starts a simulated Tron node for tests, or several nodes
// of one chain each with faults of its own: in process, on random loopback
// ports, stopped when the test ends.
package simtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// Start starts a simulator for cfg and returns it with its base URL
// ("http://127.0.0.1:port"). Unless cfg.Instant is set, blocks are
// produced every cfg.BlockInterval in the background. Everything is
// stopped by t.Cleanup, so goleak-checked tests stay clean.
func Start(t testing.TB, cfg sim.Config) (*sim.Sim, string) {
	t.Helper()
	s := start(t, cfg)
	return s, serveHTTP(t, s.Handler())
}

// Node is one endpoint of a simulated chain, served on its own loopback
// ports.
type Node struct {
	// HTTP is the base URL of the java-tron HTTP API and the control API,
	// "http://127.0.0.1:port".
	HTTP string
	// GRPC is the base URL of the Wallet and WalletSolidity gRPC services,
	// "grpc://127.0.0.1:port".
	GRPC string
	// Endpoint changes the node's faults while the test runs.
	Endpoint *sim.Endpoint
}

// StartNodes starts one simulator for cfg and n endpoints of its chain,
// each on its own HTTP and gRPC ports and starting with cfg's faults (ErrorRate, Latency,
// RateLimit); the first is the simulator's default endpoint. Blocks are
// produced as by [Start]. Everything is stopped by t.Cleanup.
func StartNodes(t testing.TB, cfg sim.Config, n int) (*sim.Sim, []Node) {
	t.Helper()
	if n < 1 {
		t.Fatalf("simtest: %d nodes: want at least one", n)
	}
	s := start(t, cfg)
	nodes := make([]Node, n)
	for i := range nodes {
		e := s.Endpoint()
		if i > 0 {
			e = s.NewEndpoint(sim.Faults{ErrorRate: cfg.ErrorRate, Latency: cfg.Latency, RateLimit: cfg.RateLimit})
		}
		nodes[i] = Node{HTTP: serveHTTP(t, e.Handler()), GRPC: serveGRPC(t, e), Endpoint: e}
	}
	return s, nodes
}

// start makes a simulator for cfg and runs it until the test ends. The
// cleanup is registered before any server's, so it runs after theirs:
// the servers stop first, then block production.
func start(t testing.TB, cfg sim.Config) *sim.Sim {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("simtest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("simtest: run: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return s
}

// serveHTTP serves h on a random loopback port until the test ends and
// returns its base URL.
func serveHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	// Replaced by ln below, before the server starts.
	if err := srv.Listener.Close(); err != nil {
		t.Fatalf("simtest: close the default listener: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("simtest: listen: %v", err)
	}
	srv.Listener = ln
	srv.Config.ReadHeaderTimeout = sim.ReadHeaderTimeout
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		// Idle keep-alive connections of the default client would
		// otherwise outlive the test as goroutines.
		http.DefaultClient.CloseIdleConnections()
	})
	return srv.URL
}

// serveGRPC serves e's gRPC services on a random loopback port until the
// test ends and returns their base URL.
func serveGRPC(t testing.TB, e *sim.Endpoint) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("simtest: listen: %v", err)
	}
	srv := grpc.NewServer()
	e.RegisterGRPC(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Serve returns nil once Stop is called.
		if err := srv.Serve(ln); err != nil {
			t.Errorf("simtest: serve gRPC: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return "grpc://" + ln.Addr().String()
}
