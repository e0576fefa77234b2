package follow

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
)

func headsDB(t *testing.T) *mongo.Database {
	t.Helper()
	m := testenv.RunMongo(t)
	mc, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	return mc.Database("heads")
}

func cur(step, pos uint64) string { return cursor.Cursor{Step: step, Pos: pos}.String() }

// TestHeads: a head reads as its cursor once its step is committed, as
// its base before (a unit that stored its heads, then failed before its
// checkpoint); a subscription without one has had no event; read one by
// one or in bulk alike.
func TestHeads(t *testing.T) {
	t.Parallel()
	db := headsDB(t)
	require.NoError(t, saveHeads(t.Context(), db, []headDoc{
		{ID: "sub_a", Cursor: cur(5, 2), Base: cur(3, 0), Seq: 9, BaseSeq: 6},
		{ID: "sub_b", Cursor: cur(7, 0), Base: cur(4, 1), Seq: 3, BaseSeq: 2},
		{ID: "sub_c", Cursor: cur(8, 3), Base: "", Seq: 4, BaseSeq: 0},
	}, 1))
	tests := []struct {
		name string
		step uint64
		want map[string]headPos
	}{
		{"all committed", 8, map[string]headPos{"sub_a": {cur(5, 2), 9}, "sub_b": {cur(7, 0), 3}, "sub_c": {cur(8, 3), 4}, "sub_none": {}}},
		{"steps 7 and 8 uncommitted", 6, map[string]headPos{"sub_a": {cur(5, 2), 9}, "sub_b": {cur(4, 1), 2}, "sub_c": {}, "sub_none": {}}},
	}
	for _, tt := range tests {
		subs := []string{"sub_a", "sub_b", "sub_c", "sub_none"}
		got, err := loadHeads(t.Context(), db, subs, tt.step)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, got, tt.name)
		// Past pointLookups the same comes from one $in query.
		for i := range pointLookups {
			subs = append(subs, fmt.Sprintf("sub_z%02d", i))
		}
		got, err = loadHeads(t.Context(), db, subs, tt.step)
		require.NoError(t, err, tt.name)
		for k, v := range tt.want {
			require.Equal(t, v, got[k], "%s: %s in bulk", tt.name, k)
		}
		require.Len(t, got, len(subs))
	}
}

// TestSaveHeads_fenced: a deposed leader cannot move back a head a newer
// leader wrote; it gets ErrFenced, and the heads no newer leader wrote are
// written.
func TestSaveHeads_fenced(t *testing.T) {
	t.Parallel()
	db := headsDB(t)
	require.NoError(t, saveHeads(t.Context(), db, []headDoc{{ID: "sub_a", Cursor: cur(9, 0), Base: cur(8, 0)}}, 2))
	err := saveHeads(t.Context(), db, []headDoc{{ID: "sub_a", Cursor: cur(5, 0)}, {ID: "sub_b", Cursor: cur(5, 1)}}, 1)
	require.ErrorIs(t, err, ErrFenced)
	got, err := loadHeads(t.Context(), db, []string{"sub_a"}, 9)
	require.NoError(t, err)
	require.Equal(t, cur(9, 0), got["sub_a"].cursor)
	// Its own and older fences' heads the leader may rewrite.
	require.NoError(t, saveHeads(t.Context(), db, []headDoc{{ID: "sub_a", Cursor: cur(10, 0), Base: cur(9, 0)}}, 2))
	require.NoError(t, saveHeads(t.Context(), db, []headDoc{{ID: "sub_a", Cursor: cur(11, 0), Base: cur(10, 0)}}, 3))
}

// TestRebuildHeads: each subscription's head is its last stored event of
// a committed step, counting its events; events of a step above it (a
// unit that never committed) are left out; the pages are built again from
// the events, numbered from the first one's seq where it has one.
func TestRebuildHeads(t *testing.T) {
	t.Parallel()
	db := headsDB(t)
	var docs []any
	for _, d := range []struct {
		sub string
		c   string
	}{{"sub_a", cur(1, 0)}, {"sub_a", cur(4, 2)}, {"sub_a", cur(700, 0)}, {"sub_b", cur(2, 0)}, {"sub_c", cur(900, 0)}} {
		docs = append(docs, store.EventDoc{ID: store.EventDocID(d.sub, d.c), SubscriptionID: d.sub, Cursor: d.c, EventID: d.c, JSON: []byte(`{"cursor":"` + d.c + `"}`)})
	}
	// A longer history, of several pages, whose first events expired: its
	// documents carry their seqs.
	for i := range 300 {
		c := cur(uint64(2+i), 1)
		docs = append(docs, store.EventDoc{ID: store.EventDocID("sub_d", c), SubscriptionID: "sub_d", Cursor: c, EventID: c, Seq: int64(1000 + i), JSON: []byte(`{}`)})
	}
	require.NoError(t, store.InsertEvents(t.Context(), db, docs))
	// Documents written before pages existed have no seq.
	_, err := db.Collection(store.Events).UpdateMany(t.Context(), bson.M{"subscription_id": bson.M{"$ne": "sub_d"}}, bson.M{"$unset": bson.M{"seq": ""}})
	require.NoError(t, err)
	pages := store.NewPages(db)
	n, err := rebuildHeads(t.Context(), db, pages, 600, 1)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	got, err := loadHeads(t.Context(), db, []string{"sub_a", "sub_b", "sub_c", "sub_d"}, 600)
	require.NoError(t, err)
	require.Equal(t, map[string]headPos{"sub_a": {cur(4, 2), 2}, "sub_b": {cur(2, 0), 1}, "sub_c": {}, "sub_d": {cur(301, 1), 1300}}, got)
	for _, sub := range []string{"sub_b", "sub_d"} {
		require.NoError(t, store.CheckPages(t.Context(), db, sub), sub)
	}
	var history []string
	require.NoError(t, pages.Scan(t.Context(), "sub_a", "", func(es []store.PageEntry) (bool, error) {
		for _, e := range es {
			history = append(history, e.Cursor)
		}
		return true, nil
	}))
	require.Equal(t, []string{cur(1, 0), cur(4, 2)}, history, "the uncommitted event is left out")
}
