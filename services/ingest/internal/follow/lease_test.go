package follow_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
)

// leaseDB connects a client to database name of m, so that the cases of
// one test share one FerretDB.
func leaseDB(t testing.TB, m *testenv.Mongo, name string) *mongo.Database {
	t.Helper()
	mc, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	return mc.Database(name)
}

func newLease(t testing.TB, db *mongo.Database, holder string, ttl time.Duration) *follow.Lease {
	t.Helper()
	return newLeaseAt(t, db, holder, ttl, nil)
}

// newLeaseAt is newLease on the clock c (nil: the wall clock).
func newLeaseAt(t testing.TB, db *mongo.Database, holder string, ttl time.Duration, c *testenv.Clock) *follow.Lease {
	t.Helper()
	cfg := follow.LeaseConfig{DB: db, Holder: holder, TTL: ttl, Logger: testLogger()}
	if c != nil {
		cfg.Now = c.Now
	}
	l, err := follow.NewLease(cfg)
	require.NoError(t, err)
	return l
}

type leaseState struct {
	Holder    string    `bson:"holder"`
	Token     int64     `bson:"token"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// readLease returns the lease's newest tenure.
func readLease(t testing.TB, db *mongo.Database) leaseState {
	t.Helper()
	var d leaseState
	require.NoError(t, db.Collection(store.Leases).FindOne(t.Context(), bson.M{"lease": follow.LeaseID},
		options.FindOne().SetSort(bson.M{"token": -1})).Decode(&d))
	return d
}

func TestLease_Acquire(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	const ttl = time.Minute
	tests := []struct {
		name string
		run  func(t *testing.T, db *mongo.Database, c *testenv.Clock)
	}{
		{"first acquisition gets token 1", func(t *testing.T, db *mongo.Database, c *testenv.Clock) {
			a := newLeaseAt(t, db, "a", ttl, c)
			term, err := a.Acquire(t.Context())
			require.NoError(t, err)
			require.Equal(t, int64(1), term.Token())
			require.NoError(t, term.Check(t.Context()))
			require.Equal(t, "a", readLease(t, db).Holder)
		}},
		{"held by another: refused, token unchanged", func(t *testing.T, db *mongo.Database, c *testenv.Clock) {
			a, b := newLeaseAt(t, db, "a", ttl, c), newLeaseAt(t, db, "b", ttl, c)
			_, err := a.Acquire(t.Context())
			require.NoError(t, err)
			c.Advance(ttl - time.Millisecond)
			_, err = b.Acquire(t.Context())
			require.ErrorIs(t, err, follow.ErrNotLeader)
			got := readLease(t, db)
			require.Equal(t, "a", got.Holder)
			require.Equal(t, int64(1), got.Token)
		}},
		{"expired: taken over with the next token, old term fenced", func(t *testing.T, db *mongo.Database, c *testenv.Clock) {
			a, b := newLeaseAt(t, db, "a", ttl, c), newLeaseAt(t, db, "b", ttl, c)
			ta, err := a.Acquire(t.Context())
			require.NoError(t, err)
			c.Advance(ttl)
			tb, err := b.Acquire(t.Context())
			require.NoError(t, err)
			require.Equal(t, ta.Token()+1, tb.Token())
			require.ErrorIs(t, ta.Check(t.Context()), follow.ErrFenced)
			require.ErrorIs(t, a.Renew(t.Context(), ta), follow.ErrFenced)
			require.NoError(t, tb.Check(t.Context()))
			select {
			case <-ta.Lost():
			default:
				t.Fatal("the old term is not marked lost")
			}
		}},
		{"past its own expiry a term is fenced, whatever the document says", func(t *testing.T, db *mongo.Database, c *testenv.Clock) {
			a := newLeaseAt(t, db, "a", ttl, c)
			ta, err := a.Acquire(t.Context())
			require.NoError(t, err)
			c.Advance(ttl)
			require.ErrorIs(t, ta.Check(t.Context()), follow.ErrFenced)
		}},
		{"renewal keeps it, release frees it at once", func(t *testing.T, db *mongo.Database, c *testenv.Clock) {
			a, b := newLeaseAt(t, db, "a", ttl, c), newLeaseAt(t, db, "b", ttl, c)
			ta, err := a.Acquire(t.Context())
			require.NoError(t, err)
			c.Advance(ttl / 2)
			require.NoError(t, a.Renew(t.Context(), ta))
			c.Advance(ttl / 2)
			_, err = b.Acquire(t.Context())
			require.ErrorIs(t, err, follow.ErrNotLeader)
			require.NoError(t, ta.Check(t.Context()), "renewed past the first expiry")
			require.NoError(t, a.Release(t.Context(), ta))
			require.ErrorIs(t, ta.Check(t.Context()), follow.ErrFenced)
			tb, err := b.Acquire(t.Context())
			require.NoError(t, err)
			require.Equal(t, int64(2), tb.Token())
		}},
		{"racing first acquisitions: exactly one wins", func(t *testing.T, db *mongo.Database, c *testenv.Clock) {
			const n = 6
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				l := newLeaseAt(t, db, string(rune('a'+i)), ttl, c)
				wg.Go(func() { _, errs[i] = l.Acquire(t.Context()) })
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				if err == nil {
					won++
				} else {
					require.ErrorIs(t, err, follow.ErrNotLeader)
				}
			}
			require.Equal(t, 1, won)
			require.Equal(t, int64(1), readLease(t, db).Token)
		}},
		// FerretDB applies an update as a read then a write: a takeover by
		// conditional update would let two ingests both take an expired
		// lease with the same token. Taking it by inserting the next
		// tenure lets exactly one.
		{"racing takeovers of an expired lease: exactly one wins", func(t *testing.T, db *mongo.Database, c *testenv.Clock) {
			for round := range 4 {
				old := newLeaseAt(t, db, fmt.Sprintf("old%d", round), ttl, c)
				to, err := old.Acquire(t.Context())
				require.NoError(t, err)
				c.Advance(ttl)
				const n = 6
				var wg sync.WaitGroup
				terms := make([]*follow.Term, n)
				errs := make([]error, n)
				for i := range n {
					l := newLeaseAt(t, db, fmt.Sprintf("r%d-%d", round, i), ttl, c)
					wg.Go(func() { terms[i], errs[i] = l.Acquire(t.Context()) })
				}
				wg.Wait()
				var won []*follow.Term
				for i, err := range errs {
					if err == nil {
						won = append(won, terms[i])
					} else {
						require.ErrorIs(t, err, follow.ErrNotLeader)
					}
				}
				require.Len(t, won, 1, "round %d", round)
				require.Equal(t, to.Token()+1, won[0].Token())
				require.NoError(t, won[0].Check(t.Context()))
				c.Advance(ttl) // the winner's lease expires for the next round
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, leaseDB(t, m, "lease_"+sanitize(tc.name)), testenv.NewClock())
		})
	}
}

func sanitize(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < 30; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			out = append(out, c)
		}
	}
	return string(out)
}

func TestLease_Run(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	db := leaseDB(t, m, "lease_run")
	// The clock stands still: a's lease cannot expire, so b can only
	// take over when a releases it.
	c := testenv.NewClock()
	a, b := newLeaseAt(t, db, "a", 3*time.Second, c), newLeaseAt(t, db, "b", 3*time.Second, c)

	type runner struct {
		cancel context.CancelFunc
		done   chan error
		leads  chan int64
	}
	start := func(l *follow.Lease) *runner {
		ctx, cancel := context.WithCancel(t.Context())
		r := &runner{cancel: cancel, done: make(chan error, 1), leads: make(chan int64, 10)}
		var wg sync.WaitGroup
		wg.Go(func() {
			r.done <- l.Run(ctx, func(ctx context.Context, term *follow.Term) error {
				r.leads <- term.Token()
				<-ctx.Done()
				return nil
			})
		})
		t.Cleanup(func() { cancel(); wg.Wait() })
		return r
	}
	ra := start(a)
	// An attempt that timed out on our side may still have taken a
	// token, so only the order of tokens is certain.
	tokA := <-ra.leads
	require.Positive(t, tokA)
	rb := start(b)
	// b stays on standby across several of its attempts and a's
	// renewals: a window in which nothing may happen, not a wait for a
	// condition.
	time.Sleep(time.Second)
	require.True(t, a.IsLeader())
	require.False(t, b.IsLeader())
	require.Empty(t, rb.leads)

	// A graceful stop releases: b leads at its next attempt.
	ra.cancel()
	require.NoError(t, <-ra.done)
	select {
	case tok := <-rb.leads:
		require.Greater(t, tok, tokA)
	case <-time.After(10 * time.Second):
		t.Fatal("b did not take over")
	}
	require.False(t, a.IsLeader())
	require.True(t, b.IsLeader())
	require.Equal(t, "b", readLease(t, db).Holder)
}

func TestLease_RunStepsDownWhenTakenOver(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	db := leaseDB(t, m, "lease_stepdown")
	c := testenv.NewClock()
	a := newLeaseAt(t, db, "a", 900*time.Millisecond, c)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	leads := make(chan *follow.Term, 4)
	stopped := make(chan error, 4)
	done := make(chan error, 1)
	go func() {
		done <- a.Run(ctx, func(ctx context.Context, term *follow.Term) error {
			leads <- term
			<-ctx.Done()
			stopped <- ctx.Err()
			return nil
		})
	}()
	first := <-leads
	// Someone else forces the lease (an operator, or a clock far ahead):
	// a's next renewal sees it and stops leading at once.
	_, err := db.Collection(store.Leases).InsertOne(t.Context(), bson.M{
		"_id": follow.TenureID(first.Token() + 1), "lease": follow.LeaseID, "holder": "intruder",
		"token": first.Token() + 1, "expires_at": c.Now().Add(time.Minute)})
	require.NoError(t, err)
	select {
	case err := <-stopped:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("a kept leading after losing the lease")
	}
	require.Empty(t, leads, "a does not lead while the intruder's lease runs")
	// The intruder's lease expires: a leads again, with a newer token.
	c.Advance(time.Minute)
	select {
	case second := <-leads:
		require.Greater(t, second.Token(), first.Token()+1, "the intruder's token is in between")
	case <-time.After(10 * time.Second):
		t.Fatal("a did not lead again")
	}
	cancel()
	require.NoError(t, <-done)
}
