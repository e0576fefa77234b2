package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	mtclient "github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
)

// chainEnv is NATS with the ingest's events stream, FerretDB, and a
// publisher in the ingest's place: it stores each event of a subscription,
// then publishes it through JetStream, linked to the one before (its
// prev_cursor, and the header), as the ingest does. Edges run behind
// stable addresses (slots), so that one can restart under its clients.
type chainEnv struct {
	t     *testing.T
	flags []string
	db    *mongo.Database
	js    jetstream.JetStream

	mu      sync.Mutex
	step    uint64
	cursors map[string][]string // per subscription, in order
}

func newChainEnv(t *testing.T) *chainEnv {
	t.Helper()
	n := testenv.RunNATS(t)
	m := testenv.RunMongo(t)
	js := eventsStream(t, n.URL())
	name, err := store.DatabaseName(m.URI())
	require.NoError(t, err)
	mc, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	return &chainEnv{
		t: t, db: mc.Database(name), js: js, step: 100, cursors: map[string][]string{},
		flags: []string{"--nats.url=" + n.URL(), "--mongo.uri=" + m.URI(), "--shutdown-timeout=5s",
			"--http.addr=127.0.0.1:0", "--admin-key=" + testAdminKey, "--api.rate-limit=-1",
			"--webhook.allow-http-hosts=127.0.0.1", "--webhook.allow-private=127.0.0.1/32"},
	}
}

// slot is a stable address in front of an edge that may restart.
// edge starts an edge of the environment behind a slot of its own.
func (e *chainEnv) edge() *edgeSlot {
	e.t.Helper()
	return newEdgeSlot(e.t, e.flags, nil)
}

func (e *chainEnv) client(base, key string) *mtclient.Client {
	e.t.Helper()
	c, err := mtclient.New(base, mtclient.APIKey(key))
	require.NoError(e.t, err)
	return c
}

// tenant makes a tenant key and a subscription through base.
func (e *chainEnv) tenant(base string, body mtclient.CreateRequest) (key, subID string) {
	e.t.Helper()
	k, err := e.client(base, testAdminKey).CreateKey(e.t.Context(), "acme")
	require.NoError(e.t, err)
	sub, err := e.client(base, k.Key).CreateSubscription(e.t.Context(), body)
	require.NoError(e.t, err)
	return k.Key, sub.ID
}

// publish stores and publishes n events of sub, each linked to the one
// before, and returns their cursors.
func (e *chainEnv) publish(sub string, n int) []string {
	e.t.Helper()
	from, err := tron.ParseAddress(addrA)
	require.NoError(e.t, err)
	to, err := tron.ParseAddress(addrB)
	require.NoError(e.t, err)
	var out []string
	for range n {
		e.mu.Lock()
		e.step++
		step := e.step
		prev := ""
		if l := e.cursors[sub]; len(l) > 0 {
			prev = l[len(l)-1]
		}
		e.mu.Unlock()
		ev := event.Event{
			ID: fmt.Sprintf("%064x:0", step), SubscriptionID: sub, Kind: event.KindTRXTransfer, Network: tron.NetworkMainnet,
			Block: event.BlockRef{Number: int64(step), ID: fmt.Sprintf("%064x", step), Timestamp: time.Unix(1_735_787_045+int64(step)*3, 0).UTC()},
			TxID:  fmt.Sprintf("%064x", step), Success: true, Watched: to, Direction: event.DirectionIn,
			From: from, To: to, Amount: tron.AmountFromInt64(int64(step)), Flags: []event.Flag{},
		}
		ev.Cursor, ev.PrevCursor = cursor.Cursor{Step: step}.String(), prev
		doc, err := store.NewEventDoc(&ev, time.Now().UTC())
		require.NoError(e.t, err)
		require.NoError(e.t, store.AppendEvents(e.t.Context(), e.db, doc))
		m := &nats.Msg{Subject: bus.EventsSubject(sub), Data: doc.JSON, Header: nats.Header{}}
		if prev != "" {
			m.Header.Set(bus.PrevCursorHeader, prev)
		}
		_, err = e.js.PublishMsg(e.t.Context(), m, jetstream.WithMsgID(bus.MsgID(sub, ev.ID, ev.Block.ID, false)))
		require.NoError(e.t, err)
		e.mu.Lock()
		e.cursors[sub] = append(e.cursors[sub], ev.Cursor)
		e.mu.Unlock()
		out = append(out, ev.Cursor)
	}
	return out
}

// reader reads a stream in the background, keeping what it got.
type reader struct {
	s    *mtclient.Stream
	mu   sync.Mutex
	evs  []mtclient.Event
	done chan struct{}
	// chain holds the states of its chain check: breaks, recoveries.
	chain []mtclient.State
}

// openStream opens a stream of sub through c and reads it in the
// background, once it is connected: a live-only stream gets what is
// published from then on.
func openStream(t *testing.T, c *mtclient.Client, sub, after string) *reader {
	t.Helper()
	connected := make(chan struct{})
	var once sync.Once
	r := &reader{done: make(chan struct{})}
	opts := mtclient.StreamOptions{After: after, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		StateHandler: func(st mtclient.State) {
			switch st.Status {
			case mtclient.StatusConnected:
				once.Do(func() { close(connected) })
			case mtclient.StatusChainBroken, mtclient.StatusChainRecovered:
				r.mu.Lock()
				r.chain = append(r.chain, st)
				r.mu.Unlock()
			}
		}}
	s := c.Stream(context.Background(), sub, opts)
	r.s = s
	go func() {
		defer close(r.done)
		for {
			ev, err := s.Next(context.Background())
			if err != nil {
				return
			}
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = s.Close(); <-r.done })
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream did not connect")
	}
	return r
}

func (r *reader) cursors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.evs))
	for i, ev := range r.evs {
		out[i] = ev.Cursor
	}
	return out
}

// wait waits until r got want, exactly.
func (r *reader) wait(t *testing.T, what string, want []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(r.cursors()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, want, r.cursors(), what)
}

// requireChain requires each event r got to name the one before it, the
// first naming first.
func (r *reader) requireChain(t *testing.T, first string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.evs)
	prev := first
	for _, ev := range r.evs {
		require.True(t, ev.Linked(), "%s carries prev_cursor", ev.Cursor)
		require.Equal(t, prev, ev.PrevCursor, "the link of %s", ev.Cursor)
		prev = ev.Cursor
	}
}

// replays is the edge's count of replays served by source.
func replays(t *testing.T, base, source string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v float64
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, `mongotron_edge_stream_replays_total{source="`+source+`"} `); ok {
			_, err := fmt.Sscan(rest, &v)
			require.NoError(t, err)
		}
	}
	return v
}

// TestChain_linksAcrossEdgesRestartsAndReplays: what clients get names
// its predecessor exactly, live, replayed from the events stream and
// replayed from MongoDB, on two edges, across an edge restart; history
// says the same.
func TestChain_linksAcrossEdgesRestartsAndReplays(t *testing.T) {
	t.Parallel()
	e := newChainEnv(t)
	one, two := e.edge(), e.edge()
	key, sub := e.tenant(one.url, mtclient.CreateRequest{Kinds: []string{"trx_transfer"}})
	c1, c2 := e.client(one.url, key), e.client(two.url, key)

	evs := e.publish(sub, 5)
	// Replayed from the events stream, then live, on edge one; live
	// only on edge two.
	replayed := openStream(t, c1, sub, evs[0])
	replayed.wait(t, "the replay", evs[1:])
	live := openStream(t, c2, sub, "")
	evs = append(evs, e.publish(sub, 5)...)
	replayed.wait(t, "live on edge one", evs[1:])
	live.wait(t, "live on edge two", evs[5:])

	// Edge one restarts; events come while it is down; its client resumes
	// from its cursor through the new edge.
	one.stop()
	evs = append(evs, e.publish(sub, 2)...)
	one.start()
	evs = append(evs, e.publish(sub, 3)...)
	replayed.wait(t, "after the restart", evs[1:])
	live.wait(t, "edge two meanwhile", evs[5:])

	// A resume from far back after the events stream dropped most of the
	// subscription's messages (as its max age would): MongoDB serves it.
	s, err := e.js.Stream(t.Context(), bus.EventsStream)
	require.NoError(t, err)
	require.NoError(t, s.Purge(t.Context(), jetstream.WithPurgeSubject(bus.EventsSubject(sub)), jetstream.WithPurgeKeep(3)))
	old := openStream(t, c2, sub, evs[1])
	old.wait(t, "the replay from MongoDB", evs[2:])

	require.Positive(t, replays(t, one.url, "jetstream"), "edge one replayed from the events stream")
	require.Positive(t, replays(t, two.url, "mongodb"), "edge two replayed from MongoDB")

	replayed.requireChain(t, evs[0])
	live.requireChain(t, evs[4])
	old.requireChain(t, evs[1])
	for _, r := range []*reader{replayed, live, old} {
		require.Equal(t, mtclient.ChainStats{}, r.s.ChainStats(), "no break")
	}

	// History: the whole chain, from the subscription's first event.
	prev := ""
	n := 0
	for ev, err := range c1.AllHistory(t.Context(), sub, mtclient.HistoryOptions{Limit: 4}) {
		require.NoError(t, err)
		require.Equal(t, prev, ev.PrevCursor, "the stored link of %s", ev.Cursor)
		prev = ev.Cursor
		n++
	}
	require.Equal(t, len(evs), n)
}

// dropper stands between stream clients and an edge, as a faulty proxy
// or network might: it passes every frame on, but the event frame whose
// cursor is drop, once.
type dropper struct {
	upstream string
	drop     string
	dropped  atomic.Bool
	rp       *httputil.ReverseProxy
}

func newDropper(t *testing.T, upstream, drop string) (*dropper, string) {
	t.Helper()
	u, err := url.Parse(upstream)
	require.NoError(t, err)
	d := &dropper{upstream: upstream, drop: drop, rp: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return d, srv.URL
}

func (d *dropper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/stream") {
		d.rp.ServeHTTP(w, r)
		return
	}
	up, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(d.upstream, "http")+r.URL.RequestURI(),
		http.Header{"Authorization": r.Header["Authorization"]})
	if resp != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		status := http.StatusBadGateway
		if resp != nil {
			status = resp.StatusCode
		}
		w.WriteHeader(status)
		return
	}
	defer up.Close()
	down, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer down.Close()
	go func() {
		defer down.Close()
		for {
			mt, b, err := up.ReadMessage()
			if err != nil {
				code := websocket.CloseAbnormalClosure
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					code = ce.Code
				}
				_ = down.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
				return
			}
			if strings.Contains(string(b), `"cursor":"`+d.drop+`"`) && !d.dropped.Swap(true) {
				continue
			}
			if down.WriteMessage(mt, b) != nil {
				return
			}
		}
	}()
	for {
		mt, b, err := down.ReadMessage()
		if err != nil {
			return
		}
		if up.WriteMessage(mt, b) != nil {
			return
		}
	}
}

// TestChain_streamRecoversADroppedEvent: an event lost between the edge
// and the client (a proxy drops its frame) is noticed at the next event,
// which names it, and fetched by resuming from the last good cursor: the
// client hands both out in order, and counts the break.
func TestChain_streamRecoversADroppedEvent(t *testing.T) {
	t.Parallel()
	e := newChainEnv(t)
	one := e.edge()
	key, sub := e.tenant(one.url, mtclient.CreateRequest{Kinds: []string{"trx_transfer"}})
	evs := e.publish(sub, 3)
	d, base := newDropper(t, one.url, cursor.Cursor{Step: 105}.String())

	r := openStream(t, e.client(base, key), sub, evs[0])
	evs = append(evs, e.publish(sub, 4)...)
	require.Equal(t, cursor.Cursor{Step: 105}.String(), evs[4], "the test drops the fifth event")
	r.wait(t, "every event, the dropped one fetched again", evs[1:])
	require.True(t, d.dropped.Load(), "nothing was dropped: the test proves little")
	r.requireChain(t, evs[0])
	require.Equal(t, mtclient.ChainStats{Breaks: 1, Recovered: 1}, r.s.ChainStats())
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.chain, 2)
	require.Equal(t, mtclient.StatusChainBroken, r.chain[0].Status)
	require.Equal(t, &mtclient.MissingEventsError{SubscriptionID: sub, After: evs[3], Before: evs[5], Prev: evs[4]}, r.chain[0].Break)
	require.Equal(t, mtclient.StatusChainRecovered, r.chain[1].Status)
}

// chainReceiver is a webhook receiver built on pkg/client's chain helpers,
// as docs/api.md describes it. It answers 2xx but "loses" the first
// delivery of the event whose cursor is lose, as a receiver with a bug in
// its queue might.
type chainReceiver struct {
	t      *testing.T
	secret string
	c      *mtclient.Client
	lose   string
	lost   atomic.Bool

	mu        sync.Mutex
	last      map[string]string
	processed []string
	gaps      []mtclient.MissingEventsError
}

func (r *chainReceiver) LastCursor(_ context.Context, sub string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[sub], nil
}

func (r *chainReceiver) process(ev mtclient.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.processed = append(r.processed, ev.Cursor)
	r.last[ev.SubscriptionID] = ev.Cursor
}

func (r *chainReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := mtclient.VerifyWebhook(r.secret, req.Header.Get(mtclient.WebhookSignatureHeader), body, 0, time.Now()); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	ev, err := mtclient.ParseEvent(body)
	if err != nil {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	if ev.Cursor == r.lose && !r.lost.Swap(true) {
		w.WriteHeader(http.StatusNoContent) // accepted, then lost
		return
	}
	var gap *mtclient.MissingEventsError
	switch err := mtclient.VerifyChain(req.Context(), r, ev); {
	case errors.Is(err, mtclient.ErrAlreadyProcessed):
		w.WriteHeader(http.StatusNoContent)
		return
	case errors.As(err, &gap):
		r.mu.Lock()
		r.gaps = append(r.gaps, *gap)
		r.mu.Unlock()
		missing, err := r.c.FetchMissing(req.Context(), gap)
		for _, m := range missing {
			r.process(m)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	r.process(ev)
	w.WriteHeader(http.StatusNoContent)
}

// TestChain_webhookReceiverFetchesALostDelivery: a receiver that answered
// 2xx to a delivery and lost it sees the next delivery name an event it
// never processed, fetches it from history, and ends up with every event,
// in order, once.
func TestChain_webhookReceiverFetchesALostDelivery(t *testing.T) {
	t.Parallel()
	e := newChainEnv(t)
	one := e.edge()
	const secret = "whsec_chain-test-0123456789abcdef"
	rcv := &chainReceiver{t: t, secret: secret, last: map[string]string{}}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	key, sub := e.tenant(one.url, mtclient.CreateRequest{Kinds: []string{"trx_transfer"},
		Webhook: &mtclient.Webhook{URL: srv.URL + "/hook", Secret: secret}})
	rcv.c = e.client(one.url, key)
	rcv.lose = cursor.Cursor{Step: 103}.String()

	evs := e.publish(sub, 6)
	require.Equal(t, rcv.lose, evs[2])
	deadline := time.Now().Add(30 * time.Second)
	for {
		rcv.mu.Lock()
		n := len(rcv.processed)
		rcv.mu.Unlock()
		if n >= len(evs) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.True(t, rcv.lost.Load(), "no delivery was lost: the test proves little")
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	require.Equal(t, evs, rcv.processed, "every event once, in order")
	require.Equal(t, []mtclient.MissingEventsError{{SubscriptionID: sub, After: evs[1], Before: evs[3], Prev: evs[2]}}, rcv.gaps)
}
