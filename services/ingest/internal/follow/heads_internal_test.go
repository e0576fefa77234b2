package follow

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
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
		{ID: "sub_a", Cursor: cur(5, 2), Base: cur(3, 0)},
		{ID: "sub_b", Cursor: cur(7, 0), Base: cur(4, 1)},
		{ID: "sub_c", Cursor: cur(8, 3), Base: ""},
	}, 1))
	tests := []struct {
		name string
		step uint64
		want map[string]string
	}{
		{"all committed", 8, map[string]string{"sub_a": cur(5, 2), "sub_b": cur(7, 0), "sub_c": cur(8, 3), "sub_none": ""}},
		{"steps 7 and 8 uncommitted", 6, map[string]string{"sub_a": cur(5, 2), "sub_b": cur(4, 1), "sub_c": "", "sub_none": ""}},
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
	require.Equal(t, cur(9, 0), got["sub_a"])
	// Its own and older fences' heads the leader may rewrite.
	require.NoError(t, saveHeads(t.Context(), db, []headDoc{{ID: "sub_a", Cursor: cur(10, 0), Base: cur(9, 0)}}, 2))
	require.NoError(t, saveHeads(t.Context(), db, []headDoc{{ID: "sub_a", Cursor: cur(11, 0), Base: cur(10, 0)}}, 3))
}

// TestRebuildHeads: each subscription's head is its last stored event of
// a committed step; events of a step above it (a unit that never
// committed) are left out.
func TestRebuildHeads(t *testing.T) {
	t.Parallel()
	db := headsDB(t)
	var docs []any
	for _, d := range []struct {
		sub string
		c   string
	}{{"sub_a", cur(1, 0)}, {"sub_a", cur(4, 2)}, {"sub_a", cur(7, 0)}, {"sub_b", cur(2, 0)}, {"sub_c", cur(9, 0)}} {
		docs = append(docs, store.EventDoc{ID: store.EventDocID(d.sub, d.c), SubscriptionID: d.sub, Cursor: d.c, EventID: d.c})
	}
	require.NoError(t, store.InsertEvents(t.Context(), db, docs))
	n, err := rebuildHeads(t.Context(), db, 6, 1)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	got, err := loadHeads(t.Context(), db, []string{"sub_a", "sub_b", "sub_c"}, 6)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"sub_a": cur(4, 2), "sub_b": cur(2, 0), "sub_c": ""}, got)
}
