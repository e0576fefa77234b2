package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	mtclient "github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
)

// clientEnv is a real edge (restartable behind a fixed address), its real
// NATS and FerretDB, and a publisher that plays the ingest's part.
type clientEnv struct {
	t  *testing.T
	db *mongo.Database
	nc *nats.Conn
	*edgeSlot
}

func newClientEnv(t *testing.T) *clientEnv {
	t.Helper()
	n := testenv.RunNATS(t)
	m := testenv.RunMongo(t)
	flags := []string{"--nats.url=" + n.URL(), "--mongo.uri=" + m.URI(), "--shutdown-timeout=5s",
		"--http.addr=127.0.0.1:0", "--admin-key=" + testAdminKey, "--api.rate-limit=-1"}
	e := &clientEnv{t: t}

	dbName, err := store.DatabaseName(m.URI())
	require.NoError(t, err)
	mc, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	e.db = mc.Database(dbName)
	e.nc, err = nats.Connect(n.URL())
	require.NoError(t, err)
	t.Cleanup(e.nc.Close)

	e.edgeSlot = newEdgeSlot(t, flags, checkedTransport(t))
	return e
}

func (e *clientEnv) client(key string) *mtclient.Client {
	e.t.Helper()
	c, err := mtclient.New(e.proxy.URL, mtclient.APIKey(key))
	require.NoError(e.t, err)
	return c
}

func e2eCursor(i int) string { return cursor.Cursor{Step: uint64(i), Pos: 1}.String() }

const (
	addrA = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
	addrB = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
)

// publish does what the ingest does with event i of subID: store it, then
// publish the same JSON on the subscription's subject. The events of a
// subscription are 1, 2, 3 …: event i names i-1 as its predecessor.
func (e *clientEnv) publish(subID string, i int) {
	e.t.Helper()
	from, err := tron.ParseAddress(addrA)
	require.NoError(e.t, err)
	to, err := tron.ParseAddress(addrB)
	require.NoError(e.t, err)
	ev := event.Event{
		Type: event.TypeEvent, Cursor: e2eCursor(i), ID: fmt.Sprintf("%064x:0", i), SubscriptionID: subID,
		Kind: event.KindTRXTransfer, Network: tron.NetworkMainnet,
		Block: event.BlockRef{Number: int64(1000 + i), ID: fmt.Sprintf("%064x", 1000+i), Timestamp: time.Unix(1_735_787_045+int64(i)*3, 0).UTC()},
		TxID:  fmt.Sprintf("%064x", i), Success: true, Watched: to, Direction: event.DirectionIn,
		From: from, To: to, Amount: tron.AmountFromInt64(int64(i) * 1_000_000),
	}
	if i > 1 {
		ev.PrevCursor = e2eCursor(i - 1)
	}
	b, err := json.Marshal(&ev)
	require.NoError(e.t, err)
	require.NoError(e.t, store.AppendEvents(e.t.Context(), e.db, store.EventDoc{
		ID: store.EventDocID(subID, ev.Cursor), SubscriptionID: subID, Cursor: ev.Cursor, EventID: ev.ID,
		Kind: string(ev.Kind), TxID: ev.TxID, Block: ev.Block.Number, BlockID: ev.Block.ID,
		Addresses: []string{addrA, addrB}, CreatedAt: time.Now().UTC(), JSON: b,
	}))
	require.NoError(e.t, e.nc.Publish(bus.EventsSubject(subID), b))
	require.NoError(e.t, e.nc.Flush())
}

// next reads one event from s within a bounded time.
func next(t *testing.T, s *mtclient.Stream) mtclient.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ev, err := s.Next(ctx)
	require.NoError(t, err)
	return ev
}

func TestClient_endToEnd(t *testing.T) {
	t.Parallel()
	e := newClientEnv(t)
	ctx := t.Context()

	// Keys: only the admin key makes them.
	admin := e.client(testAdminKey)
	k, err := admin.CreateKey(ctx, "acme")
	require.NoError(t, err)
	c := e.client(k.Key)
	_, err = c.CreateKey(ctx, "evil")
	require.ErrorIs(t, err, mtclient.ErrForbidden)

	// Subscriptions and addresses through the typed API.
	sub, err := c.CreateSubscription(ctx, mtclient.CreateRequest{Label: "deposits", Addresses: []string{addrB}, Kinds: []string{"trx_transfer"}})
	require.NoError(t, err)
	require.Equal(t, "active", sub.Status)
	require.Equal(t, 19, sub.Confirmations)
	_, err = c.CreateSubscription(ctx, mtclient.CreateRequest{Addresses: []string{"Tnot-an-address"}})
	require.ErrorIs(t, err, mtclient.ErrInvalid)
	var apiErr *mtclient.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "invalid_address", apiErr.Code)

	res, err := c.AddAddresses(ctx, sub.ID, []string{addrA, addrB})
	require.NoError(t, err)
	require.Equal(t, mtclient.AddressesResult{Changed: 1, AddressCount: 2, Batches: 1}, res)
	var addrs []string
	for a, err := range c.AllAddresses(ctx, sub.ID, 1) {
		require.NoError(t, err)
		addrs = append(addrs, a)
	}
	require.ElementsMatch(t, []string{addrA, addrB}, addrs)

	one := 1
	label := "renamed"
	up, err := c.UpdateSubscription(ctx, sub.ID, mtclient.UpdateRequest{Label: &label, Confirmations: &one})
	require.NoError(t, err)
	require.Equal(t, "renamed", up.Label)
	require.Equal(t, 1, up.Confirmations)
	var ids []string
	for s, err := range c.AllSubscriptions(ctx, 0) {
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	require.Equal(t, []string{sub.ID}, ids)
	_, err = c.GetSubscription(ctx, "sub_absent")
	require.ErrorIs(t, err, mtclient.ErrNotFound)

	// The stream: a replay after a cursor, then live events.
	for i := 1; i <= 3; i++ {
		e.publish(sub.ID, i)
	}
	var (
		stMu   sync.Mutex
		states []mtclient.State
	)
	s := c.Stream(ctx, sub.ID, mtclient.StreamOptions{
		After:      e2eCursor(1),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		StateHandler: func(st mtclient.State) {
			stMu.Lock()
			states = append(states, st)
			stMu.Unlock()
		},
	})
	defer s.Close()
	var got []string
	for range 2 {
		got = append(got, next(t, s).Cursor)
	}
	e.publish(sub.ID, 4)
	e.publish(sub.ID, 5)
	for range 2 {
		ev := next(t, s)
		got = append(got, ev.Cursor)
		require.Equal(t, addrA, ev.From.String())
		require.Equal(t, event.DirectionIn, ev.Direction)
	}

	// The edge restarts (1012); an event lands while none runs, and the
	// client resumes from its last cursor through the new edge.
	e.stop()
	e.publish(sub.ID, 6)
	e.start()
	got = append(got, next(t, s).Cursor)
	e.publish(sub.ID, 7)
	got = append(got, next(t, s).Cursor)

	var want []string
	for i := 2; i <= 7; i++ {
		want = append(want, e2eCursor(i))
	}
	require.Equal(t, want, got, "every event once, in order, across the restart")
	require.Equal(t, e2eCursor(7), s.Cursor())
	stMu.Lock()
	reconnected := false
	for _, st := range states {
		if st.Status == mtclient.StatusReconnecting {
			reconnected = true
			require.Error(t, st.Err)
		}
		require.False(t, st.Gap)
	}
	stMu.Unlock()
	require.True(t, reconnected, "the restart was seen as a reconnection")

	// History holds the same events, byte for byte.
	var hist []mtclient.Event
	for ev, err := range c.AllHistory(ctx, sub.ID, mtclient.HistoryOptions{Limit: 3}) {
		require.NoError(t, err)
		hist = append(hist, ev)
	}
	require.Len(t, hist, 7)
	page, err := c.History(ctx, sub.ID, mtclient.HistoryOptions{After: e2eCursor(5), TxID: fmt.Sprintf("%064x", 6)})
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	require.Equal(t, e2eCursor(6), page.Events[0].Cursor)
	require.Empty(t, page.Next)

	// Deleting the subscription ends the stream for good.
	require.NoError(t, c.DeleteSubscription(ctx, sub.ID))
	nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err = s.Next(nctx)
	require.ErrorIs(t, err, mtclient.ErrSubscriptionDeleted)
	require.ErrorIs(t, c.DeleteSubscription(ctx, sub.ID), mtclient.ErrNotFound)

	// A revoked key closes its streams with 1008.
	sub2, err := c.CreateSubscription(ctx, mtclient.CreateRequest{Kinds: []string{"trc20_transfer"}})
	require.NoError(t, err)
	connected := make(chan struct{}, 1)
	s2 := c.Stream(ctx, sub2.ID, mtclient.StreamOptions{StateHandler: func(st mtclient.State) {
		if st.Status == mtclient.StatusConnected {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	}})
	defer s2.Close()
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatal("the second stream did not connect")
	}
	require.NoError(t, admin.RevokeKey(ctx, k.ID))
	_, err = s2.Next(nctx)
	require.ErrorIs(t, err, mtclient.ErrUnauthorized)
}
