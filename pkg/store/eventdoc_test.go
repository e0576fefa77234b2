package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/tron"
)

func TestNewEventDoc(t *testing.T) {
	t.Parallel()
	a, err := tron.ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(t, err)
	b, err := tron.ParseAddress("TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7")
	require.NoError(t, err)
	now := time.Unix(1_735_787_045, 0).UTC()
	ev := event.Event{
		Cursor: "00000000000000070000000000000001", PrevCursor: "00000000000000070000000000000000",
		ID: "ab:3", SubscriptionID: "sub_1", Kind: event.KindTRXTransfer, Removed: true, TxID: "ab",
		Block: event.BlockRef{Number: 42, ID: "blk"}, From: a, To: b, Watched: b,
	}
	doc, err := store.NewEventDoc(&ev, now)
	require.NoError(t, err)
	require.Equal(t, event.TypeEvent, ev.Type)
	require.Equal(t, store.EventDoc{
		ID: "sub_1|00000000000000070000000000000001", SubscriptionID: "sub_1", Cursor: ev.Cursor, EventID: "ab:3",
		Removed: true, Kind: "trx_transfer", TxID: "ab", Block: 42, BlockID: "blk",
		Addresses: []string{a.String(), b.String()}, CreatedAt: now, JSON: doc.JSON,
	}, doc)
	var back event.Event
	require.NoError(t, json.Unmarshal(doc.JSON, &back))
	require.Equal(t, ev.PrevCursor, back.PrevCursor, "the link is part of the stored JSON")
	require.Equal(t, ev, back)

	first := event.Event{Cursor: "00000000000000010000000000000000", ID: "cd:0", SubscriptionID: "sub_1", Kind: event.KindVote}
	doc, err = store.NewEventDoc(&first, now)
	require.NoError(t, err)
	require.Contains(t, string(doc.JSON), `"prev_cursor":""`, "a first event says it has no predecessor")
	require.Empty(t, doc.Addresses)
}
