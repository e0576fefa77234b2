package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/lease"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// env is one test's database, NATS server, connection and JetStream. The
// server is the test's own: every deliverer consumes the whole events
// stream from its start, so on a shared server each test would first
// wade through every event the tests before it and beside it published.
type env struct {
	t  testing.TB
	db *mongo.Database
	nc *nats.Conn
	js jetstream.JetStream

	mu sync.Mutex
	// last is each subscription's last event published, for the next
	// one's link.
	last map[string]string
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	nc, err := nats.Connect(testenv.RunNATS(tb).URL())
	require.NoError(tb, err)
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(tb, err)
	// The ingest's stream, as its EnsureStream creates it.
	_, err = js.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: bus.EventsStream, Subjects: []string{bus.EventsPrefix + ">"}, MaxAge: time.Hour,
		Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage,
	})
	require.NoError(tb, err)
	db := testMongo.Database("wh_" + randHex(6))
	tb.Cleanup(func() { _ = db.Drop(context.Background()) })
	return &env{t: tb, db: db, nc: nc, js: js, last: map[string]string{}}
}

// testConfig is a configuration for loopback receivers with short waits.
func testConfig(e *env, consumer string) Config {
	return Config{
		NATS: e.nc, DB: e.db,
		Timeout:          500 * time.Millisecond,
		Schedule:         []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond},
		AllowHTTPHosts:   []string{"127.0.0.1"},
		AllowPrivate:     []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		PollInterval:     50 * time.Millisecond,
		LeaseDuration:    2 * time.Second,
		BreakerThreshold: -1,
		Consumer:         consumer,
	}
}

// start runs a deliverer until the test ends; stop ends it early.
func start(tb testing.TB, cfg Config) (d *Deliverer, stop func()) {
	tb.Helper()
	d, err := New(cfg)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(tb, <-done)
			d.Close()
		})
	}
	tb.Cleanup(stop)
	return d, stop
}

// createSub stores a subscription with a webhook, as the API would.
func (e *env) createSub(url, secret string) string {
	e.t.Helper()
	id := subscription.IDPrefix + randHex(12)
	now := time.Now().UTC()
	s := subscription.Subscription{
		ID: id, Tenant: "acme", Kinds: []string{"trx_transfer"}, Direction: "any", Confirmations: 19,
		Status: subscription.StatusActive, CreatedAt: now, UpdatedAt: now, Version: 1,
		Webhook: &subscription.Webhook{URL: url, Secret: secret},
	}
	_, err := e.db.Collection(store.Subscriptions).InsertOne(context.Background(), s)
	require.NoError(e.t, err)
	return id
}

// publish stores and publishes n events of a subscription, from step
// first, as the ingest does, and returns their cursors.
func (e *env) publish(subID string, first, n int) []string {
	e.t.Helper()
	return e.publishBatch([]pubReq{{subID: subID, first: first, n: n}})
}

// pubReq is n events of one subscription from index first.
type pubReq struct {
	subID    string
	first, n int
}

// publishBatch stores and publishes the events of several subscriptions
// at once, as the ingest does for a block: stored first, then published
// in order, each linked to its subscription's event published before it.
// It returns their cursors.
func (e *env) publishBatch(reqs []pubReq) []string {
	e.t.Helper()
	var (
		cursors []string
		docs    []store.EventDoc
	)
	for _, r := range reqs {
		for i := range r.n {
			doc := eventDoc(e.t, r.subID, r.first+i)
			cursors = append(cursors, doc.Cursor)
			docs = append(docs, doc)
		}
	}
	e.storeEvents(docs...)
	msgs := make([]streamMsg, len(docs))
	e.mu.Lock()
	for i, doc := range docs {
		msgs[i] = streamMsg{doc: doc, prev: e.last[doc.SubscriptionID]}
		e.last[doc.SubscriptionID] = doc.Cursor
	}
	e.mu.Unlock()
	e.send(msgs...)
	return cursors
}

// eventDoc returns a subscription's event at step i as the ingest stores
// it; its JSON is what the ingest publishes.
func eventDoc(tb testing.TB, subID string, i int) store.EventDoc {
	tb.Helper()
	c := cursor.Cursor{Step: uint64(i), Pos: 0}.String()
	ev := map[string]any{
		"type": "event", "cursor": c, "id": fmt.Sprintf("%064x:%d", i, 0), "subscription_id": subID,
		"kind": "trx_transfer", "network": "mainnet", "removed": false, "amount": strconv.Itoa(i),
	}
	b, err := json.Marshal(ev)
	require.NoError(tb, err)
	return store.EventDoc{
		ID: store.EventDocID(subID, c), SubscriptionID: subID, Cursor: c, EventID: ev["id"].(string),
		Kind: "trx_transfer", Block: int64(i), BlockID: randHex(8), CreatedAt: time.Now().UTC(), JSON: b,
	}
}

// storeEvents stores events in the events collection and the history
// pages, as the ingest does before it publishes them.
func (e *env) storeEvents(docs ...store.EventDoc) {
	e.t.Helper()
	require.NoError(e.t, store.AppendEvents(context.Background(), e.db, docs...))
}

// streamMsg is a stored event to publish with the link prev ("" for
// none).
type streamMsg struct {
	doc  store.EventDoc
	prev string
}

// send publishes msgs to the events stream in the order given and waits
// until JetStream stored them all.
func (e *env) send(msgs ...streamMsg) {
	e.t.Helper()
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		nm := &nats.Msg{Subject: bus.EventsSubject(m.doc.SubscriptionID), Data: m.doc.JSON}
		if m.prev != "" {
			nm.Header = nats.Header{bus.PrevCursorHeader: []string{m.prev}}
		}
		f, err := e.js.PublishMsgAsync(nm)
		require.NoError(e.t, err)
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			require.NoError(e.t, err)
		case <-time.After(10 * time.Second):
			e.t.Fatal("publish not acknowledged")
		}
	}
}

// deliveries returns a subscription's deliveries, queued and finished, in
// cursor order. One being moved to the record may be seen in both places
// for a moment; its queued copy is returned, as the API does.
func (e *env) deliveries(subID string) []Delivery {
	e.t.Helper()
	var out []Delivery
	for _, c := range []string{QueueCollection, DeliveriesCollection} {
		var part []Delivery
		require.NoError(e.t, testenv.FindAll(context.Background(), e.db.Collection(c), bson.M{"subscription_id": subID}, &part))
		for _, d := range part {
			require.Equal(e.t, c == QueueCollection, d.Status == StatusPending, "%s %s in %s", d.ID, d.Status, c)
		}
		out = append(out, part...)
	}
	slices.SortStableFunc(out, func(a, b Delivery) int { return strings.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b Delivery) bool { return a.ID == b.ID })
}

func (e *env) countStatus(subID, status string) int {
	e.t.Helper()
	n := 0
	for _, d := range e.deliveries(subID) {
		if d.Status == status {
			n++
		}
	}
	return n
}

// received is one request a receiver got.
type received struct {
	eventID, deliveryID, subID string
	attempt, status            int
	body                       []byte
	// sigHeader is the Mongotron-Signature header as sent, and sigOK
	// whether the public client.VerifyWebhook accepted it when it came.
	sigHeader string
	sigOK     bool
	// prev is the Mongotron-Prev-Cursor header, hasPrev whether it came.
	prev    string
	hasPrev bool
}

// receiver is a webhook endpoint on loopback whose answer the test
// controls.
type receiver struct {
	srv    *httptest.Server
	secret string
	// respond returns the status for a request; nil means 200.
	respond atomic.Pointer[func(r *http.Request, n int) int]

	mu   sync.Mutex
	reqs []received
}

func newReceiver(tb testing.TB, secret string) *receiver {
	tb.Helper()
	rc := &receiver{secret: secret}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		att, _ := strconv.Atoi(r.Header.Get(HeaderAttempt))
		rec := received{
			eventID: r.Header.Get(HeaderEventID), deliveryID: r.Header.Get(HeaderDeliveryID),
			subID: r.Header.Get(HeaderSubscriptionID), attempt: att, body: body,
			sigHeader: r.Header.Get(HeaderSignature),
			prev:      r.Header.Get(HeaderPrevCursor), hasPrev: len(r.Header.Values(HeaderPrevCursor)) > 0,
			sigOK: client.VerifyWebhook(rc.secret, r.Header.Get(HeaderSignature), body, 5*time.Minute, time.Now()) == nil,
		}
		rc.mu.Lock()
		n := len(rc.reqs) + 1
		rc.mu.Unlock()
		status := http.StatusOK
		if f := rc.respond.Load(); f != nil {
			status = (*f)(r, n)
		}
		rec.status = status
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, rec)
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	tb.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setRespond(f func(r *http.Request, n int) int) { rc.respond.Store(&f) }

// hangFirst makes the first request wait until its sender gives up, and
// answers the others 200; the function it returns waits until the first
// request arrived.
func (rc *receiver) hangFirst() (arrived func(tb testing.TB)) {
	hung := make(chan struct{}, 1)
	rc.setRespond(func(r *http.Request, n int) int {
		if n == 1 {
			hung <- struct{}{}
			<-r.Context().Done()
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	return func(tb testing.TB) {
		tb.Helper()
		select {
		case <-hung:
		case <-time.After(30 * time.Second): // a liveness bound, as in eventually
			tb.Fatal("no attempt")
		}
	}
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// accepted returns the event ids the receiver answered 2xx to, in order.
func (rc *receiver) accepted() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, r := range rc.reqs {
		if r.status/100 == 2 {
			out = append(out, r.eventID)
		}
	}
	return out
}

func connectMongo(tb testing.TB) *mongo.Client {
	tb.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(testMongoURI))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// insertLane stores a tenure of a subscription's lane as edges before
// package lease wrote it, with no hint: another edge holding the lane.
func insertLane(tb testing.TB, db *mongo.Database, subID string, epoch int64, owner string, until time.Time) {
	tb.Helper()
	_, err := db.Collection(LanesCollection).InsertOne(context.Background(), bson.M{
		"_id": lease.TenureID(subID, epoch), "subscription_id": subID, "epoch": epoch, "owner": owner, "lease_until": until,
	})
	require.NoError(tb, err)
}
