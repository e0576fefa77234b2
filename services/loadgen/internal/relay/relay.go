// Package relay is the bare NATS→WebSocket relay edgebench measures the
// edge beside: it subscribes to a subscription's events subject once its
// first stream opens and writes each message to that subscription's
// streams, with one reader and one writer goroutine per connection and
// nothing else (no replay, no chain checks, no heartbeats). It answers
// the few REST calls edgebench makes of an edge (keys, subscriptions,
// readiness, metrics) so the same scenarios run against it unchanged.
package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/mongotron/mongotron/pkg/bus"
)

// Defaults of [Config]'s zero values.
const (
	DefaultQueue        = 256
	DefaultWriteTimeout = 10 * time.Second
)

// Config configures a [Relay].
type Config struct {
	// NATS is the connection the events arrive on. It is required; the
	// caller owns it.
	NATS *nats.Conn
	// Queue is how many messages a connection may have waiting; one more
	// closes it (4008). Zero means [DefaultQueue].
	Queue int
	// WriteTimeout bounds one write. Zero means [DefaultWriteTimeout].
	WriteTimeout time.Duration
}

// Relay serves the streams; it is an http.Handler.
type Relay struct {
	cfg      Config
	upgrader websocket.Upgrader
	mux      *http.ServeMux
	conns    atomic.Int64
	sent     atomic.Uint64
	wg       sync.WaitGroup

	mu     sync.Mutex
	closed bool
	topics map[string]*topic
}

type topic struct {
	sub   *nats.Subscription
	mu    sync.RWMutex
	conns map[*conn]struct{}
}

type conn struct {
	ws     *websocket.Conn
	out    chan []byte
	closed chan struct{}
	once   sync.Once
	code   int // the close code, set by the first close
}

// close ends the stream with code; later calls do nothing.
func (c *conn) close(code int) {
	c.once.Do(func() {
		c.code = code
		close(c.closed)
	})
}

// New returns a relay; [Relay.Close] ends its streams.
func New(cfg Config) (*Relay, error) {
	if cfg.NATS == nil {
		return nil, errors.New("relay: Config.NATS is required")
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	r := &Relay{
		cfg:    cfg,
		topics: make(map[string]*topic),
		mux:    http.NewServeMux(),
		upgrader: websocket.Upgrader{
			ReadBufferSize: 256, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{},
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	r.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.mux.HandleFunc("POST /v1/keys", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, map[string]string{"key": randomID("key_")}) })
	r.mux.HandleFunc("POST /v1/subscriptions", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, map[string]string{"id": randomID("sub_")}) })
	r.mux.HandleFunc("GET /metrics", r.metrics)
	r.mux.HandleFunc("GET /v1/subscriptions/{id}/stream", r.stream)
	return r, nil
}

func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(v)
}

func randomID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// metrics writes the series edgebench reads of an edge, under the edge's
// names.
func (r *Relay) metrics(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(w, "mongotron_edge_stream_connections %d\n", r.conns.Load())
	fmt.Fprintf(w, "mongotron_edge_stream_messages_sent_total %d\n", r.sent.Load())
	fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
	fmt.Fprintf(w, "go_memstats_stack_inuse_bytes %d\n", ms.StackInuse)
	fmt.Fprintf(w, "go_goroutines %d\n", runtime.NumGoroutine())
}

func (r *Relay) stream(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	ws, err := r.upgrader.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	c := &conn{ws: ws, out: make(chan []byte, r.cfg.Queue), closed: make(chan struct{})}
	if err := r.join(id, c); err != nil {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseServiceRestart, "relay: "+err.Error()), time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	r.conns.Add(1)
	r.wg.Add(2)
	go r.read(c)
	go r.write(id, c)
}

// join adds c to its subscription's topic, subscribing to NATS for the
// first.
func (r *Relay) join(id string, c *conn) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("closed")
	}
	t := r.topics[id]
	if t == nil {
		t = &topic{conns: make(map[*conn]struct{})}
		sub, err := r.cfg.NATS.Subscribe(bus.EventsSubject(id), func(m *nats.Msg) { t.forward(m.Data) })
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		t.sub = sub
		r.topics[id] = t
	}
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	return nil
}

func (t *topic) forward(data []byte) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for c := range t.conns {
		select {
		case c.out <- data:
		default:
			c.close(4008) // slow consumer
		}
	}
}

func (r *Relay) leave(id string, c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.topics[id]
	if t == nil {
		return
	}
	t.mu.Lock()
	delete(t.conns, c)
	n := len(t.conns)
	t.mu.Unlock()
	if n == 0 {
		_ = t.sub.Unsubscribe()
		delete(r.topics, id)
	}
}

func (r *Relay) read(c *conn) {
	defer r.wg.Done()
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			c.close(websocket.CloseNormalClosure)
			return
		}
	}
}

func (r *Relay) write(id string, c *conn) {
	defer r.wg.Done()
	defer r.conns.Add(-1)
	defer r.leave(id, c)
	defer func() { _ = c.ws.Close() }()
	hello := []byte(`{"type":"hello","subscription_id":"` + id + `","resumed":false,"heartbeat_s":0}`)
	if err := c.send(hello, r.cfg.WriteTimeout); err != nil {
		return
	}
	for {
		select {
		case <-c.closed:
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, ""), time.Now().Add(time.Second))
			return
		case m := <-c.out:
			if err := c.send(m, r.cfg.WriteTimeout); err != nil {
				return
			}
			r.sent.Add(1)
		}
	}
}

func (c *conn) send(m []byte, timeout time.Duration) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(timeout))
	return c.ws.WriteMessage(websocket.TextMessage, m)
}

// Close ends every stream and waits for their goroutines.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	var all []*conn
	for _, t := range r.topics {
		t.mu.RLock()
		for c := range t.conns {
			all = append(all, c)
		}
		t.mu.RUnlock()
	}
	r.mu.Unlock()
	for _, c := range all {
		c.close(websocket.CloseGoingAway)
		_ = c.ws.SetReadDeadline(time.Now()) // unblocks the reader
	}
	r.wg.Wait()
}

// Run serves on addr until ctx ends.
func Run(ctx context.Context, r *Relay, addr string) error {
	srv := &http.Server{Addr: addr, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("relay: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	r.Close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("relay: serve: %w", err)
	}
	return nil
}
