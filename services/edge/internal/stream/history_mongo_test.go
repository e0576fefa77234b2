package stream

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
)

// A replay from MongoDB reads the history pages by _id alone, the one
// lookup whose cost does not grow with the collection on FerretDB and on
// MongoDB, and hands every event after the cursor once, in order, in
// batches of at most the batch size.
func TestMongoHistory_replayReadsPagesByID(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var offences []string
	reads := 0
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName != "find" && e.CommandName != "aggregate" {
			return
		}
		coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
		if !strings.HasPrefix(coll, store.EventPages) && !strings.HasPrefix(coll, store.EventPageBounds) && coll != store.Events && coll != store.SubHeads {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		reads++
		f, ok := e.Command.Lookup("filter").DocumentOK()
		elems, _ := f.Elements()
		if e.CommandName != "find" || !ok || len(elems) != 1 || elems[0].Key() != "_id" || elems[0].Value().Type != bson.TypeString {
			offences = append(offences, fmt.Sprintf("%s on %s: %s", e.CommandName, coll, f))
		}
	}}
	mc, err := mongo.Connect(options.Client().ApplyURI(testMongoSrv.URI()).SetMonitor(mon))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database(randomID("t_"))
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	const sub = "sub_r"
	var docs []store.EventDoc
	var cursors []string
	for i := range 300 {
		c := testCursor(uint64(i+1), 0)
		cursors = append(cursors, c)
		docs = append(docs, store.EventDoc{SubscriptionID: sub, Cursor: c, EventID: fmt.Sprintf("tx%d:0", i), CreatedAt: time.Now(), JSON: testEvent(sub, c, i, 0)})
	}
	require.NoError(t, store.AppendEvents(t.Context(), db, docs...))
	h := newMongoHistory(db)
	mu.Lock()
	offences, reads = nil, 0
	mu.Unlock()

	for _, tt := range []struct {
		after string
		want  []string
	}{{"", cursors}, {cursors[99], cursors[100:]}, {testCursor(1000, 0), nil}} {
		var got []string
		require.NoError(t, h.Scan(t.Context(), sub, tt.after, 7, func(recs []Record) error {
			require.LessOrEqual(t, len(recs), 7)
			for _, r := range recs {
				got = append(got, r.Cursor)
			}
			return nil
		}))
		require.Equal(t, tt.want, got, "after %q", tt.after)
	}
	newest, err := h.Newest(t.Context(), sub, "")
	require.NoError(t, err)
	require.Equal(t, cursors[299], newest)
	ok, err := h.Retained(t.Context(), sub, cursors[5])
	require.NoError(t, err)
	require.True(t, ok)

	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, offences)
	require.Positive(t, reads)
}
