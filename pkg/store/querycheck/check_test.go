package querycheck_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongotron/mongotron/pkg/store/querycheck"
)

func raw(t *testing.T, v any) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestShapes_describeTheQueryNotItsValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cmd  string
		doc  bson.D
		want []string
	}{
		{"find with a range and a sort", "find", bson.D{{Key: "find", Value: "events"},
			{Key: "filter", Value: bson.D{{Key: "subscription_id", Value: "s"}, {Key: "cursor", Value: bson.D{{Key: "$gt", Value: "c"}}}}},
			{Key: "sort", Value: bson.D{{Key: "cursor", Value: 1}}}},
			[]string{"find events eq(subscription_id) range(cursor) sort(cursor)"}},
		{"$in without a sort is equality", "find", bson.D{{Key: "find", Value: "events"},
			{Key: "filter", Value: bson.D{{Key: "kind", Value: bson.D{{Key: "$in", Value: bson.A{"a", "b"}}}}}}},
			[]string{"find events eq(kind)"}},
		{"$in with a sort is a range", "find", bson.D{{Key: "find", Value: "events"},
			{Key: "filter", Value: bson.D{{Key: "kind", Value: bson.D{{Key: "$in", Value: bson.A{"a"}}}}}},
			{Key: "sort", Value: bson.D{{Key: "cursor", Value: -1}}}},
			[]string{"find events range(kind) sort(-cursor)"}},
		{"$ne and $or bound nothing", "find", bson.D{{Key: "find", Value: "subscriptions"},
			{Key: "filter", Value: bson.D{{Key: "status", Value: bson.D{{Key: "$ne", Value: "deleted"}}}, {Key: "$or", Value: bson.A{bson.D{{Key: "a", Value: 1}}}}}}},
			[]string{"find subscriptions other($or,status)"}},
		{"$and is flattened", "find", bson.D{{Key: "find", Value: "events"},
			{Key: "filter", Value: bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: "subscription_id", Value: "s"}}, bson.D{{Key: "block", Value: bson.D{{Key: "$lte", Value: 5}}}}}}}}},
			[]string{"find events eq(subscription_id) range(block)"}},
		{"an embedded document is an equality", "find", bson.D{{Key: "find", Value: "x"},
			{Key: "filter", Value: bson.D{{Key: "doc", Value: bson.D{{Key: "a", Value: 1}}}}}},
			[]string{"find x eq(doc)"}},
		{"each update statement", "update", bson.D{{Key: "update", Value: "sub_heads"},
			{Key: "updates", Value: bson.A{
				bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: "a"}, {Key: "fence", Value: bson.D{{Key: "$lte", Value: 3}}}}}},
				bson.D{{Key: "q", Value: bson.D{{Key: "created_at", Value: bson.D{{Key: "$lt", Value: 1}}}}}},
			}}},
			[]string{"update sub_heads eq(_id) range(fence)", "update sub_heads range(created_at)"}},
		{"an aggregate's leading $match and $sort", "aggregate", bson.D{{Key: "aggregate", Value: "events"},
			{Key: "pipeline", Value: bson.A{
				bson.D{{Key: "$match", Value: bson.D{{Key: "subscription_id", Value: "s"}}}},
				bson.D{{Key: "$sort", Value: bson.D{{Key: "cursor", Value: -1}}}},
				bson.D{{Key: "$limit", Value: 1}},
			}}},
			[]string{"aggregate events eq(subscription_id) sort(-cursor)"}},
		{"no shape for other commands", "insert", bson.D{{Key: "insert", Value: "events"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, s := range querycheck.Shapes(c.cmd, raw(t, c.doc)) {
				got = append(got, s.String())
			}
			require.Equal(t, c.want, got)
		})
	}
}

func TestIndex_Serves_equalitySortRange(t *testing.T) {
	t.Parallel()
	subCursor := querycheck.Index{Collection: "events", Name: "sub_cursor", Keys: []string{"subscription_id", "cursor"}}
	tenantID := querycheck.Index{Collection: "subscriptions", Name: "tenant_id", Keys: []string{"tenant", "_id"}}
	cases := []struct {
		name  string
		index querycheck.Index
		shape querycheck.Shape
		want  bool
	}{
		{"equality then range on the next key", subCursor, querycheck.Shape{Collection: "events", Eq: []string{"subscription_id"}, Range: []string{"cursor"}}, true},
		{"equality then its sort", subCursor, querycheck.Shape{Collection: "events", Eq: []string{"subscription_id"}, Sort: []string{"cursor"}}, true},
		{"a sort against the index's direction", subCursor, querycheck.Shape{Collection: "events", Eq: []string{"subscription_id"}, Sort: []string{"-cursor"}}, true},
		{"a residual field after the index's bound", subCursor, querycheck.Shape{Collection: "events", Eq: []string{"subscription_id", "tx_id"}, Sort: []string{"cursor"}}, true},
		{"a range on the first key bounds the search", subCursor, querycheck.Shape{Collection: "events", Eq: []string{"cursor"}, Range: []string{"subscription_id"}}, true},
		{"a field the index does not start with", subCursor, querycheck.Shape{Collection: "events", Eq: []string{"tx_id"}}, false},
		{"a sort the index cannot give", subCursor, querycheck.Shape{Collection: "events", Eq: []string{"subscription_id"}, Sort: []string{"block"}}, false},
		{"another collection's index", subCursor, querycheck.Shape{Collection: "blocks", Eq: []string{"subscription_id"}}, false},
		{"list by tenant in id order", tenantID, querycheck.Shape{Collection: "subscriptions", Eq: []string{"tenant"}, Range: []string{"_id"}, Other: []string{"status"}, Sort: []string{"_id"}}, true},
		{"nothing bounded", tenantID, querycheck.Shape{Collection: "subscriptions", Other: []string{"status"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, c.index.Serves(c.shape))
		})
	}
}

// The check must be able to fail: a query on a field no index starts
// with is reported, and the same query is fine once an index serves it.
func TestRecorder_Check_reportsAQueryThatWouldScan(t *testing.T) {
	t.Parallel()
	r := querycheck.NewRecorder()
	r.Record("createIndexes", raw(t, bson.D{{Key: "createIndexes", Value: "events"},
		{Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "subscription_id", Value: 1}, {Key: "cursor", Value: 1}}}, {Key: "name", Value: "sub_cursor"}}}}}))
	byTx := bson.D{{Key: "find", Value: "events"}, {Key: "filter", Value: bson.D{{Key: "tx_id", Value: "ab"}}}}
	r.Record("find", raw(t, byTx))
	r.Record("find", raw(t, bson.D{{Key: "find", Value: "events"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: "x"}, {Key: "tx_id", Value: "ab"}}}}))
	r.Record("find", raw(t, bson.D{{Key: "find", Value: "unknown"}, {Key: "filter", Value: bson.D{{Key: "a", Value: 1}}}}))
	problems := r.Check(nil)
	require.Len(t, problems, 1, "the _id lookup is served, and a collection whose indexes were not seen is not judged")
	require.Equal(t, "find events eq(tx_id)", problems[0].Shape.String())
	require.Contains(t, problems[0].String(), "sub_cursor(subscription_id,cursor)")

	require.Empty(t, r.Check(func(s querycheck.Shape) bool { return s.String() == "find events eq(tx_id)" }), "an allowed shape is not reported")
	r.Record("createIndexes", raw(t, bson.D{{Key: "createIndexes", Value: "events"},
		{Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "tx_id", Value: 1}}}, {Key: "name", Value: "tx"}}}}}))
	require.Empty(t, r.Check(nil))
}

func TestAllowed_everyEntryHasAReason(t *testing.T) {
	t.Parallel()
	for shape, reason := range querycheck.Allowed {
		require.NotEmpty(t, reason, shape)
	}
}
