package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/services/edge/internal/app"
)

// edgeSlot is a fixed address in front of an edge, as a load balancer
// would be, so that the edge can restart on another port under its
// clients: url stays, the edge behind it changes.
type edgeSlot struct {
	t     *testing.T
	flags []string
	proxy *httptest.Server
	url   string

	target atomic.Pointer[url.URL]
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// newEdgeSlot starts an edge with flags behind a new slot; transport, if
// not nil, carries the proxy's requests (to check them on the way). The
// edge stops when the test ends.
func newEdgeSlot(t *testing.T, flags []string, transport http.RoundTripper) *edgeSlot {
	t.Helper()
	s := &edgeSlot{t: t, flags: flags}
	s.proxy = httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:      func(r *httputil.ProxyRequest) { r.SetURL(s.target.Load()) },
		Transport:    transport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) },
	})
	t.Cleanup(s.proxy.Close)
	s.url = s.proxy.URL
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start runs a new edge process-alike behind the slot.
func (s *edgeSlot) start() {
	s.t.Helper()
	cfg, err := load(s.t, s.flags, nil)
	require.NoError(s.t, err)
	a, err := app.New(s.t.Context(), cfg, logging.Discard())
	require.NoError(s.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	s.target.Store(&url.URL{Scheme: "http", Host: a.Addr().String()})
	s.mu.Lock()
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
}

// stop stops the slot's edge: its streams close with 1012.
func (s *edgeSlot) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(s.t, err)
	case <-time.After(20 * time.Second):
		s.t.Fatal("the edge did not stop")
	}
}

// eventsStream connects to the NATS server at natsURL and creates the
// ingest's events stream there, which the edge replays from and its
// webhook consumer reads, as the ingest would at start.
func eventsStream(t *testing.T, natsURL string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateOrUpdateStream(t.Context(), bus.EventsStreamConfig(0, 1))
	require.NoError(t, err)
	return js
}
