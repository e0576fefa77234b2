package follow_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

func newClient(t testing.TB, url string) *tron.Client {
	t.Helper()
	c, err := tron.NewClient(tron.ClientConfig{BaseURL: url, MaxRetries: -1, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestFollower_endToEnd(t *testing.T) {
	t.Parallel()
	s, url := simtest.Start(t, sim.Config{Seed: 7, Instant: true, InitialBlocks: 10, TxsPerBlock: 15, Addresses: 200})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "e2e", n.URL())
	ts := pickSubs(t, s, e.db)
	start := s.First() + 1
	f := e.follower(t, newClient(t, url), start, false)
	stop := run(t, f)
	s.Mine(22)
	head, _ := s.Head()
	testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == head }, "commit of the head")
	stop()

	want := expected(t, s, ts, start, head)
	h := history(t, e.db)
	total := 0
	for _, sub := range ts {
		docs := h[sub.id]
		require.Equal(t, want[sub.id], liveIDs(docs), "subscription %s", sub.id)
		require.NotEmpty(t, docs, "subscription %s matched nothing: the test proves little", sub.id)
		for i, d := range docs {
			require.False(t, d.Removed)
			if i > 0 {
				require.Less(t, docs[i-1].Cursor, d.Cursor)
			}
			var ev event.Event
			require.NoError(t, json.Unmarshal(d.JSON, &ev))
			require.Equal(t, sub.conf, ev.Confirmations)
			require.Equal(t, d.Cursor, ev.Cursor)
			require.Equal(t, sub.id, ev.SubscriptionID)
		}
		total += len(docs)
	}
	require.Equal(t, uint64(total), countDocs(h))
	require.Equal(t, uint64(total), streamMsgs(t, e.js), "each stored event published exactly once")
	requireLinks(t, e.js, h)
	requirePages(t, e.db, h)
}

func TestFollower_crashRedo(t *testing.T) {
	t.Parallel()
	b := newRedoBed(t, sim.Config{Seed: 11, Instant: true, InitialBlocks: 30, TxsPerBlock: 15, Addresses: 200}, "")
	url, clean, crashy, ts, start, head := b.url, b.clean, b.crashy, b.subs, b.start, b.head

	// Crashes that interrupt a commit for certain: at the first or second
	// publish of a run, before or after the bus has the events, each time
	// with the step's events stored and the checkpoint behind them. The
	// next run must redo the step exactly.
	interrupted := 0
	for i := 0; interrupted < 4; i++ {
		require.Less(t, i, 20, "the head came before four crashes could interrupt a commit")
		ctx, cancel := context.WithCancel(t.Context())
		cp := &crashingPublisher{Publisher: crashy.pub, at: 1 + i%2, after: i/2%2 == 1, crash: cancel}
		require.NoError(t, crashy.mgr.Resync(t.Context()))
		cfg := crashy.config(newClient(t, url), start, true)
		cfg.Publisher = cp
		f, err := follow.New(cfg)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		testenv.WaitFor(t, 30*time.Second, func() bool { return cp.crashed.Load() || f.Committed() == head }, "a crash or the head")
		cancel()
		require.NoError(t, <-done)
		if !cp.crashed.Load() {
			break
		}
		require.Positive(t, uncommitted(t, crashy.db), "crash %d (at publish %d, after it: %v) left no step half done", i, cp.at, cp.after)
		interrupted++
	}
	require.GreaterOrEqual(t, interrupted, 4)

	// Crashes at random points of a run, wherever they fall: fetching,
	// storing, publishing or between steps.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 6 {
		f := crashy.follower(t, newClient(t, url), start, true)
		stop := run(t, f)
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond) // a random crash point, not a wait for a condition
		stop()
	}
	f := crashy.follower(t, newClient(t, url), start, true)
	stop := run(t, f)
	testenv.WaitFor(t, 30*time.Second, func() bool { return f.Committed() == head }, "crashy run")
	stop()

	want, got := history(t, clean.db), history(t, crashy.db)
	require.Len(t, got, len(ts))
	for _, sub := range ts {
		require.Len(t, got[sub.id], len(want[sub.id]), sub.id)
		for i := range want[sub.id] {
			w, g := want[sub.id][i], got[sub.id][i]
			require.Equal(t, w.ID, g.ID)
			require.Equal(t, w.EventID, g.EventID)
			require.Equal(t, w.Cursor, g.Cursor)
			sameJSON(t, w.JSON, g.JSON)
		}
	}
	require.Equal(t, countDocs(got), streamMsgs(t, crashy.js), "republished events were de-duplicated")
	requireLinks(t, crashy.js, got)
	requirePages(t, crashy.db, got)
}

func TestFollower_reorg(t *testing.T) {
	t.Parallel()
	s, url := simtest.Start(t, sim.Config{Seed: 5, Instant: true, InitialBlocks: 25, TxsPerBlock: 25, Addresses: 150})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "reorg", n.URL())
	ts := pickSubs(t, s, e.db)
	start := s.First() + 1
	f := e.follower(t, newClient(t, url), start, false)
	stop := run(t, f)
	head, _ := s.Head()
	testenv.WaitFor(t, 30*time.Second, func() bool { return f.Committed() == head }, "first commit")

	const depth = 4
	before := history(t, e.db)
	require.NoError(t, s.Reorg(depth))
	s.Mine(3)
	newHead, _ := s.Head()
	testenv.WaitFor(t, 30*time.Second, func() bool { return f.Committed() == newHead }, "commit after the reorg")
	stop()

	after := history(t, e.db)
	retracted := 0
	for _, sub := range ts {
		var wantRemoved []string
		for _, d := range before[sub.id] {
			if d.Block > head-depth {
				wantRemoved = append(wantRemoved, d.EventID)
			}
		}
		var gotRemoved []string
		for _, d := range after[sub.id] {
			if d.Removed {
				gotRemoved = append(gotRemoved, d.EventID)
				var ev event.Event
				require.NoError(t, json.Unmarshal(d.JSON, &ev))
				require.True(t, ev.Removed)
			}
		}
		require.Equal(t, wantRemoved, gotRemoved, sub.id)
		if sub.conf >= depth {
			require.Empty(t, gotRemoved, "%s at %d confirmations saw a retraction", sub.id, sub.conf)
		}
		retracted += len(gotRemoved)
		// The cursors still increase in delivery order.
		for i := 1; i < len(after[sub.id]); i++ {
			require.Less(t, after[sub.id][i-1].Cursor, after[sub.id][i].Cursor)
		}
		// What stands now is exactly the new chain's events.
		standing := map[string]bool{}
		for _, d := range after[sub.id] {
			standing[d.EventID] = !d.Removed
		}
		var live []string
		for _, d := range after[sub.id] {
			if !d.Removed && standing[d.EventID] {
				live = append(live, d.EventID)
			}
		}
		require.Equal(t, expected(t, s, []testSub{sub}, start, newHead)[sub.id], live, sub.id)
	}
	require.Positive(t, retracted, "the reorg retracted nothing: the test proves little")
	requireLinks(t, e.js, after)
	requirePages(t, e.db, after)
}

func TestFollower_faults(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("restarts servers")
	}
	s, url := simtest.Start(t, sim.Config{Seed: 3, Instant: true, InitialBlocks: 12, TxsPerBlock: 15, Addresses: 200, ErrorRate: 0.2})
	m := testenv.RunMongo(t)
	dir := t.TempDir()
	n, err := testenv.StartNATS(testenv.NATSConfig{StoreDir: dir})
	require.NoError(t, err)
	e := newEnv(t, m.URI(), "faults", n.URL())
	ts := pickSubs(t, s, e.db)
	start := s.First() + 1
	f := e.follower(t, newClient(t, url), start, false)
	stop := run(t, f)
	head, _ := s.Head()
	testenv.WaitFor(t, 30*time.Second, func() bool { return f.Committed() == head }, "first commit")

	// NATS down while blocks arrive: the follower waits, then resumes.
	port := n.Server.Addr().(*net.TCPAddr).Port
	n.Shutdown()
	s.Mine(10)
	time.Sleep(300 * time.Millisecond) // let it fail against the dead server for a while
	n2, err := testenv.StartNATS(testenv.NATSConfig{StoreDir: dir, Port: port})
	require.NoError(t, err)
	t.Cleanup(n2.Shutdown)
	head, _ = s.Head()
	testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == head }, "commit after NATS came back")
	stop()

	want := expected(t, s, ts, start, head)
	h := history(t, e.db)
	for _, sub := range ts {
		require.Equal(t, want[sub.id], liveIDs(h[sub.id]), sub.id)
	}
	require.Equal(t, countDocs(h), streamMsgs(t, e.js))
	requireLinks(t, e.js, h)
	requirePages(t, e.db, h)
}

// redoBed is what the crash-redo tests share: a simulated chain, a
// clean run of it to its head in one database, and a second database
// with the same subscriptions for the runs that crash.
type redoBed struct {
	url         string
	clean       *env
	crashy      *env
	subs        []testSub
	start, head int64
}

// newRedoBed starts the chain of cfg and follows it to its head in the
// clean database, each database named with prefix.
func newRedoBed(t *testing.T, cfg sim.Config, prefix string) redoBed {
	t.Helper()
	s, url := simtest.Start(t, cfg)
	m := testenv.RunMongo(t)
	n1, n2 := testenv.RunNATS(t), testenv.RunNATS(t)
	b := redoBed{url: url, clean: newEnv(t, m.URI(), prefix+"clean", n1.URL()), crashy: newEnv(t, m.URI(), prefix+"crashy", n2.URL())}
	b.subs = pickSubs(t, s, b.clean.db)
	_ = pickSubs(t, s, b.crashy.db)
	b.start = s.First() + 1
	b.head, _ = s.Head()

	f := b.clean.follower(t, newClient(t, url), b.start, false)
	stop := run(t, f)
	testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == b.head }, "clean run")
	stop()
	return b
}
