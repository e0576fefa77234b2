package follow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/ingest/internal/subs"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// queryCheck fails the package when a query its tests send is served by
// no index (see testenv.QueryCheck).
var queryCheck = testenv.NewQueryCheck()

func TestMain(m *testing.M) { testenv.MainChecked(m, queryCheck) }

// testSub is a subscription of the tests with the independent filter the
// expectations are computed with.
type testSub struct {
	id    string
	conf  int
	addrs map[tron.Address]bool
	kinds map[event.Kind]bool
}

func (s testSub) matches(e *event.Event) bool {
	if len(s.kinds) > 0 && !s.kinds[e.Kind] {
		return false
	}
	if len(s.addrs) == 0 {
		return true
	}
	for _, p := range e.Parties() {
		if s.addrs[p] {
			return true
		}
	}
	return false
}

// pickSubs builds subscriptions over addresses active in the sim's first
// blocks, at several confirmation levels, and stores them in db.
func pickSubs(t testing.TB, s *sim.Sim, db *mongo.Database) []testSub {
	t.Helper()
	dec := decode.NewDecoder(decode.DecoderConfig{})
	var addrs []tron.Address
	seen := map[tron.Address]bool{}
	for n := s.First(); len(addrs) < 60; n++ {
		b, infos, err := s.Block(n)
		require.NoError(t, err)
		evs, err := dec.DecodeBlock(&b, infos)
		require.NoError(t, err)
		for _, e := range evs {
			for _, p := range e.Parties() {
				if !seen[p] && len(addrs) < 60 {
					seen[p] = true
					addrs = append(addrs, p)
				}
			}
		}
	}
	var out []testSub
	for i, conf := range []int{0, 1, 3, 19} {
		ts := testSub{id: fmt.Sprintf("sub_a%d", i), conf: conf, addrs: map[tron.Address]bool{}}
		for _, a := range addrs[i*15 : i*15+15] {
			ts.addrs[a] = true
		}
		out = append(out, ts)
	}
	out = append(out, testSub{id: "sub_k", conf: 2, kinds: map[event.Kind]bool{event.KindTRC20Transfer: true}})
	ctx := t.Context()
	for _, ts := range out {
		sub := subscription.Subscription{ID: ts.id, Tenant: "t", Direction: subscription.DirectionAny, Confirmations: ts.conf, Status: subscription.StatusActive, Version: 1, Contracts: []string{}, Kinds: []string{}}
		for k := range ts.kinds {
			sub.Kinds = append(sub.Kinds, string(k))
		}
		_, err := db.Collection(store.Subscriptions).InsertOne(ctx, sub)
		require.NoError(t, err)
		var docs []any
		for a := range ts.addrs {
			docs = append(docs, subscription.Address{ID: subscription.AddressDocID(ts.id, a.String()), SubscriptionID: ts.id, Address: a.String()})
		}
		if len(docs) > 0 {
			_, err := db.Collection(store.SubscriptionAddresses).InsertMany(ctx, docs)
			require.NoError(t, err)
		}
	}
	return out
}

// expected walks blocks from..head of the sim independently and returns,
// per subscription, the event ids it must have received in chain order.
func expected(t testing.TB, s *sim.Sim, subsList []testSub, from, head int64) map[string][]string {
	t.Helper()
	dec := decode.NewDecoder(decode.DecoderConfig{})
	out := map[string][]string{}
	for n := from; n <= head; n++ {
		b, infos, err := s.Block(n)
		require.NoError(t, err)
		evs, err := dec.DecodeBlock(&b, infos)
		require.NoError(t, err)
		for i := range evs {
			for _, ts := range subsList {
				if n <= head-int64(ts.conf) && ts.matches(&evs[i]) {
					out[ts.id] = append(out[ts.id], evs[i].ID)
				}
			}
		}
	}
	return out
}

// env is one ingest's world: a database, a NATS server, a node.
type env struct {
	db  *mongo.Database
	nc  *nats.Conn
	js  jetstream.JetStream
	pub *follow.NATSPublisher
	mgr *subs.Manager
	// groupBlocks is the followers' GroupBlocks: 1 for the tests that
	// count steps by the publishes they make.
	groupBlocks int
}

func newEnv(t testing.TB, mongoURI, dbName, natsURL string) *env {
	t.Helper()
	mc, err := mongo.Connect(options.Client().ApplyURI(mongoURI).SetMonitor(queryCheck.Monitor()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database(dbName)
	_, err = store.EnsureIndexes(t.Context(), db, 0)
	require.NoError(t, err)
	require.NoError(t, follow.EnsureIndexes(t.Context(), db))
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	pub, err := follow.NewNATSPublisher(nc)
	require.NoError(t, err)
	require.NoError(t, follow.EnsureStream(t.Context(), pub.JetStream(), 0, 1))
	return &env{db: db, nc: nc, js: pub.JetStream(), pub: pub, mgr: subs.New(subs.Config{DB: db})}
}

func (e *env) follower(t testing.TB, node follow.Node, start int64, abort bool) *follow.Follower {
	t.Helper()
	require.NoError(t, e.mgr.Resync(t.Context()))
	f, err := follow.New(e.config(node, start, abort))
	require.NoError(t, err)
	return f
}

// config is the follower configuration of the tests: fast polls and
// retries, small ranges.
func (e *env) config(node follow.Node, start int64, abort bool) follow.Config {
	return follow.Config{
		Node: node, DB: e.db, Publisher: e.pub, Matcher: e.mgr,
		Decoder: decode.NewDecoder(decode.DecoderConfig{}), StartBlock: start,
		PollInterval: 20 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		AbortOnCancel: abort, ChunkBlocks: 5, GroupBlocks: e.groupBlocks, Logger: testLogger(),
	}
}

// run starts f and returns a stop function that cancels it and waits.
func run(t testing.TB, f *follow.Follower) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.Run(ctx); err != nil {
			t.Errorf("follower: %v", err)
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func testLogger() *slog.Logger {
	if os.Getenv("FOLLOW_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// history returns every event document, by subscription in cursor order.
func history(t testing.TB, db *mongo.Database) map[string][]store.EventDoc {
	t.Helper()
	var docs []store.EventDoc
	require.NoError(t, testenv.FindAll(t.Context(), db.Collection(store.Events), bson.M{}, &docs))
	out := map[string][]store.EventDoc{}
	for _, d := range docs {
		out[d.SubscriptionID] = append(out[d.SubscriptionID], d)
	}
	for _, l := range out {
		sort.Slice(l, func(i, j int) bool { return l[i].Cursor < l[j].Cursor })
	}
	return out
}

func liveIDs(docs []store.EventDoc) []string {
	var out []string
	for _, d := range docs {
		if !d.Removed {
			out = append(out, d.EventID)
		}
	}
	return out
}

func streamMsgs(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), bus.EventsStream)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	return info.State.Msgs
}

func countDocs(h map[string][]store.EventDoc) uint64 {
	var n uint64
	for _, l := range h {
		n += uint64(len(l))
	}
	return n
}

// requireLinks checks the links of every event: in the stored history,
// each event's prev_cursor names the event just before it in cursor order
// ("" for the subscription's first), and every message of the events
// stream carries the same link in its JSON and in bus.PrevCursorHeader
// (absent on a first event). Exact: restarts, redos and takeovers leave
// no event unlinked.
func requireLinks(t testing.TB, js jetstream.JetStream, h map[string][]store.EventDoc) {
	t.Helper()
	linked := 0
	for sub, docs := range h {
		before := map[string]string{}
		for i, d := range docs {
			var ev event.Event
			require.NoError(t, json.Unmarshal(d.JSON, &ev))
			if i > 0 {
				before[d.Cursor] = docs[i-1].Cursor
			}
			require.Equal(t, before[d.Cursor], ev.PrevCursor, "%s: the stored link of %s", sub, d.Cursor)
		}
		for _, m := range testenv.SubjectMessages(t, js, bus.EventsStream, bus.EventsSubject(sub)) {
			var ev event.Event
			require.NoError(t, json.Unmarshal(m.Data, &ev))
			require.Contains(t, string(m.Data), `"prev_cursor":`, "%s: %s has no prev_cursor", sub, ev.Cursor)
			require.Equal(t, before[ev.Cursor], ev.PrevCursor, "%s: the published link of %s", sub, ev.Cursor)
			require.Equal(t, before[ev.Cursor], m.Header.Get(bus.PrevCursorHeader), "%s: the header link of %s", sub, ev.Cursor)
			if ev.PrevCursor != "" {
				linked++
			}
		}
	}
	require.Positive(t, linked, "no event was linked: the check proves little")
}

// requirePages checks that the history pages of every subscription of h
// hold exactly its stored events, in cursor order, numbered 0, 1, … with
// no gap and no duplicate (see store.CheckPages).
func requirePages(t testing.TB, db *mongo.Database, h map[string][]store.EventDoc) {
	t.Helper()
	require.NotEmpty(t, h)
	for sub, docs := range h {
		require.NoError(t, store.CheckPages(t.Context(), db, sub), sub)
		var first struct {
			Seq *int64 `bson:"seq"`
		}
		require.NoError(t, db.Collection(store.Events).FindOne(t.Context(), bson.M{"_id": docs[0].ID}).Decode(&first))
		if first.Seq != nil { // nil: stored before pages existed
			require.Zero(t, *first.Seq, "%s: its first event is seq 0", sub)
		}
	}
}

// sameJSON checks that two deliveries of one event say the same, apart from
// solidified: whether the node had solidified the block when the step was
// staged depends on when it was polled, not on the chain.
func sameJSON(t testing.TB, want, got []byte) {
	t.Helper()
	var w, g map[string]any
	require.NoError(t, json.Unmarshal(want, &w))
	require.NoError(t, json.Unmarshal(got, &g))
	delete(w, "solidified")
	delete(g, "solidified")
	require.Equal(t, w, g)
}
