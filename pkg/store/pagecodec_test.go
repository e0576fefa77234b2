package store

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/testenv"
)

func codecDocs(sub string, seq int64, n int) []EventDoc {
	out := make([]EventDoc, n)
	for i := range out {
		c := cursor.Cursor{Step: uint64(seq) + uint64(i) + 1}.String()
		out[i] = EventDoc{
			ID: EventDocID(sub, c), SubscriptionID: sub, Cursor: c, EventID: fmt.Sprintf("tx%d:0", i),
			Kind: "trx_transfer", CreatedAt: time.UnixMilli(1_765_000_000_000 + int64(i)).UTC(),
			JSON: fmt.Appendf(nil, `{"cursor":%q,"amount":"%d"}`, c, i), Seq: seq + int64(i),
		}
	}
	return out
}

func ptrs(ds []EventDoc) []*EventDoc {
	out := make([]*EventDoc, len(ds))
	for i := range ds {
		out[i] = &ds[i]
	}
	return out
}

func TestPageBlob_roundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, PageSize} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			ds := codecDocs("sub_a", 0, n)
			blob, err := encodeEntries(ptrs(ds))
			require.NoError(t, err)
			got, err := decodeEntries(blob)
			require.NoError(t, err)
			require.Len(t, got, n)
			for i, e := range got {
				require.Equal(t, PageEntry{Cursor: ds[i].Cursor, CreatedAt: ds[i].CreatedAt, JSON: ds[i].JSON}, e)
			}
		})
	}
}

func TestPageBlob_malformedIsAnError(t *testing.T) {
	t.Parallel()
	good, err := encodeEntries(ptrs(codecDocs("sub_a", 0, 3)))
	require.NoError(t, err)
	c, err := codec()
	require.NoError(t, err)
	for name, blob := range map[string][]byte{
		"empty":             nil,
		"unknown format":    append([]byte{9}, good[1:]...),
		"not zstd":          {pageBlobZstd, 'x', 'y'},
		"truncated":         good[:len(good)-3],
		"length past end":   c.enc.EncodeAll([]byte{200, 1, 'a'}, []byte{pageBlobZstd}),
		"missing time":      c.enc.EncodeAll([]byte{1, 'a'}, []byte{pageBlobZstd}),
		"missing json size": c.enc.EncodeAll([]byte{1, 'a', 2}, []byte{pageBlobZstd}),
	} {
		_, err := decodeEntries(blob)
		require.ErrorIs(t, err, errPageBlob, name)
	}
}

// TestPages_readsPagesWrittenBeforeBlobs: a page whose first events were
// written as fields per event (before blobs) reads with the events
// appended to it since as a blob, in order.
func TestPages_readsPagesWrittenBeforeBlobs(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	cl, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	db := cl.Database("oldpages")
	ctx := t.Context()
	p := NewPages(db)
	ds := codecDocs("sub_a", 0, 5)
	in := make([]any, len(ds))
	for i := range ds {
		in[i] = ds[i]
	}
	require.NoError(t, InsertEvents(ctx, db, in))
	require.NoError(t, p.Write(ctx, ds[:3], 0))

	// Page 0 as the earlier format wrote it.
	l, err := p.layout(ctx)
	require.NoError(t, err)
	old := bson.M{"subscription_id": "sub_a", "page": int64(0), "start": int64(0), "end": int64(3),
		"c": bson.M{}, "at": bson.M{}, "j": bson.M{}, "created_at": ds[2].CreatedAt, "fence": int64(0)}
	for i, d := range ds[:3] {
		k := strconv.Itoa(i)
		old["c"].(bson.M)[k], old["at"].(bson.M)[k], old["j"].(bson.M)[k] = d.Cursor, d.CreatedAt, d.JSON
	}
	res, err := l.pages("sub_a", 0).ReplaceOne(ctx, bson.M{"_id": PageID("sub_a", 0)}, old)
	require.NoError(t, err)
	require.EqualValues(t, 1, res.MatchedCount)

	require.NoError(t, p.Write(ctx, ds[3:], 0))
	require.NoError(t, CheckPages(ctx, db, "sub_a"))
	var got []string
	require.NoError(t, p.Scan(ctx, "sub_a", ds[0].Cursor, func(es []PageEntry) (bool, error) {
		for _, e := range es {
			got = append(got, e.Cursor)
		}
		return true, nil
	}))
	require.Equal(t, []string{ds[1].Cursor, ds[2].Cursor, ds[3].Cursor, ds[4].Cursor}, got)
}

func FuzzDecodeEntries(f *testing.F) {
	good, err := encodeEntries(ptrs(codecDocs("sub_a", 0, 3)))
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{pageBlobZstd})
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, blob []byte) {
		es, err := decodeEntries(blob)
		if err != nil {
			require.ErrorIs(t, err, errPageBlob)
			return
		}
		// What decodes encodes back to the same entries.
		ds := make([]EventDoc, len(es))
		for i, e := range es {
			ds[i] = EventDoc{Cursor: e.Cursor, CreatedAt: e.CreatedAt, JSON: e.JSON}
		}
		again, err := encodeEntries(ptrs(ds))
		require.NoError(t, err)
		es2, err := decodeEntries(again)
		require.NoError(t, err)
		require.Equal(t, es, es2)
	})
}

// TestPages_fullPageIsOneBlob: a page filled one event per write is
// rewritten as one blob when full, and reads the same.
func TestPages_fullPageIsOneBlob(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	cl, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	db := cl.Database("compact")
	ctx := t.Context()
	p := NewPages(db)
	ds := codecDocs("sub_a", 0, PageSize+3)
	blobs := func(n int64) int {
		l, err := p.layout(ctx)
		require.NoError(t, err)
		var pg pageDoc
		require.NoError(t, l.pages("sub_a", n).FindOne(ctx, bson.M{"_id": PageID("sub_a", n)}).Decode(&pg))
		return len(pg.W)
	}
	for i := range ds {
		require.NoError(t, p.Write(ctx, ds[i:i+1], 0))
		if i == PageSize-2 {
			require.Equal(t, PageSize-1, blobs(0), "a blob per write until the page is full")
		}
	}
	require.Equal(t, 1, blobs(0))
	require.Equal(t, 3, blobs(1))
	var got []string
	require.NoError(t, p.Scan(ctx, "sub_a", "", func(es []PageEntry) (bool, error) {
		for _, e := range es {
			got = append(got, e.Cursor)
		}
		return true, nil
	}))
	require.Len(t, got, len(ds))
	for i := range ds {
		require.Equal(t, ds[i].Cursor, got[i])
	}
}
