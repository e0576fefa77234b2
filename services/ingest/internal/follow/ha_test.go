package follow_test

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// instance is one ingest as the app runs it: a lease campaign whose every
// term runs a fresh follower.
type instance struct {
	lease  *follow.Lease
	cur    atomic.Pointer[follow.Follower]
	cancel context.CancelFunc
	wg     sync.WaitGroup
	err    error
}

// startInstance runs an ingest on e until stopped. crash makes a stop
// behave as a kill: the block in hand is abandoned and the lease is kept
// until it expires.
func startInstance(t testing.TB, e *env, node follow.Node, start int64, holder string, ttl time.Duration, crash bool, pub follow.Publisher) *instance {
	t.Helper()
	require.NoError(t, e.mgr.Resync(t.Context()))
	l, err := follow.NewLease(follow.LeaseConfig{DB: e.db, Holder: holder, TTL: ttl, KeepOnStop: crash, Logger: testLogger()})
	require.NoError(t, err)
	in := &instance{lease: l}
	ctx, cancel := context.WithCancel(t.Context())
	in.cancel = cancel
	cfg := e.config(node, start, crash)
	if pub != nil {
		cfg.Publisher = pub
	}
	in.wg.Go(func() {
		in.err = l.Run(ctx, func(ctx context.Context, term *follow.Term) error {
			c := cfg
			c.Fence = term
			f, err := follow.New(c)
			if err != nil {
				return err
			}
			in.cur.Store(f)
			return f.Run(ctx)
		})
	})
	t.Cleanup(in.stop)
	return in
}

// stop cancels the instance and waits for it.
func (in *instance) stop() {
	in.cancel()
	in.wg.Wait()
}

// committed is the current follower's committed block, -1 on standby
// before any term.
func (in *instance) committed() int64 {
	if f := in.cur.Load(); f != nil {
		return f.Committed()
	}
	return -1
}

func TestLease_failover(t *testing.T) {
	t.Parallel()
	s, nodeURL := simtest.Start(t, sim.Config{Seed: 13, Instant: true, InitialBlocks: 25, TxsPerBlock: 15, Addresses: 200})
	m := testenv.RunMongo(t)
	nHA, nClean := testenv.RunNATS(t), testenv.RunNATS(t)
	a := newEnv(t, m.URI(), "ha", nHA.URL())
	b := newEnv(t, m.URI(), "ha", nHA.URL())
	clean := newEnv(t, m.URI(), "ha_clean", nClean.URL())
	ts := pickSubs(t, s, a.db)
	_ = pickSubs(t, s, clean.db)
	start := s.First() + 1
	// Long enough that a renewal slowed by a loaded machine (FerretDB
	// under -race beside other packages' tests) does not depose a before
	// it is mid-stream, which made the test time out waiting for it.
	const ttl = 4 * time.Second

	ia := startInstance(t, a, newClient(t, nodeURL), start, "a", ttl, true, nil)
	testenv.WaitFor(t, 10*time.Second, ia.lease.IsLeader, "a leads")
	ib := startInstance(t, b, newClient(t, nodeURL), start, "b", ttl, true, nil)
	testenv.WaitFor(t, 30*time.Second, func() bool { return ia.committed() >= start+5 }, "a mid-stream")
	require.False(t, ib.lease.IsLeader(), "two leaders")

	// Kill a: no release, the block in hand abandoned.
	ia.stop()
	killed := ia.committed()
	s.Mine(5)
	testenv.WaitFor(t, 30*time.Second, ib.lease.IsLeader, "b takes over")
	require.Greater(t, ib.lease.Token(), ia.lease.Token())
	s.Mine(5)
	head, _ := s.Head()
	testenv.WaitFor(t, 60*time.Second, func() bool { return ib.committed() == head }, "b commits the head")
	ib.stop()
	require.NoError(t, ib.err)
	require.Less(t, killed, head, "a finished before the kill: the test proves little")

	f := clean.follower(t, newClient(t, nodeURL), start, false)
	stop := run(t, f)
	testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == head }, "uninterrupted run")
	stop()

	want, got := history(t, clean.db), history(t, a.db)
	for _, sub := range ts {
		require.NotEmpty(t, want[sub.id], sub.id)
		require.Len(t, got[sub.id], len(want[sub.id]), sub.id)
		for i := range want[sub.id] {
			w, g := want[sub.id][i], got[sub.id][i]
			require.Equal(t, w.ID, g.ID)
			require.Equal(t, w.Cursor, g.Cursor)
			sameJSON(t, w.JSON, g.JSON)
		}
	}
	require.Equal(t, countDocs(got), streamMsgs(t, a.js), "the takeover published each event once")
	requireLinks(t, a.js, got)
	requirePages(t, a.db, got)
}

// pausedFence is a leader that checked its lease and then paused: it
// still believes it leads, whatever the lease says now.
type pausedFence struct{ token int64 }

func (p pausedFence) Token() int64                { return p.token }
func (p pausedFence) Check(context.Context) error { return nil }

// gatedPublisher blocks the publish of step number at until gate closes,
// telling entered when it gets there.
type gatedPublisher struct {
	follow.Publisher
	at      int64
	calls   atomic.Int64
	entered chan struct{}
	gate    chan struct{}
}

func newGated(p follow.Publisher, at int64) *gatedPublisher {
	return &gatedPublisher{Publisher: p, at: at, entered: make(chan struct{}), gate: make(chan struct{})}
}

func (g *gatedPublisher) Publish(ctx context.Context, msgs []follow.Msg) error {
	if g.calls.Add(1) == g.at {
		close(g.entered)
		<-g.gate
	}
	return g.Publisher.Publish(ctx, msgs)
}

func checkpointDoc(t testing.TB, db *mongo.Database) (block, fence int64) {
	t.Helper()
	var d struct {
		Block int64 `bson:"block"`
		Fence int64 `bson:"fence"`
	}
	require.NoError(t, db.Collection(store.Checkpoints).FindOne(t.Context(), bson.M{"_id": follow.CheckpointID}).Decode(&d))
	return d.Block, d.Fence
}

func TestLease_pausedLeaderCannotCommit(t *testing.T) {
	t.Parallel()
	s, nodeURL := simtest.Start(t, sim.Config{Seed: 17, Instant: true, InitialBlocks: 15, TxsPerBlock: 15, Addresses: 200})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "paused", n.URL())
	e.groupBlocks = 1 // a step per block, so the third publish is the third block
	ts := pickSubs(t, s, e.db)
	start := s.First() + 1
	head, _ := s.Head()

	la := newLease(t, e.db, "a", 500*time.Millisecond)
	lb := newLease(t, e.db, "b", time.Minute)
	ta, err := la.Acquire(t.Context())
	require.NoError(t, err)

	// a commits two blocks, then pauses in the third, its events stored
	// but not yet published, its lease check passed.
	gated := newGated(e.pub, 3)
	require.NoError(t, e.mgr.Resync(t.Context()))
	cfgA := e.config(newClient(t, nodeURL), start, false)
	cfgA.Publisher, cfgA.Fence = gated, pausedFence{token: ta.Token()}
	fa, err := follow.New(cfgA)
	require.NoError(t, err)
	errA := make(chan error, 1)
	go func() { errA <- fa.Run(t.Context()) }()
	select {
	case <-gated.entered:
	case err := <-errA:
		t.Fatalf("a stopped early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("a never reached its third step")
	}
	paused := fa.Committed()

	// Its lease expires; b acquires and follows to the head.
	var tb *follow.Term
	testenv.WaitFor(t, 10*time.Second, func() bool {
		tb, err = lb.Acquire(t.Context())
		return err == nil
	}, "b acquires")
	require.Equal(t, ta.Token()+1, tb.Token())
	require.ErrorIs(t, ta.Check(t.Context()), follow.ErrFenced, "the lease filter refuses the old token")
	cfgB := e.config(newClient(t, nodeURL), start, false)
	cfgB.Fence = tb
	fb, err := follow.New(cfgB)
	require.NoError(t, err)
	stopB := run(t, fb)
	testenv.WaitFor(t, 30*time.Second, func() bool { return fb.Committed() == head }, "b commits the head")
	stopB()
	block, fence := checkpointDoc(t, e.db)
	require.Equal(t, head, block)
	require.Equal(t, tb.Token(), fence)

	// a wakes up and tries to commit the block in hand: fenced.
	close(gated.gate)
	select {
	case err := <-errA:
		require.ErrorIs(t, err, follow.ErrFenced)
	case <-time.After(30 * time.Second):
		t.Fatal("a kept going")
	}
	require.Equal(t, paused, fa.Committed(), "a committed after losing the lease")
	block, fence = checkpointDoc(t, e.db)
	require.Equal(t, head, block, "a moved the checkpoint")
	require.Equal(t, tb.Token(), fence)

	want := expected(t, s, ts, start, head)
	h := history(t, e.db)
	for _, sub := range ts {
		require.Equal(t, want[sub.id], liveIDs(h[sub.id]), sub.id)
	}
	require.Equal(t, countDocs(h), streamMsgs(t, e.js))
	requireLinks(t, e.js, h)
	requirePages(t, e.db, h)
}

func TestLease_gracefulStop(t *testing.T) {
	t.Parallel()
	s, nodeURL := simtest.Start(t, sim.Config{Seed: 19, Instant: true, InitialBlocks: 12, TxsPerBlock: 15, Addresses: 200})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "sigterm", n.URL())
	e.groupBlocks = 1 // a step per block, so the fourth publish is the fourth block
	_ = pickSubs(t, s, e.db)
	start := s.First() + 1

	// SIGTERM arrives while the fourth step is publishing.
	gated := newGated(e.pub, 4)
	in := startInstance(t, e, newClient(t, nodeURL), start, "a", time.Minute, false, gated)
	select {
	case <-gated.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("never reached the fourth step")
	}
	inHand := in.committed() + 1
	in.cancel()
	close(gated.gate)
	in.wg.Wait()
	require.NoError(t, in.err)

	// The block in hand was committed, then the lease released.
	require.Equal(t, inHand, in.committed())
	block, fence := checkpointDoc(t, e.db)
	require.Equal(t, inHand, block)
	require.Equal(t, int64(1), fence)
	l := readLease(t, e.db)
	require.Equal(t, "a", l.Holder)
	require.False(t, l.ExpiresAt.After(time.Now()), "lease not released: expires at %s", l.ExpiresAt)
	require.False(t, in.lease.IsLeader())
}

func TestFollower_mongoDown(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("restarts servers")
	}
	s, nodeURL := simtest.Start(t, sim.Config{Seed: 23, Instant: true, InitialBlocks: 12, TxsPerBlock: 15, Addresses: 200})
	dir := t.TempDir()
	m, err := testenv.StartMongo(testenv.MongoConfig{Dir: dir})
	require.NoError(t, err)
	var mu sync.Mutex
	t.Cleanup(func() { mu.Lock(); defer mu.Unlock(); m.Shutdown() })
	u, err := url.Parse(m.URI())
	require.NoError(t, err)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "down", n.URL())
	ts := pickSubs(t, s, e.db)
	start := s.First() + 1

	in := startInstance(t, e, newClient(t, nodeURL), start, "a", time.Second, false, nil)
	head, _ := s.Head()
	testenv.WaitFor(t, 30*time.Second, func() bool { return in.committed() == head }, "first commit")

	// MongoDB goes away while blocks arrive: the leader cannot renew, so
	// it steps down once the TTL passes, and campaigns again.
	m.Shutdown()
	s.Mine(10)
	testenv.WaitFor(t, 10*time.Second, func() bool { return !in.lease.IsLeader() }, "step down")
	m2, err := testenv.StartMongo(testenv.MongoConfig{Dir: dir, Addr: u.Host})
	require.NoError(t, err)
	mu.Lock()
	m = m2
	mu.Unlock()
	head, _ = s.Head()
	testenv.WaitFor(t, 60*time.Second, func() bool { return in.lease.IsLeader() && in.committed() == head }, "commit after MongoDB came back")
	require.Greater(t, in.lease.Token(), int64(1))
	in.stop()
	require.NoError(t, in.err)

	want := expected(t, s, ts, start, head)
	h := history(t, e.db)
	for _, sub := range ts {
		require.Equal(t, want[sub.id], liveIDs(h[sub.id]), sub.id)
	}
	require.Equal(t, countDocs(h), streamMsgs(t, e.js))
	requireLinks(t, e.js, h)
	requirePages(t, e.db, h)
}

func TestFollower_rateLimited(t *testing.T) {
	t.Parallel()
	s, nodeURL := simtest.Start(t, sim.Config{Seed: 29, Instant: true, InitialBlocks: 15, TxsPerBlock: 15, Addresses: 200, RateLimit: 10})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "ratelimit", n.URL())
	ts := pickSubs(t, s, e.db)
	start := s.First() + 1
	f := e.follower(t, newClient(t, nodeURL), start, false)
	stop := run(t, f)
	head, _ := s.Head()
	testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == head }, "commit of the head")
	s.Mine(3)
	head, _ = s.Head()
	testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == head }, "commit of new blocks")
	stop()
	require.Positive(t, s.Status().RateLimited, "no 429 answered: the test proves little")

	want := expected(t, s, ts, start, head)
	h := history(t, e.db)
	for _, sub := range ts {
		require.Equal(t, want[sub.id], liveIDs(h[sub.id]), sub.id)
	}
	require.Equal(t, countDocs(h), streamMsgs(t, e.js))
	requireLinks(t, e.js, h)
	requirePages(t, e.db, h)
}
