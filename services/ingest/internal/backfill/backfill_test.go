package backfill_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
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
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/backfill"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/ingest/internal/subs"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// queryCheck fails the package when a query its tests send is served by
// no index (see testenv.QueryCheck).
var queryCheck = testenv.NewQueryCheck()

func TestMain(m *testing.M) { testenv.MainChecked(m, queryCheck) }

// world is what outlives an ingest restart: the chain, the database, the
// broker.
type world struct {
	s   *sim.Sim
	url string
	db  *mongo.Database
	nc  *nats.Conn
	js  jetstream.JetStream
	pub *follow.NATSPublisher
}

func newWorld(t testing.TB, cfg sim.Config) *world {
	t.Helper()
	s, url := simtest.Start(t, cfg)
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	mc, err := mongo.Connect(options.Client().ApplyURI(m.URI()).SetMonitor(queryCheck.Monitor()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database("backfill")
	_, err = store.EnsureIndexes(t.Context(), db, 0)
	require.NoError(t, err)
	require.NoError(t, follow.EnsureIndexes(t.Context(), db))
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	pub, err := follow.NewNATSPublisher(nc)
	require.NoError(t, err)
	require.NoError(t, follow.EnsureStream(t.Context(), pub.JetStream(), 0, 1))
	return &world{s: s, url: url, db: db, nc: nc, js: pub.JetStream(), pub: pub}
}

func newClient(t testing.TB, url string) *tron.Client {
	t.Helper()
	c, err := tron.NewClient(tron.ClientConfig{BaseURL: url, MaxRetries: -1, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testLogger() *slog.Logger {
	if os.Getenv("BACKFILL_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// ingest is one run of the ingest's leader: subscriptions, follower and
// backfill runner, wired as the app wires them.
type ingest struct {
	f    *follow.Follower
	stop func()
}

// startIngest runs an ingest; bfPub, when set, replaces the publisher of
// the backfill runner, and cancel lets it stop the whole ingest.
func startIngest(t testing.TB, w *world, start int64, bfPub func(cancel context.CancelFunc) follow.Publisher) *ingest {
	t.Helper()
	var r *backfill.Runner
	mgr := subs.New(subs.Config{DB: w.db, ResyncInterval: 200 * time.Millisecond, Hold: func(s *subscription.Subscription) bool { return r.Hold(s) }})
	f, err := follow.New(follow.Config{
		Node: newClient(t, w.url), DB: w.db, Publisher: w.pub, Matcher: mgr,
		Decoder: decode.NewDecoder(decode.DecoderConfig{}), StartBlock: start,
		PollInterval: 20 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		ChunkBlocks: 5, Logger: testLogger(),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	var pub follow.Publisher = w.pub
	if bfPub != nil {
		pub = bfPub(cancel)
	}
	r, err = backfill.New(backfill.Config{
		DB: w.db, Node: newClient(t, w.url), Publisher: pub, Decoder: decode.NewDecoder(decode.DecoderConfig{}),
		Live: f, Subs: mgr, Logger: testLogger(), ChunkBlocks: 5, HandoverBlocks: 30,
		ScanInterval: 200 * time.Millisecond, RetryInterval: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, mgr.Resync(t.Context()))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.Run(ctx); err != nil {
			t.Errorf("follower: %v", err)
		}
	})
	wg.Go(func() { _ = r.Run(ctx) })
	wg.Go(func() { _ = mgr.Run(ctx, w.nc) })
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return &ingest{f: f, stop: stop}
}

// testSub is a subscription with the independent filter expectations are
// computed with: any of its addresses is a party.
type testSub struct {
	id    string
	conf  int
	addrs map[tron.Address]bool
}

// partiesOf returns n distinct parties of the sim's first blocks, after
// skipping skip of them.
func partiesOf(t testing.TB, s *sim.Sim, skip, n int) []tron.Address {
	t.Helper()
	dec := decode.NewDecoder(decode.DecoderConfig{})
	var out []tron.Address
	seen := map[tron.Address]bool{}
	for b := s.First(); len(out) < n; b++ {
		blk, infos, err := s.Block(b)
		require.NoError(t, err)
		evs, err := dec.DecodeBlock(&blk, infos)
		require.NoError(t, err)
		for _, e := range evs {
			for _, p := range e.Parties() {
				if seen[p] {
					continue
				}
				seen[p] = true
				if skip > 0 {
					skip--
				} else if len(out) < n {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// addSub stores a subscription, as the edge does, and announces it.
func addSub(t testing.TB, w *world, ts testSub, startBlock *int64) {
	t.Helper()
	now := time.Now().UTC()
	sub := subscription.Subscription{
		ID: ts.id, Tenant: "t", Direction: subscription.DirectionAny, Confirmations: ts.conf,
		Status: subscription.StatusActive, Version: 1, Contracts: []string{}, Kinds: []string{},
		StartBlock: startBlock, AddressCount: int64(len(ts.addrs)), CreatedAt: now, UpdatedAt: now,
	}
	if startBlock != nil {
		sub.Status = subscription.StatusBackfilling
		sub.Backfill = &subscription.Backfill{From: *startBlock}
	}
	var docs []any
	for a := range ts.addrs {
		docs = append(docs, subscription.Address{ID: subscription.AddressDocID(ts.id, a.String()), SubscriptionID: ts.id, Address: a.String(), AddedAt: now})
	}
	_, err := w.db.Collection(store.SubscriptionAddresses).InsertMany(t.Context(), docs)
	require.NoError(t, err)
	_, err = w.db.Collection(store.Subscriptions).InsertOne(t.Context(), sub)
	require.NoError(t, err)
	data, err := json.Marshal(bus.SubscriptionChange{Op: bus.OpUpsert, SubscriptionID: ts.id, Tenant: "t", Version: 1})
	require.NoError(t, err)
	require.NoError(t, w.nc.Publish(bus.SubscriptionsSubject, data))
}

func newTestSub(id string, conf int, addrs []tron.Address) testSub {
	ts := testSub{id: id, conf: conf, addrs: map[tron.Address]bool{}}
	for _, a := range addrs {
		ts.addrs[a] = true
	}
	return ts
}

// expected walks blocks from..head-conf of the sim independently and
// returns the event ids ts must have received, in chain order.
func expected(t testing.TB, s *sim.Sim, ts testSub, from, head int64) []string {
	t.Helper()
	dec := decode.NewDecoder(decode.DecoderConfig{})
	var out []string
	for n := from; n <= head-int64(ts.conf); n++ {
		b, infos, err := s.Block(n)
		require.NoError(t, err)
		evs, err := dec.DecodeBlock(&b, infos)
		require.NoError(t, err)
		for i := range evs {
			for _, p := range evs[i].Parties() {
				if ts.addrs[p] {
					out = append(out, evs[i].ID)
					break
				}
			}
		}
	}
	return out
}

// history returns the event documents of one subscription in cursor order.
func history(t testing.TB, db *mongo.Database, subID string) []store.EventDoc {
	t.Helper()
	var docs []store.EventDoc
	require.NoError(t, testenv.FindAll(t.Context(), db.Collection(store.Events), bson.M{"subscription_id": subID}, &docs))
	sort.Slice(docs, func(i, j int) bool { return docs[i].Cursor < docs[j].Cursor })
	return docs
}

func eventIDs(t testing.TB, docs []store.EventDoc) []string {
	t.Helper()
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		require.False(t, d.Removed)
		out = append(out, d.EventID)
	}
	return out
}

// published returns the cursors of the messages on a subscription's
// subject, in stream order.
func published(t testing.TB, js jetstream.JetStream, subID string, want int) []string {
	t.Helper()
	cons, err := js.OrderedConsumer(t.Context(), bus.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.EventsSubject(subID)}})
	require.NoError(t, err)
	var out []string
	for len(out) < want {
		batch, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(time.Second))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			var ev event.Event
			require.NoError(t, json.Unmarshal(m.Data(), &ev))
			out = append(out, ev.Cursor)
			n++
		}
		if n == 0 {
			break
		}
	}
	// Nothing more than want: a duplicate would show here.
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(200*time.Millisecond))
	require.NoError(t, err)
	for m := range batch.Messages() {
		out = append(out, string(m.Data()))
	}
	return out
}

func loadSub(t testing.TB, db *mongo.Database, id string) subscription.Subscription {
	t.Helper()
	var s subscription.Subscription
	require.NoError(t, db.Collection(store.Subscriptions).FindOne(t.Context(), bson.M{"_id": id}).Decode(&s))
	return s
}

// checkDelivery checks that the subscription got exactly want, in cursor
// order, published once each in that order, and paged the same, and that
// its cursors go from the backfill's reserved step to live steps above
// it.
func checkDelivery(t testing.TB, w *world, subID string, want []string) (backfilled, live int) {
	t.Helper()
	docs := history(t, w.db, subID)
	// The history pages hold the same, from seq 0, across the hand-over.
	require.NoError(t, store.CheckPages(t.Context(), w.db, subID))
	if len(docs) > 0 {
		require.Zero(t, docs[0].Seq, "the first event is seq 0")
		require.EqualValues(t, len(docs)-1, docs[len(docs)-1].Seq, "no gap, no duplicate")
	}
	require.Equal(t, want, eventIDs(t, docs))
	var cursors []string
	var first cursor.Cursor
	for i, d := range docs {
		c, err := cursor.Parse(d.Cursor)
		require.NoError(t, err)
		if i == 0 {
			first = c
		} else {
			require.Less(t, docs[i-1].Cursor, d.Cursor)
		}
		if c.Step == first.Step {
			backfilled++
		} else {
			live++
		}
		var ev event.Event
		require.NoError(t, json.Unmarshal(d.JSON, &ev))
		require.Equal(t, d.Cursor, ev.Cursor)
		require.Equal(t, subID, ev.SubscriptionID)
		if i == 0 {
			require.Empty(t, ev.PrevCursor, "the subscription's first event")
		} else {
			require.Equal(t, docs[i-1].Cursor, ev.PrevCursor, "the stored link of %s", d.Cursor)
		}
		cursors = append(cursors, d.Cursor)
	}
	require.Equal(t, cursors, published(t, w.js, subID, len(docs)), "each event published once, in cursor order")
	return backfilled, live
}

func TestRunner_backfillThenLive(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sim.Config{Seed: 5, Instant: true, InitialBlocks: 70, TxsPerBlock: 15, Addresses: 200})
	addrs := partiesOf(t, w.s, 0, 40)
	other := newTestSub("sub_other", 0, addrs[:20])
	bf := newTestSub("sub_bf", 2, addrs[20:])
	addSub(t, w, other, nil)
	start := w.s.First() + 1
	in := startIngest(t, w, start, nil)
	head, _ := w.s.Head()
	testenv.WaitFor(t, 90*time.Second, func() bool { return in.f.Committed() == head }, "the follower at the head")

	from := head - 50
	addSub(t, w, bf, &from)
	// Blocks keep coming while the backfill runs.
	for range 30 {
		w.s.Mine(1)
		time.Sleep(15 * time.Millisecond)
	}
	testenv.WaitFor(t, 90*time.Second, func() bool { return loadSub(t, w.db, bf.id).Status == subscription.StatusActive }, "the hand-over")
	w.s.Mine(10)
	head, _ = w.s.Head()
	testenv.WaitFor(t, 90*time.Second, func() bool { return in.f.Committed() == head }, "the follower at the head")
	in.stop()

	got := loadSub(t, w.db, bf.id)
	require.NotNil(t, got.Backfill)
	require.True(t, got.Backfill.Done)
	require.Equal(t, from, got.Backfill.From)
	require.GreaterOrEqual(t, got.Backfill.To, from+30, "the switch point is past the blocks that existed at creation")
	require.Less(t, got.Backfill.To, head-int64(bf.conf))
	require.Equal(t, int64(2), got.Version, "the hand-over is one version")

	backfilled, live := checkDelivery(t, w, bf.id, expected(t, w.s, bf, from, head))
	require.Positive(t, backfilled, "no backfilled event: the test proves little")
	require.Positive(t, live, "no live event after the hand-over: the test proves little")
	_, _ = checkDelivery(t, w, other.id, expected(t, w.s, other, start, head))
	requireLinked(t, w.js, bf.id)

	n, err := w.db.Collection(backfill.Collection).CountDocuments(t.Context(), bson.M{})
	require.NoError(t, err)
	require.Zero(t, n, "the state of a finished backfill is dropped")
}

// crashingPublisher publishes through pub, and after ok successful
// publishes publishes once more and then crashes the ingest before the
// backfill can record it.
type crashingPublisher struct {
	follow.Publisher
	ok      int32
	n       atomic.Int32
	cancel  context.CancelFunc
	crashed atomic.Bool
}

var errCrash = errors.New("crash")

func (p *crashingPublisher) Publish(ctx context.Context, msgs []follow.Msg) error {
	if len(msgs) == 0 {
		return nil
	}
	if p.n.Add(1) <= p.ok {
		return p.Publisher.Publish(ctx, msgs)
	}
	if err := p.Publisher.Publish(ctx, msgs); err != nil {
		return err
	}
	p.crashed.Store(true)
	p.cancel()
	return fmt.Errorf("publisher: %w", errCrash)
}

func TestRunner_restartMidBackfill(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sim.Config{Seed: 9, Instant: true, InitialBlocks: 90, TxsPerBlock: 15, Addresses: 200})
	bf := newTestSub("sub_bf", subscription.DefaultConfirmations, partiesOf(t, w.s, 0, 30))
	head, _ := w.s.Head()
	from := head - 60
	start := head - 5
	// Created while the ingest was down, with its checkpoint already there.
	addSub(t, w, bf, &from)

	var cp *crashingPublisher
	in := startIngest(t, w, start, func(cancel context.CancelFunc) follow.Publisher {
		cp = &crashingPublisher{Publisher: w.pub, ok: 2, cancel: cancel}
		return cp
	})
	testenv.WaitFor(t, 90*time.Second, cp.crashed.Load, "the crash")
	in.stop()
	var st struct {
		Next int64 `bson:"next"`
		Pos  int64 `bson:"pos"`
	}
	require.NoError(t, w.db.Collection(backfill.Collection).FindOne(t.Context(), bson.M{"_id": bf.id}).Decode(&st))
	require.Greater(t, st.Next, from)
	stored, err := w.db.Collection(store.Events).CountDocuments(t.Context(), bson.M{"subscription_id": bf.id})
	require.NoError(t, err)
	require.Greater(t, stored, st.Pos, "the crashed chunk was stored and published but not recorded: the restart redoes it")

	mid := loadSub(t, w.db, bf.id)
	require.Equal(t, subscription.StatusBackfilling, mid.Status)
	require.NotNil(t, mid.Backfill)
	require.False(t, mid.Backfill.Done)
	require.Greater(t, mid.Backfill.To, from, "progress is recorded on the subscription")
	require.Less(t, mid.Backfill.To, head-int64(bf.conf))

	in = startIngest(t, w, start, nil)
	w.s.Mine(25)
	testenv.WaitFor(t, 90*time.Second, func() bool { return loadSub(t, w.db, bf.id).Status == subscription.StatusActive }, "the hand-over")
	head, _ = w.s.Head()
	testenv.WaitFor(t, 90*time.Second, func() bool { return in.f.Committed() == head }, "the follower at the head")

	// A restart right after the hand-over: the first live event after it
	// links to the last event before it, the last backfilled one when no
	// live event came in between.
	in.stop()
	_, liveBefore := checkDelivery(t, w, bf.id, expected(t, w.s, bf, from, head))
	t.Logf("live events before the restart: %d", liveBefore)
	in = startIngest(t, w, start, nil)
	w.s.Mine(5)
	head, _ = w.s.Head()
	testenv.WaitFor(t, 90*time.Second, func() bool { return in.f.Committed() == head }, "the follower at the head")
	in.stop()

	backfilled, live := checkDelivery(t, w, bf.id, expected(t, w.s, bf, from, head))
	require.Positive(t, backfilled)
	require.Greater(t, live, liveBefore, "no live event after the restart: the test proves little")
	requireLinked(t, w.js, bf.id)
}

// requireLinked checks that every event of subID names the one before it
// ("" for the first), across the hand-over from backfill to live delivery
// too: in the stored history (its JSON's prev_cursor), and on the stream,
// in the JSON and in bus.PrevCursorHeader.
func requireLinked(t testing.TB, js jetstream.JetStream, subID string) {
	t.Helper()
	prev := ""
	for _, m := range testenv.SubjectMessages(t, js, bus.EventsStream, bus.EventsSubject(subID)) {
		var ev event.Event
		require.NoError(t, json.Unmarshal(m.Data, &ev))
		require.Equal(t, prev, m.Header.Get(bus.PrevCursorHeader), "the header link of %s", ev.Cursor)
		require.Equal(t, prev, ev.PrevCursor, "the link of %s", ev.Cursor)
		require.Contains(t, string(m.Data), `"prev_cursor":`)
		prev = ev.Cursor
	}
	require.NotEmpty(t, prev, "no event: the check proves little")
}
