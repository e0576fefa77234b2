package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
)

// env is one test's slice of the shared servers: its own NATS connection
// and database.
type env struct {
	nc *nats.Conn
	db *mongo.Database
}

func randomID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	nc, err := nats.Connect(testNATS.URL())
	require.NoError(tb, err)
	tb.Cleanup(nc.Close)
	db := testMongo.Database(randomID("t_"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = store.EnsureIndexes(ctx, db, 0)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
	})
	return &env{nc: nc, db: db}
}

// publisher writes events as the ingest does: to MongoDB first, then the
// same bytes to NATS.
type publisher struct {
	env  *env
	sub  string
	step uint64
	all  []string // cursors, in order
	pad  int      // bytes of padding per event
}

func (p *publisher) publish(tb testing.TB, n int) {
	tb.Helper()
	require.NoError(tb, p.tryPublish(n))
}

// tryPublish is publish for a goroutine other than the test's, which must
// not stop the test: it returns the first failure instead.
func (p *publisher) tryPublish(n int) error {
	ctx := context.Background()
	docs := make([]store.EventDoc, n)
	for i := range docs {
		p.step++
		c := testCursor(p.step, 0)
		msg := testEvent(p.sub, c, int(p.step), time.Now().UnixNano())
		if p.pad > 0 {
			msg = append(msg[:len(msg)-1], `,"pad":"`+strings.Repeat("x", p.pad)+`"}`...)
		}
		docs[i] = store.EventDoc{
			ID: store.EventDocID(p.sub, c), SubscriptionID: p.sub, Cursor: c,
			EventID: "tx" + c + ":0", Kind: "trx_transfer", CreatedAt: time.Now(), JSON: msg,
		}
	}
	// All stored, in the events and the history pages, before any is
	// published, as the ingest does a step's.
	if err := store.AppendEvents(ctx, p.env.db, docs...); err != nil {
		return fmt.Errorf("store events after %s: %w", p.last(), err)
	}
	for _, d := range docs {
		if err := p.env.nc.PublishMsg(linkedMsg(p.sub, d.JSON, p.last())); err != nil {
			return fmt.Errorf("publish event %s: %w", d.Cursor, err)
		}
		p.all = append(p.all, d.Cursor)
	}
	return nil
}

// last returns the cursor of the last event published, "" before the
// first.
func (p *publisher) last() string {
	if len(p.all) == 0 {
		return ""
	}
	return p.all[len(p.all)-1]
}

// linkedMsg is an event message of sub linked to prev, as the ingest
// publishes it.
func linkedMsg(sub string, data []byte, prev string) *nats.Msg {
	m := nats.NewMsg(bus.EventsSubject(sub))
	m.Data = data
	if prev != "" {
		m.Header.Set(bus.PrevCursorHeader, prev)
	}
	return m
}

func (e *env) control(tb testing.TB, subject string, v any) {
	tb.Helper()
	b, err := json.Marshal(v)
	require.NoError(tb, err)
	require.NoError(tb, e.nc.Publish(subject, b))
	require.NoError(tb, e.nc.Flush())
}

// server is a running hub behind an httptest server. Requests name the
// subscription, key and cursor in the query: ?sub=&key=&after=.
type server struct {
	hub *Hub
	url string
}

func startHub(tb testing.TB, e *env, cfg Config) *server {
	tb.Helper()
	return startHubSndBuf(tb, e, cfg, 0)
}

// smallBufListener sets a fixed send buffer on accepted sockets, so a
// client that stops reading backs the server's writes up quickly.
type smallBufListener struct {
	net.Listener
	size int
}

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// startHubSndBuf is startHub with the server's socket send buffer set to
// sndbuf bytes (0: the system's autotuned default).
func startHubSndBuf(tb testing.TB, e *env, cfg Config, sndbuf int) *server {
	tb.Helper()
	return startHubWith(tb, e, cfg, sndbuf, nil)
}

// startHubWith is startHubSndBuf with the NATS broker passed through wrap
// (nil: none).
func startHubWith(tb testing.TB, e *env, cfg Config, sndbuf int, wrap func(Broker) Broker) *server {
	tb.Helper()
	if wrap == nil {
		wrap = func(b Broker) Broker { return b }
	}
	cfg.NATS, cfg.DB = e.nc, e.db
	if cfg.Logger == nil && os.Getenv("MONGOTRON_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := newNATSHub(cfg, wrap)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	select {
	case <-h.running:
	case err := <-done:
		tb.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		h.Serve(w, r, Request{SubscriptionID: q.Get("sub"), Tenant: "acme", KeyID: q.Get("key"), After: q.Get("after")})
	}))
	if sndbuf > 0 {
		srv.Listener = smallBufListener{Listener: srv.Listener, size: sndbuf}
	}
	srv.Start()
	tb.Cleanup(func() {
		srv.Close()
		ctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		require.NoError(tb, h.Shutdown(ctx))
		h.Close()
		cancel()
		require.NoError(tb, <-done)
	})
	return &server{hub: h, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

// client is a test WebSocket client.
type client struct {
	ws *websocket.Conn
}

func (s *server) dial(tb testing.TB, sub, key, after string) *client {
	tb.Helper()
	q := url.Values{"sub": {sub}, "key": {key}, "after": {after}}
	ws, resp, err := websocket.DefaultDialer.Dial(s.url+"/?"+q.Encode(), nil)
	require.NoError(tb, err)
	_ = resp.Body.Close()
	tb.Cleanup(func() { _ = ws.Close() })
	return &client{ws: ws}
}

type frame struct {
	Type    string `json:"type"`
	Cursor  string `json:"cursor"`
	Resumed bool   `json:"resumed"`
	Head    int64  `json:"head_block"`
	Solid   int64  `json:"solidified_block"`
	Beat    int64  `json:"heartbeat_s"`
}

// next reads one frame; err is a *websocket.CloseError at the end.
func (c *client) next(timeout time.Duration) (frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, err
	}
	return f, nil
}

// events reads n event frames, skipping heartbeats.
func (c *client) events(tb testing.TB, n int) []string {
	tb.Helper()
	var out []string
	for len(out) < n {
		f, err := c.next(10 * time.Second)
		require.NoError(tb, err, "after %d of %d events", len(out), n)
		if f.Type == "event" {
			out = append(out, f.Cursor)
		}
	}
	return out
}

// closeCode reads until the server closes and returns the close code.
func (c *client) closeCode(timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		_ = c.ws.SetReadDeadline(deadline)
		if _, _, err := c.ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			return -1
		}
	}
}

func (c *client) hello(tb testing.TB) frame {
	tb.Helper()
	f, err := c.next(10 * time.Second)
	require.NoError(tb, err)
	require.Equal(tb, "hello", f.Type)
	return f
}

func TestHub_LiveAndResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := startHub(t, e, Config{})
	p := &publisher{env: e, sub: randomID("sub_"), step: 100}
	p.publish(t, 20)

	tests := []struct {
		name        string
		after       string
		wantResumed bool
		want        []string // stored events replayed before live ones
	}{
		{"live only", "", false, nil},
		{"resume mid", p.all[9], true, p.all[10:]},
		{"resume at end", p.all[19], true, nil},
		{"older than retention", testCursor(1, 0), false, p.all},
	}
	clients := make([]*client, len(tests))
	for i, tt := range tests {
		clients[i] = s.dial(t, p.sub, "k1", tt.after)
		h := clients[i].hello(t)
		require.Equal(t, tt.wantResumed, h.Resumed, tt.name)
		require.Equal(t, int64(15), h.Beat)
	}
	p.publish(t, 10)
	for i, tt := range tests {
		want := append(append([]string(nil), tt.want...), p.all[20:]...)
		require.Equal(t, want, clients[i].events(t, len(want)), tt.name)
	}
}

func TestHub_ResumeAcrossEdges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	edges := []*server{startHub(t, e, Config{ReplayBatch: 7}), startHub(t, e, Config{ReplayBatch: 7})}
	p := &publisher{env: e, sub: randomID("sub_")}
	const total = 400
	var (
		mu     sync.Mutex
		pubErr error // the publisher's failure, under mu
	)
	pubDone := make(chan struct{})
	// The first stream has no cursor (live from now), so it must be live
	// before the first event is published.
	first := edges[0].dial(t, p.sub, "k", "")
	first.hello(t)
	go func() {
		defer close(pubDone)
		for range total / 10 {
			mu.Lock()
			err := p.tryPublish(10)
			pubErr = err
			mu.Unlock()
			if err != nil {
				return
			}
			time.Sleep(time.Millisecond) // pace it so reconnects land mid-stream
		}
	}()
	var got []string
	last := ""
	for i := 0; len(got) < total; i++ {
		c := first
		if i > 0 {
			c = edges[i%2].dial(t, p.sub, "k", last)
			c.hello(t)
		}
		// Read a random-ish number of events, then drop the socket.
		n := min(total-len(got), 13+i*17%50)
		var evs []string
		for len(evs) < n {
			f, err := c.next(10 * time.Second)
			if err != nil {
				mu.Lock()
				require.NoError(t, pubErr, "publishing")
				t.Fatalf("reconnect %d after %q: %d of %d events: %v; published %d, got %d, last published %s, got tail %v", i, last, len(evs), n, err, len(p.all), len(got), p.all[len(p.all)-1], evs)
			}
			if f.Type == "event" {
				evs = append(evs, f.Cursor)
			}
		}
		got = append(got, evs...)
		last = evs[len(evs)-1]
		_ = c.ws.Close()
	}
	<-pubDone
	mu.Lock()
	defer mu.Unlock()
	require.NoError(t, pubErr, "publishing")
	require.Equal(t, p.all, got, "the concatenation equals the uninterrupted stream")
}

func TestHub_DeleteClosesStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := startHub(t, e, Config{})
	sub, other := randomID("sub_"), randomID("sub_")
	const n = 100
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = s.dial(t, sub, "k", "")
		clients[i].hello(t)
	}
	bystander := s.dial(t, other, "k", "")
	bystander.hello(t)
	start := time.Now()
	e.control(t, bus.SubscriptionsSubject, bus.SubscriptionChange{Op: bus.OpDelete, SubscriptionID: sub, Version: 3})
	codes := make(chan int, n)
	for _, c := range clients {
		go func() { codes <- c.closeCode(5 * time.Second) }()
	}
	for range n {
		require.Equal(t, 4404, <-codes)
	}
	require.Less(t, time.Since(start), time.Second, "all closed within a second")
	// The other subscription's stream is untouched.
	po := &publisher{env: e, sub: other}
	po.publish(t, 1)
	require.Equal(t, po.all, bystander.events(t, 1))
}

func TestHub_DeleteWhileClientsLeave(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := startHub(t, e, Config{})
	sub := randomID("sub_")
	const n = 60
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = s.dial(t, sub, "k", "")
		clients[i].hello(t)
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		if i%2 == 0 {
			wg.Go(func() {
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
			})
		}
	}
	e.control(t, bus.SubscriptionsSubject, bus.SubscriptionChange{Op: bus.OpDelete, SubscriptionID: sub, Version: 3})
	wg.Wait()
	for i, c := range clients {
		code := c.closeCode(5 * time.Second)
		if i%2 == 0 {
			require.Contains(t, []int{1000, 4404}, code)
		} else {
			require.Equal(t, 4404, code)
		}
	}
	requireEventually(t, func() bool { return s.hub.count() == 0 })
}

func TestHub_Shutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := startHub(t, e, Config{})
	sub := randomID("sub_")
	clients := make([]*client, 20)
	for i := range clients {
		clients[i] = s.dial(t, sub, "k", "")
		clients[i].hello(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.hub.Shutdown(ctx))
	for _, c := range clients {
		require.Equal(t, 1012, c.closeCode(5*time.Second))
	}
	late := s.dial(t, sub, "k", "")
	require.Equal(t, 1012, late.closeCode(5*time.Second))
}

func TestHub_Refusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := startHub(t, e, Config{MaxConns: 2})
	sub := randomID("sub_")
	k1 := s.dial(t, sub, "key_1", "")
	k1.hello(t)
	k2 := s.dial(t, sub, "key_2", "")
	k2.hello(t)

	third := s.dial(t, sub, "key_2", "")
	require.Equal(t, 4029, third.closeCode(5*time.Second), "too many connections")

	e.control(t, bus.KeysSubject, bus.KeyChange{Op: bus.OpRevoke, KeyID: "key_1"})
	require.Equal(t, 1008, k1.closeCode(5*time.Second), "revoked key")

	require.NoError(t, k2.ws.WriteMessage(websocket.TextMessage, make([]byte, 5000)))
	require.Equal(t, 1009, k2.closeCode(5*time.Second), "frame over 4 KiB")

	requireEventually(t, func() bool { return s.hub.count() == 0 })
	small := s.dial(t, sub, "key_2", "")
	small.hello(t)
	require.NoError(t, small.ws.WriteMessage(websocket.TextMessage, make([]byte, 4096)))
	p := &publisher{env: e, sub: sub}
	p.publish(t, 1)
	require.Equal(t, p.all, small.events(t, 1), "a 4 KiB frame is allowed")
}

func TestHub_Heartbeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := startHub(t, e, Config{HeartbeatInterval: time.Second, PingInterval: 200 * time.Millisecond})
	c := s.dial(t, randomID("sub_"), "k", "")
	pings := make(chan struct{}, 16)
	c.ws.SetPingHandler(func(string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return nil
	})
	require.Equal(t, int64(1), c.hello(t).Beat)
	e.control(t, bus.HeadSubject, bus.Head{Block: 4242, Solidified: 4223, Time: time.Now()})
	requireEventually(t, func() bool { return s.hub.head.Load() == 4242 })
	f, err := c.next(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "heartbeat", f.Type)
	require.Equal(t, int64(4242), f.Head)
	require.Equal(t, int64(4223), f.Solid, "heartbeats carry the solidified block beside the head")
	require.NotEmpty(t, pings, "pinged")
}

// requireEventually polls cond every 10 ms for up to 5 s.
func requireEventually(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
