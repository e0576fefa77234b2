package lease_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/lease"
	"github.com/mongotron/mongotron/pkg/testenv"
)

var testMongo *mongo.Client

func TestMain(m *testing.M) {
	testenv.Main(m, func(s testenv.Servers) { testMongo = s.Client })
}

// collection returns a collection of its own in a database of its own.
func collection(tb testing.TB) *mongo.Collection {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := testMongo.Database("lease_" + hex.EncodeToString(b[:]))
	tb.Cleanup(func() { _ = db.Drop(context.Background()) })
	return db.Collection("leases")
}

func newStore(tb testing.TB, coll *mongo.Collection, c *testenv.Clock, f lease.Fields) *lease.Store {
	tb.Helper()
	s, err := lease.New(lease.Config{Collection: coll, Fields: f, Now: c.Now})
	require.NoError(tb, err)
	return s
}

const ttl = time.Minute

func TestStore_Acquire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, s *lease.Store, c *testenv.Clock)
	}{
		{"first acquisition gets token 1", func(t *testing.T, s *lease.Store, c *testenv.Clock) {
			a, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			require.Equal(t, lease.Tenure{Name: "l", Holder: "a", Token: 1, Expires: c.Now().Add(ttl)}, a)
			require.NoError(t, s.Check(t.Context(), a))
			got, err := s.Latest(t.Context(), "l")
			require.NoError(t, err)
			require.Equal(t, a, *got)
		}},
		{"held by another: refused with the holder's tenure", func(t *testing.T, s *lease.Store, c *testenv.Clock) {
			a, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			c.Advance(ttl - time.Millisecond)
			held, err := s.Acquire(t.Context(), "l", "b", ttl)
			require.ErrorIs(t, err, lease.ErrHeld)
			require.Equal(t, a, held)
		}},
		{"held by the same holder: taken again with the next token", func(t *testing.T, s *lease.Store, _ *testenv.Clock) {
			_, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			again, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			require.Equal(t, int64(2), again.Token)
		}},
		{"expired: taken over with the next token, the old tenure lost", func(t *testing.T, s *lease.Store, c *testenv.Clock) {
			a, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			c.Advance(ttl)
			b, err := s.Acquire(t.Context(), "l", "b", ttl)
			require.NoError(t, err)
			require.Equal(t, a.Token+1, b.Token)
			require.ErrorIs(t, s.Check(t.Context(), a), lease.ErrLost)
			_, err = s.Renew(t.Context(), a, ttl)
			require.ErrorIs(t, err, lease.ErrLost)
			require.NoError(t, s.Check(t.Context(), b))
		}},
		{"renewal keeps it past the first expiry", func(t *testing.T, s *lease.Store, c *testenv.Clock) {
			a, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			c.Advance(ttl / 2)
			a, err = s.Renew(t.Context(), a, ttl)
			require.NoError(t, err)
			require.Equal(t, c.Now().Add(ttl), a.Expires)
			c.Advance(ttl / 2)
			_, err = s.Acquire(t.Context(), "l", "b", ttl)
			require.ErrorIs(t, err, lease.ErrHeld)
			require.NoError(t, s.Check(t.Context(), a))
		}},
		{"expired but not taken over: checks fail, renewal works", func(t *testing.T, s *lease.Store, c *testenv.Clock) {
			a, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			c.Advance(ttl)
			require.ErrorIs(t, s.Check(t.Context(), a), lease.ErrLost)
			a, err = s.Renew(t.Context(), a, ttl)
			require.NoError(t, err)
			require.NoError(t, s.Check(t.Context(), a))
		}},
		{"release frees it at once and keeps the holder on record", func(t *testing.T, s *lease.Store, _ *testenv.Clock) {
			a, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			require.NoError(t, s.Release(t.Context(), a))
			require.ErrorIs(t, s.Check(t.Context(), a), lease.ErrLost)
			got, err := s.Latest(t.Context(), "l")
			require.NoError(t, err)
			require.Equal(t, "a", got.Holder)
			b, err := s.Acquire(t.Context(), "l", "b", ttl)
			require.NoError(t, err)
			require.Equal(t, int64(2), b.Token)
		}},
		{"parked: nobody takes it before the time, its holder included", func(t *testing.T, s *lease.Store, c *testenv.Clock) {
			a, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			until := c.Now().Add(10 * time.Minute)
			require.NoError(t, s.Park(t.Context(), a, until))
			for _, h := range []string{"a", "b"} {
				held, err := s.Acquire(t.Context(), "l", h, ttl)
				require.ErrorIs(t, err, lease.ErrHeld, h)
				require.Equal(t, until, held.Expires)
				require.Empty(t, held.Holder)
			}
			c.Advance(10 * time.Minute)
			b, err := s.Acquire(t.Context(), "l", "b", ttl)
			require.NoError(t, err)
			require.Equal(t, int64(2), b.Token)
		}},
		{"woken: a parked lease is free at once, a held one stays held", func(t *testing.T, s *lease.Store, c *testenv.Clock) {
			a, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			require.NoError(t, s.Wake(t.Context(), "l"))
			_, err = s.Acquire(t.Context(), "l", "b", ttl)
			require.ErrorIs(t, err, lease.ErrHeld, "held, not parked: Wake leaves it alone")
			require.NoError(t, s.Park(t.Context(), a, c.Now().Add(time.Hour)))
			require.NoError(t, s.Wake(t.Context(), "l"))
			_, err = s.Acquire(t.Context(), "l", "b", ttl)
			require.NoError(t, err)
			require.NoError(t, s.Wake(t.Context(), "nothing here"))
		}},
		{"leases of other names are apart", func(t *testing.T, s *lease.Store, _ *testenv.Clock) {
			_, err := s.Acquire(t.Context(), "l", "a", ttl)
			require.NoError(t, err)
			o, err := s.Acquire(t.Context(), "l2", "b", ttl)
			require.NoError(t, err)
			require.Equal(t, int64(1), o.Token)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := testenv.NewClock()
			tc.run(t, newStore(t, collection(t), c, lease.Fields{}), c)
		})
	}
}

func TestStore_Acquire_racesHaveOneWinner(t *testing.T) {
	t.Parallel()
	const n = 6
	race := func(t *testing.T, s *lease.Store, round int) []lease.Tenure {
		var wg sync.WaitGroup
		terms := make([]lease.Tenure, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { terms[i], errs[i] = s.Acquire(t.Context(), "l", fmt.Sprintf("r%d-%d", round, i), ttl) })
		}
		wg.Wait()
		var won []lease.Tenure
		for i, err := range errs {
			if err == nil {
				won = append(won, terms[i])
			} else {
				require.ErrorIs(t, err, lease.ErrHeld)
			}
		}
		return won
	}
	c := testenv.NewClock()
	s := newStore(t, collection(t), c, lease.Fields{})
	won := race(t, s, 0)
	require.Len(t, won, 1, "first acquisition")
	require.Equal(t, int64(1), won[0].Token)
	// FerretDB applies an update as a read then a write, so a takeover by
	// conditional update would let several take an expired lease with one
	// token; a takeover by inserting the next tenure lets exactly one.
	for round := 1; round <= 3; round++ {
		prev := won[0]
		c.Advance(ttl)
		won = race(t, s, round)
		require.Len(t, won, 1, "takeover %d", round)
		require.Equal(t, prev.Token+1, won[0].Token)
		require.NoError(t, s.Check(t.Context(), won[0]))
		require.ErrorIs(t, s.Check(t.Context(), prev), lease.ErrLost)
	}
}

// The documents a lease leaves: its latest tenure and its hint, whatever
// the number of tenures before.
func TestStore_Acquire_deletesEarlierTenures(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	coll := collection(t)
	s := newStore(t, coll, c, lease.Fields{})
	for i := range 5 {
		_, err := s.Acquire(t.Context(), "l", fmt.Sprintf("h%d", i), ttl)
		require.NoError(t, err)
		c.Advance(ttl)
	}
	var ids []string
	var docs []bson.M
	require.NoError(t, testenv.FindAll(t.Context(), coll, bson.M{}, &docs))
	for _, d := range docs {
		ids = append(ids, d["_id"].(string))
	}
	require.ElementsMatch(t, []string{"l", lease.TenureID("l", 5)}, ids)
}

// Tenures written before hints existed, in a collection with field names
// of its own, are found by their name; the next acquisition writes the
// hint, and a store of the old shape sees the new tenure.
func TestStore_Latest_withoutHint(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	coll := collection(t)
	f := lease.Fields{Name: "subscription_id", Holder: "owner", Token: "epoch", Expires: "lease_until"}
	s := newStore(t, coll, c, f)
	old := c.Now().Add(-time.Second)
	for _, epoch := range []int64{6, 7} {
		_, err := coll.InsertOne(t.Context(), bson.M{
			"_id": lease.TenureID("sub_x", epoch), "subscription_id": "sub_x", "epoch": epoch, "owner": "old-edge", "lease_until": old,
		})
		require.NoError(t, err)
	}
	got, err := s.Latest(t.Context(), "sub_x")
	require.NoError(t, err)
	require.Equal(t, lease.Tenure{Name: "sub_x", Holder: "old-edge", Token: 7, Expires: old.Truncate(time.Millisecond)}, *got)

	b, err := s.Acquire(t.Context(), "sub_x", "new-edge", ttl)
	require.NoError(t, err)
	require.Equal(t, int64(8), b.Token)
	var doc bson.M
	require.NoError(t, coll.FindOne(t.Context(), bson.M{"subscription_id": "sub_x", "epoch": int64(8)}).Decode(&doc))
	require.Equal(t, "new-edge", doc["owner"], "written with the collection's own field names")
	n, err := coll.CountDocuments(t.Context(), bson.M{"subscription_id": "sub_x"})
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the earlier tenures are deleted")
}

// A hint that lags behind the latest tenure is followed to it; one whose
// tenure is gone falls back to a query by name.
func TestStore_Latest_laggingHint(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	coll := collection(t)
	s := newStore(t, coll, c, lease.Fields{})
	for i := range 3 {
		_, err := s.Acquire(t.Context(), "l", fmt.Sprintf("h%d", i), ttl)
		require.NoError(t, err)
		c.Advance(ttl)
	}
	// Tenure 3 is the latest; put back tenure 2 and point the hint at it.
	_, err := coll.InsertOne(t.Context(), bson.M{"_id": lease.TenureID("l", 2), "lease": "l", "holder": "h1", "token": int64(2), "expires_at": c.Now()})
	require.NoError(t, err)
	_, err = coll.UpdateOne(t.Context(), bson.M{"_id": "l"}, bson.M{"$set": bson.M{"latest_token": int64(2)}})
	require.NoError(t, err)
	got, err := s.Latest(t.Context(), "l")
	require.NoError(t, err)
	require.Equal(t, int64(3), got.Token)

	_, err = coll.UpdateOne(t.Context(), bson.M{"_id": "l"}, bson.M{"$set": bson.M{"latest_token": int64(1)}})
	require.NoError(t, err)
	got, err = s.Latest(t.Context(), "l")
	require.NoError(t, err)
	require.Equal(t, int64(3), got.Token, "tenure 1 is gone: found by name")

	next, err := s.Acquire(t.Context(), "l", "h9", ttl)
	require.NoError(t, err)
	require.Equal(t, int64(4), next.Token)
}

func TestNew_requiresACollection(t *testing.T) {
	t.Parallel()
	_, err := lease.New(lease.Config{})
	require.Error(t, err)
}
