// Package simtest starts a simulated Tron node for tests: in process, on a
// random loopback port, stopped when the test ends.
package simtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// Start starts a simulator for cfg and returns it with its base URL
// ("http://127.0.0.1:port"). Unless cfg.Instant is set, blocks are
// produced every cfg.BlockInterval in the background. Everything is
// stopped by t.Cleanup, so goleak-checked tests stay clean.
func Start(t testing.TB, cfg sim.Config) (*sim.Sim, string) {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("simtest: %v", err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
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
		srv.CloseClientConnections()
		srv.Close()
		// Idle keep-alive connections of the default client would
		// otherwise outlive the test as goroutines.
		http.DefaultClient.CloseIdleConnections()
	})
	return s, srv.URL
}
