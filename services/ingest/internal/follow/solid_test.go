package follow_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// solidAt is a follow.SolidSource the test moves by hand.
type solidAt struct{ n atomic.Int64 }

func (s *solidAt) SolidHeight(context.Context) (int64, error) { return s.n.Load(), nil }

// putSub stores a subscription to every event of kinds.
func putSub(t testing.TB, e *env, id, finality string, conf int, kinds ...string) {
	t.Helper()
	_, err := e.db.Collection(store.Subscriptions).InsertOne(t.Context(), subscription.Subscription{
		ID: id, Tenant: "t", Direction: subscription.DirectionAny, Confirmations: conf, Finality: finality,
		Status: subscription.StatusActive, Version: 1, Contracts: []string{}, Kinds: kinds,
	})
	require.NoError(t, err)
}

func TestFollower_solidified(t *testing.T) {
	t.Parallel()
	s, url := simtest.Start(t, sim.Config{Seed: 9, Instant: true, InitialBlocks: 30, TxsPerBlock: 30, Addresses: 150})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "solid", n.URL())
	putSub(t, e, "sub_solid", subscription.FinalitySolidified, 0, string(event.KindTRXTransfer))
	putSub(t, e, "sub_head", subscription.FinalityConfirmations, 0, string(event.KindTRXTransfer))
	start := s.First() + 1
	solid := &solidAt{}
	solid.n.Store(start - 1)
	cfg := e.config(newClient(t, url), start, false)
	cfg.Solid = solid
	reg := prometheus.NewRegistry()
	cfg.Metrics = follow.NewMetrics(reg)
	require.NoError(t, e.mgr.Resync(t.Context()))
	f, err := follow.New(cfg)
	require.NoError(t, err)
	stop := run(t, f)
	head, _ := s.Head()
	testenv.WaitFor(t, 30*time.Second, func() bool { return f.Committed() == head }, "the head")
	require.Empty(t, history(t, e.db)["sub_solid"], "nothing is solidified yet")

	// The node solidifies part of the chain: exactly those blocks go out,
	// at the next poll.
	solidified := head - 10
	solid.n.Store(solidified)
	testenv.WaitFor(t, 30*time.Second, func() bool { return f.SolidDelivered() == solidified }, "solidified delivery")
	want := expected(t, s, []testSub{{id: "sub_solid", kinds: map[event.Kind]bool{event.KindTRXTransfer: true}}}, start, solidified)["sub_solid"]
	require.NotEmpty(t, want)
	require.Equal(t, want, liveIDs(history(t, e.db)["sub_solid"]))

	// A reorg above the solidified height retracts head events, never
	// solidified ones.
	const depth = 4
	require.NoError(t, s.Reorg(depth))
	s.Mine(3)
	newHead, _ := s.Head()
	testenv.WaitFor(t, 30*time.Second, func() bool { return f.Committed() == newHead }, "commit after the reorg")
	solid.n.Store(newHead - 2)
	testenv.WaitFor(t, 30*time.Second, func() bool { return f.SolidDelivered() == newHead-2 }, "solidified delivery after the reorg")
	stop()

	h := history(t, e.db)
	removedHead := 0
	for _, d := range h["sub_head"] {
		if d.Removed {
			removedHead++
		}
	}
	require.Positive(t, removedHead, "the reorg retracted head events: the test proves something")
	want = expected(t, s, []testSub{{id: "sub_solid", kinds: map[event.Kind]bool{event.KindTRXTransfer: true}}}, start, newHead-2)["sub_solid"]
	require.Equal(t, want, liveIDs(h["sub_solid"]), "the solidified subscription got the new chain's events, once each")
	for _, d := range h["sub_solid"] {
		require.False(t, d.Removed, "a solidified subscription never sees a removed event")
		var ev event.Event
		require.NoError(t, json.Unmarshal(d.JSON, &ev))
		require.True(t, ev.Solidified, "%s says it is solidified", ev.ID)
		require.LessOrEqual(t, ev.Block.Number, newHead-2)
	}
	for _, d := range h["sub_head"] {
		var ev event.Event
		require.NoError(t, json.Unmarshal(d.JSON, &ev))
		if ev.Block.Number > newHead-2 {
			require.False(t, ev.Solidified, "%s of block %d is above the solidified height", ev.ID, ev.Block.Number)
		}
	}
	require.Zero(t, testutil.ToFloat64(cfg.Metrics.DeepReorgs))
	requireLinks(t, e.js, h)
	requirePages(t, e.db, h)
}

func TestFollower_reorgBelowSolidifiedIsRefused(t *testing.T) {
	t.Parallel()
	s, url := simtest.Start(t, sim.Config{Seed: 10, Instant: true, InitialBlocks: 25, TxsPerBlock: 20, Addresses: 150})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "solid_deep", n.URL())
	putSub(t, e, "sub_solid", subscription.FinalitySolidified, 0, string(event.KindTRXTransfer))
	start := s.First() + 1
	solid := &solidAt{}
	cfg := e.config(newClient(t, url), start, false)
	cfg.Solid = solid
	cfg.Metrics = follow.NewMetrics(nil)
	require.NoError(t, e.mgr.Resync(t.Context()))
	f, err := follow.New(cfg)
	require.NoError(t, err)
	run(t, f)
	head, _ := s.Head()
	solid.n.Store(head)
	testenv.WaitFor(t, 30*time.Second, func() bool { return f.SolidDelivered() == head }, "everything solidified")
	before := history(t, e.db)["sub_solid"]

	// A node that reorganises what it called solidified is broken: the
	// follower refuses to retract and raises the alarm.
	require.NoError(t, s.Reorg(2))
	s.Mine(1)
	testenv.WaitFor(t, 30*time.Second, func() bool { return testutil.ToFloat64(cfg.Metrics.DeepReorgs) > 0 }, "the alarm")
	require.Equal(t, head, f.Committed(), "nothing above the refused reorg committed")
	require.Equal(t, before, history(t, e.db)["sub_solid"], "no solidified event retracted")
}
