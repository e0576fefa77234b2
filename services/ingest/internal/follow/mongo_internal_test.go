package follow

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestUpsertBlocks(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	mc, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database("blocks")
	blocks := func(ids ...string) []store.BlockDoc {
		var out []store.BlockDoc
		for i, id := range ids {
			out = append(out, store.BlockDoc{Number: int64(100 + i), ID: id, Parent: "p" + id, Step: uint64(i + 1)})
		}
		return out
	}
	// Each write runs on top of the previous ones, as the follower's do.
	tests := []struct {
		name   string
		blocks []store.BlockDoc
		want   []store.BlockDoc
	}{
		{name: "empty", want: nil},
		{name: "fresh", blocks: blocks("a", "b"), want: blocks("a", "b")},
		{name: "redo", blocks: blocks("a", "b"), want: blocks("a", "b")},
		{name: "other branch and new", blocks: blocks("a", "x", "y"), want: blocks("a", "x", "y")},
	}
	for _, tt := range tests {
		require.NoError(t, upsertBlocks(t.Context(), db, tt.blocks), tt.name)
		got, err := loadBlocks(t.Context(), db, 0, 1000)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, got, tt.name)
	}
}
