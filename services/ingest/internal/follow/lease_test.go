package follow_test

import (
	"context"
	"errors"
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
	l, err := follow.NewLease(follow.LeaseConfig{DB: db, Holder: holder, TTL: ttl, Logger: testLogger()})
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
	tests := []struct {
		name string
		run  func(t *testing.T, db *mongo.Database)
	}{
		{"first acquisition gets token 1", func(t *testing.T, db *mongo.Database) {
			a := newLease(t, db, "a", time.Minute)
			term, err := a.Acquire(t.Context())
			require.NoError(t, err)
			require.Equal(t, int64(1), term.Token())
			require.NoError(t, term.Check(t.Context()))
			require.Equal(t, "a", readLease(t, db).Holder)
		}},
		{"held by another: refused, token unchanged", func(t *testing.T, db *mongo.Database) {
			a, b := newLease(t, db, "a", time.Minute), newLease(t, db, "b", time.Minute)
			_, err := a.Acquire(t.Context())
			require.NoError(t, err)
			_, err = b.Acquire(t.Context())
			require.ErrorIs(t, err, follow.ErrNotLeader)
			got := readLease(t, db)
			require.Equal(t, "a", got.Holder)
			require.Equal(t, int64(1), got.Token)
		}},
		{"expired: taken over with the next token, old term fenced", func(t *testing.T, db *mongo.Database) {
			a, b := newLease(t, db, "a", 300*time.Millisecond), newLease(t, db, "b", time.Minute)
			ta, err := a.Acquire(t.Context())
			require.NoError(t, err)
			var tb *follow.Term
			waitFor(t, 10*time.Second, "expiry", func() bool {
				tb, err = b.Acquire(t.Context())
				return err == nil
			})
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
		{"renewal keeps it, release frees it at once", func(t *testing.T, db *mongo.Database) {
			a, b := newLease(t, db, "a", time.Minute), newLease(t, db, "b", time.Minute)
			ta, err := a.Acquire(t.Context())
			require.NoError(t, err)
			require.NoError(t, a.Renew(t.Context(), ta))
			_, err = b.Acquire(t.Context())
			require.ErrorIs(t, err, follow.ErrNotLeader)
			require.NoError(t, a.Release(t.Context(), ta))
			require.ErrorIs(t, ta.Check(t.Context()), follow.ErrFenced)
			tb, err := b.Acquire(t.Context())
			require.NoError(t, err)
			require.Equal(t, int64(2), tb.Token())
		}},
		{"racing first acquisitions: exactly one wins", func(t *testing.T, db *mongo.Database) {
			const n = 6
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				l := newLease(t, db, string(rune('a'+i)), time.Minute)
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
		// conditional update let two ingests both take an expired lease
		// with the same token. Taking it by inserting the next tenure lets
		// exactly one.
		{"racing takeovers of an expired lease: exactly one wins", func(t *testing.T, db *mongo.Database) {
			for round := range 4 {
				old := newLease(t, db, "old", 200*time.Millisecond)
				to, err := old.Acquire(t.Context())
				require.NoError(t, err)
				time.Sleep(250 * time.Millisecond)
				const n = 6
				var wg sync.WaitGroup
				terms := make([]*follow.Term, n)
				errs := make([]error, n)
				for i := range n {
					l := newLease(t, db, fmt.Sprintf("r%d-%d", round, i), time.Minute)
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
				// Expire it for the next round.
				_, err = db.Collection(store.Leases).UpdateMany(t.Context(), bson.M{}, bson.M{"$set": bson.M{"expires_at": time.Now().Add(-time.Second)}})
				require.NoError(t, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, leaseDB(t, m, "lease_"+sanitize(tc.name)))
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
	a, b := newLease(t, db, "a", 3*time.Second), newLease(t, db, "b", 3*time.Second)

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
	// b stays on standby across several renewals of a.
	time.Sleep(time.Second) // a window in which nothing may happen, not a wait for a condition
	require.True(t, a.IsLeader())
	require.False(t, b.IsLeader())
	require.Empty(t, rb.leads)

	// A graceful stop releases: b leads at its next attempt, well within
	// the TTL.
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
	a := newLease(t, db, "a", 900*time.Millisecond)
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
		"token": first.Token() + 1, "expires_at": time.Now().Add(time.Second)})
	require.NoError(t, err)
	select {
	case err := <-stopped:
		require.True(t, errors.Is(err, context.Canceled))
	case <-time.After(10 * time.Second):
		t.Fatal("a kept leading after losing the lease")
	}
	// The intruder's lease expires: a leads again, with a newer token.
	select {
	case second := <-leads:
		require.Greater(t, second.Token(), first.Token()+1, "the intruder's token is in between")
	case <-time.After(10 * time.Second):
		t.Fatal("a did not lead again")
	}
	cancel()
	require.NoError(t, <-done)
}
