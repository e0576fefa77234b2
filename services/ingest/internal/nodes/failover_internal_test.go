package nodes

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// switchLog records the pool's "tron node switched" logs.
type switchLog struct {
	t   testing.TB
	mu  sync.Mutex
	tos []string
}

func (l *switchLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *switchLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *switchLog) WithGroup(string) slog.Handler            { return l }
func (l *switchLog) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	l.t.Log(msg)
	if r.Message != "tron node switched" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "to" {
			l.mu.Lock()
			l.tos = append(l.tos, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *switchLog) targets() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.tos)
}

// TestPool_failoverUnderTheFollower is the failover test: three
// nodes over one chain, one that stalls, one that answers 5xx for a
// while and one 20 blocks behind, then a node serving corrupted blocks and
// one serving transaction-info lists that do not match. The follower
// reads the pool throughout; what it stores must be exactly what a clean
// run stores, and the pool must be on a good node within two health
// rounds of each change.
func TestPool_failoverUnderTheFollower(t *testing.T) {
	t.Parallel()
	s, ns := simtest.StartNodes(t, sim.Config{Seed: 9, Instant: true, InitialBlocks: 20, TxsPerBlock: 8, Addresses: 60}, 3)
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	ctx := t.Context()

	// A over HTTP, B over gRPC, C over HTTP and 20 blocks behind from
	// the start.
	urls := []string{ns[0].HTTP, ns[1].GRPC, ns[2].HTTP}
	a, b, c := ns[0].Endpoint, ns[1].Endpoint, ns[2].Endpoint
	c.SetFaults(sim.Faults{Lag: 20})
	s.Mine(20)

	sw := &switchLog{t: t}
	p, err := New(Config{
		URLs: urls, Client: tron.ClientConfig{Timeout: 5 * time.Second},
		Logger:         slog.New(sw),
		HealthInterval: 100 * time.Millisecond, StallAfter: 600 * time.Millisecond, BadFor: 500 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	labels := []string{p.nodes[0].label, p.nodes[1].label, p.nodes[2].label}
	pctx, pcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(pctx) })
	t.Cleanup(func() { pcancel(); wg.Wait() })

	mc, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database("failover")
	_, err = store.EnsureIndexes(ctx, db, 0)
	require.NoError(t, err)
	require.NoError(t, follow.EnsureIndexes(ctx, db))
	nc, err := nats.Connect(n.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	pub, err := follow.NewNATSPublisher(nc)
	require.NoError(t, err)
	require.NoError(t, follow.EnsureStream(ctx, pub.JetStream(), 0, 1))
	kinds := []string{string(event.KindTRXTransfer), string(event.KindTRC20Transfer)}
	_, err = db.Collection(store.Subscriptions).InsertOne(ctx, subscription.Subscription{
		ID: "sub_all", Tenant: "t", Direction: subscription.DirectionAny, Status: subscription.StatusActive, Version: 1,
		Contracts: []string{}, Kinds: kinds,
	})
	require.NoError(t, err)
	mgr := subs.New(subs.Config{DB: db})
	require.NoError(t, mgr.Resync(ctx))

	start := s.First() + 1
	f, err := follow.New(follow.Config{
		Node: p, DB: db, Publisher: pub, Matcher: mgr, Decoder: decode.NewDecoder(decode.DecoderConfig{SkipVerify: true}),
		StartBlock: start, PollInterval: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		ChunkBlocks: 5,
	})
	require.NoError(t, err)
	fctx, fcancel := context.WithCancel(ctx)
	fdone := make(chan error, 1)
	go func() { fdone <- f.Run(fctx) }()
	var stopOnce sync.Once
	var runErr error
	stop := func() { stopOnce.Do(func() { fcancel(); runErr = <-fdone }) }
	t.Cleanup(stop)

	committedHead := func(msg string) {
		t.Helper()
		head, _ := s.Head()
		testenv.WaitFor(t, 20*time.Second, func() bool { return f.Committed() == head }, "%s: commit of %d", msg, head)
	}
	selected := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.selected
	}
	state := func(i int) State { return p.Status()[i].State }
	// within waits for the pool to read from node want, then checks it
	// took at most two health rounds from r0.
	within := func(r0 int64, want int, msg string) {
		t.Helper()
		testenv.WaitFor(t, 10*time.Second, func() bool { return selected() == want }, "%s: selected %d; states %+v", msg, want, p.Status())
		require.LessOrEqual(t, p.rounds.Load()-r0, int64(2), "%s: more than two health rounds", msg)
	}
	integrity := func(i int) float64 { return testutil.ToFloat64(p.m.errors.WithLabelValues(labels[i], "integrity")) }
	// mine adds k blocks one health round apart, as a chain would.
	mine := func(k int) {
		for range k {
			s.Mine(1)
			r := p.rounds.Load()
			testenv.WaitFor(t, 5*time.Second, func() bool { return p.rounds.Load() > r }, "a health round")
		}
	}

	committedHead("catch-up")
	require.Equal(t, 0, selected())
	require.Equal(t, StateLagging, state(2))

	// A stalls: reads move to B once A is more than the near lag behind,
	// never to C.
	a.SetFaults(sim.Faults{Stall: true})
	mine(2)
	require.Equal(t, 0, selected(), "two blocks behind is near enough")
	s.Mine(1)
	within(p.rounds.Load(), 1, "A stalled")
	mine(7)
	require.Equal(t, StateStalled, state(0))
	committedHead("A stalled")

	// A catches up: reads stay on B, a good node.
	a.SetFaults(sim.Faults{})
	testenv.WaitFor(t, 10*time.Second, func() bool { return state(0) == StateOK }, "A recovers; states %+v", p.Status())
	require.Equal(t, 1, selected(), "hysteresis: no move back to a recovered node while B is good")

	// B answers 5xx for a while: reads move to A at once.
	r0 := p.rounds.Load()
	b.SetFaults(sim.Faults{ErrorRate: 1})
	within(r0, 0, "B failing")
	mine(3)
	committedHead("B failing")
	require.Equal(t, StateFailing, state(1))
	b.SetFaults(sim.Faults{})
	testenv.WaitFor(t, 10*time.Second, func() bool { return state(1) == StateOK }, "B recovers; states %+v", p.Status())
	require.Equal(t, 0, selected())

	// A serves corrupted blocks: refused, A set aside, the blocks read
	// from B.
	r0 = p.rounds.Load()
	a.SetFaults(sim.Faults{CorruptBlocks: true})
	s.Mine(2)
	within(r0, 1, "A corrupt")
	committedHead("A corrupt")
	// Not its state: under load the commit may take longer than BadFor.
	require.GreaterOrEqual(t, integrity(0), 1.0, "A was found out")
	a.SetFaults(sim.Faults{})
	testenv.WaitFor(t, 10*time.Second, func() bool { return state(0) == StateOK }, "A recovers; states %+v", p.Status())

	// B serves info lists that do not match its blocks: refused, B set
	// aside, the infos read from A.
	r0 = p.rounds.Load()
	b.SetFaults(sim.Faults{CorruptReceipts: true})
	s.Mine(2)
	within(r0, 0, "B's infos corrupt")
	committedHead("B's infos corrupt")
	require.GreaterOrEqual(t, integrity(1), 1.0, "B was found out")
	b.SetFaults(sim.Faults{})
	mine(3)
	committedHead("the end")
	stop()
	require.NoError(t, runErr)

	for _, to := range sw.targets() {
		require.NotEqual(t, labels[2], to, "the node 20 blocks behind was read from")
	}

	// What was stored is what a clean run stores: every transfer of every
	// block, once, in order; and each was published once.
	head, _ := s.Head()
	dec := decode.NewDecoder(decode.DecoderConfig{})
	var want []string
	for num := start; num <= head; num++ {
		blk, infos, err := s.Block(num)
		require.NoError(t, err)
		evs, err := dec.DecodeBlock(&blk, infos)
		require.NoError(t, err)
		for _, e := range evs {
			if slices.Contains(kinds, string(e.Kind)) {
				want = append(want, e.ID)
			}
		}
	}
	require.NotEmpty(t, want)
	var docs []store.EventDoc
	require.NoError(t, testenv.FindAll(ctx, db.Collection(store.Events), bson.M{"subscription_id": "sub_all"}, &docs, options.Find().SetSort(bson.M{"cursor": 1})))
	var got []string
	for _, d := range docs {
		require.False(t, d.Removed)
		got = append(got, d.EventID)
	}
	require.Equal(t, want, got, "no gap, no duplicate, nothing else")
	msgs := testenv.SubjectMessages(t, pub.JetStream(), bus.EventsStream, bus.EventsSubject("sub_all"))
	require.Len(t, msgs, len(want), "each event published once")
}
