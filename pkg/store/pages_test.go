package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
)

// idOnly records the queries sent to the history's collections and
// whether each named a single document by _id: the one lookup FerretDB
// serves without decoding the whole collection.
type idOnly struct {
	mu      sync.Mutex
	reads   int
	offence []string
}

// historyColl reports whether coll is one the history is read from.
func historyColl(coll string) bool {
	return coll == store.Events || coll == store.SubHeads ||
		strings.HasPrefix(coll, store.EventPages) || strings.HasPrefix(coll, store.EventPageBounds)
}

func (o *idOnly) started(_ context.Context, e *event.CommandStartedEvent) {
	var coll string
	switch e.CommandName {
	case "find", "aggregate", "count", "distinct":
		coll, _ = e.Command.Lookup(e.CommandName).StringValueOK()
	default:
		return
	}
	if !historyColl(coll) {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads++
	if e.CommandName != "find" {
		o.offence = append(o.offence, e.CommandName+" on "+coll)
		return
	}
	filter, ok := e.Command.Lookup("filter").DocumentOK()
	elems, _ := filter.Elements()
	if !ok || len(elems) != 1 || elems[0].Key() != "_id" || elems[0].Value().Type != bson.TypeString {
		o.offence = append(o.offence, fmt.Sprintf("find on %s: %s", coll, filter))
	}
}

func (o *idOnly) reset() (reads int, offences []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	reads, offences = o.reads, o.offence
	o.reads, o.offence = 0, nil
	return reads, offences
}

// pagesDB returns a fresh database on its own FerretDB, with the indexes,
// and the recorder of its history reads.
func pagesDB(t testing.TB) (*mongo.Database, *idOnly) {
	t.Helper()
	m := testenv.RunMongo(t)
	rec := &idOnly{}
	qc := queryCheck.Monitor()
	mon := &event.CommandMonitor{
		Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			rec.started(ctx, e)
			qc.Started(ctx, e)
		},
		Succeeded: qc.Succeeded,
		Failed:    qc.Failed,
	}
	cl, err := mongo.Connect(options.Client().ApplyURI(m.URI()).SetMonitor(mon))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	db := cl.Database("pages")
	_, err = store.EnsureIndexes(t.Context(), db, time.Hour)
	require.NoError(t, err)
	return db, rec
}

func cur(step, pos uint64) string { return cursor.Cursor{Step: step, Pos: pos}.String() }

// docs returns n events of sub at steps from, from+1, … with seqs from
// seq on.
func docs(sub string, from uint64, seq int64, n int) []store.EventDoc {
	out := make([]store.EventDoc, n)
	for i := range out {
		c := cur(from+uint64(i), 0)
		out[i] = store.EventDoc{
			ID: store.EventDocID(sub, c), SubscriptionID: sub, Cursor: c, EventID: fmt.Sprintf("tx%d:0", from+uint64(i)),
			Kind: "trx_transfer", CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
			JSON: fmt.Appendf(nil, `{"cursor":%q,"sub":%q}`, c, sub), Seq: seq + int64(i),
		}
	}
	return out
}

func insert(t testing.TB, db *mongo.Database, ds []store.EventDoc) {
	t.Helper()
	in := make([]any, len(ds))
	for i := range ds {
		in[i] = ds[i]
	}
	require.NoError(t, store.InsertEvents(t.Context(), db, in))
	require.NoError(t, store.NewPages(db).Write(t.Context(), ds, 0))
}

// scan returns the cursors Pages.Scan hands on after after.
func scan(t testing.TB, r *store.Pages, sub, after string) []string {
	t.Helper()
	var out []string
	require.NoError(t, r.Scan(t.Context(), sub, after, func(es []store.PageEntry) (bool, error) {
		for _, e := range es {
			out = append(out, e.Cursor)
		}
		return true, nil
	}))
	return out
}

func cursorsOf(ds []store.EventDoc) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Cursor
	}
	return out
}

// TestPages_writeRedo: appends in any split build the same pages; a redo
// writes them again unchanged; a redo that delivers otherwise from some
// seq on leaves the pages ending with what it wrote.
func TestPages_writeRedo(t *testing.T) {
	t.Parallel()
	db, _ := pagesDB(t)
	ctx := t.Context()
	p := store.NewPages(db)
	all := docs("sub_a", 1, 0, 300)
	insert(t, db, all[:1])
	insert(t, db, all[1:100])
	insert(t, db, all[100:130]) // across pages 0 and 1
	insert(t, db, all[130:300]) // across pages 1 and 2
	require.NoError(t, store.CheckPages(ctx, db, "sub_a"))

	// A redo of the last two writes, split otherwise.
	require.NoError(t, p.Write(ctx, all[100:250], 0))
	require.NoError(t, p.Write(ctx, all[250:300], 0))
	require.NoError(t, store.CheckPages(ctx, db, "sub_a"))

	// A redo (by a new leader) that delivers otherwise from seq 200 on
	// (the subscriptions changed in between): the pages hold what it
	// wrote, and no event of the first attempt after it.
	other := docs("sub_a", 1000, 200, 5)
	require.NoError(t, p.Write(ctx, other, 1))
	want := append(cursorsOf(all[:200]), cursorsOf(other)...)
	require.Equal(t, want, scan(t, p, "sub_a", ""))
	require.Equal(t, want[151:], scan(t, p, "sub_a", all[150].Cursor))
	require.Equal(t, cursorsOf(other), scan(t, p, "sub_a", all[250].Cursor), "after an event no longer in the history")
	newest, err := p.Newest(ctx, "sub_a")
	require.NoError(t, err)
	require.Equal(t, other[4].Cursor, newest)
	// It goes on.
	more := docs("sub_a", 2000, 205, 60)
	require.NoError(t, p.Write(ctx, more, 1))
	require.Equal(t, append(want, cursorsOf(more)...), scan(t, p, "sub_a", ""))

	// Out of order is refused.
	bad := docs("sub_b", 1, 0, 3)
	bad[2].Seq = 5
	require.ErrorContains(t, p.Write(ctx, bad, 0), "does not follow")
}

// TestPages_retention: the sweep deletes the pages whose events all
// expired; the readers start at the first page left; a subscription whose
// pages all expired starts a page at its next seq.
func TestPages_retention(t *testing.T) {
	t.Parallel()
	db, rec := pagesDB(t)
	ctx := t.Context()
	p := store.NewPages(db)
	all := docs("sub_a", 1, 0, 3*store.PageSize+20)
	for i := range all[:2*store.PageSize+5] {
		all[i].CreatedAt = time.Now().Add(-2 * time.Hour)
	}
	require.NoError(t, store.AppendEvents(ctx, db, all...))
	n, err := store.SweepEvents(ctx, db, time.Hour, time.Now())
	require.NoError(t, err)
	require.EqualValues(t, 2*store.PageSize+5, n)
	left := all[2*store.PageSize:]
	rec.reset()
	require.Equal(t, cursorsOf(left), scan(t, p, "sub_a", ""), "page 2 holds an event still retained")
	require.Equal(t, cursorsOf(left), scan(t, p, "sub_a", all[10].Cursor), "after an expired cursor: all that is left")
	require.Equal(t, cursorsOf(left[50:]), scan(t, p, "sub_a", left[49].Cursor))
	for _, c := range []struct {
		after string
		want  bool
	}{{all[10].Cursor, false}, {left[0].Cursor, true}, {left[len(left)-1].Cursor, true}} {
		ok, err := p.Retained(ctx, "sub_a", c.after)
		require.NoError(t, err)
		require.Equal(t, c.want, ok, c.after)
	}
	_, offences := rec.reset()
	require.Empty(t, offences)

	// Everything expires; the next events start a page at their seq.
	_, err = store.SweepEvents(ctx, db, time.Hour, time.Now().Add(3*time.Hour))
	require.NoError(t, err)
	require.Empty(t, scan(t, p, "sub_a", ""))
	fresh := docs("sub_a", 5000, 0, 10)
	require.NoError(t, store.AppendEvents(ctx, db, fresh...))
	require.NoError(t, store.CheckPages(ctx, db, "sub_a"))
	require.Equal(t, cursorsOf(fresh), scan(t, p, "sub_a", all[10].Cursor))
	var ev store.EventDoc
	require.NoError(t, db.Collection(store.Events).FindOne(ctx, bson.M{"_id": fresh[0].ID}).Decode(&ev))
	require.Equal(t, int64(len(all)), ev.Seq, "seqs go on after the expired events")
}

// TestPages_scan: every kind of after finds the right first event, with
// _id lookups only, and few of them.
func TestPages_scan(t *testing.T) {
	t.Parallel()
	db, rec := pagesDB(t)
	ctx := t.Context()
	const n = 700
	all := docs("sub_a", 10, 0, n)
	// Steps 10, 12, 14, …: odd steps are cursors of no event.
	for i := range all {
		c := cur(uint64(10+2*i), 0)
		all[i].ID, all[i].Cursor = store.EventDocID("sub_a", c), c
	}
	require.NoError(t, store.AppendEvents(ctx, db, all...))
	require.NoError(t, store.AppendEvents(ctx, db, docs("sub_b", 1, 0, 10)...))

	p := store.NewPages(db)
	tests := []struct {
		name  string
		after string
		want  []string
	}{
		{"from the oldest", "", cursorsOf(all)},
		{"after an event", all[300].Cursor, cursorsOf(all[301:])},
		{"after the last event of a page", all[255].Cursor, cursorsOf(all[256:])},
		{"after a cursor of no event", cur(10+2*600+1, 0), cursorsOf(all[601:])},
		{"before the first event", cur(1, 0), cursorsOf(all)},
		{"after the newest event", all[n-1].Cursor, nil},
		{"past the end", cur(1<<40, 0), nil},
	}
	for _, tt := range tests {
		rec.reset()
		require.Equal(t, tt.want, scan(t, p, "sub_a", tt.after), tt.name)
		reads, offences := rec.reset()
		require.Empty(t, offences, tt.name)
		require.LessOrEqual(t, reads, 1+(n-1)/store.PageSize+1, "%s: the bounds, then each page once", tt.name)
	}

	// A page of 100 after an event: the bounds, then one or two pages.
	rec.reset()
	var got []string
	require.NoError(t, p.Scan(ctx, "sub_a", all[300].Cursor, func(es []store.PageEntry) (bool, error) {
		for _, e := range es {
			got = append(got, e.Cursor)
		}
		return len(got) < 100, nil
	}))
	require.Equal(t, cursorsOf(all[301:384]), got[:83], "the rest of page 2")
	reads, offences := rec.reset()
	require.Empty(t, offences)
	require.Equal(t, 4, reads, "a page of 100 after an event: two bounds, two pages")

	newest, err := p.Newest(ctx, "sub_a")
	require.NoError(t, err)
	require.Equal(t, all[n-1].Cursor, newest)
	reads, offences = rec.reset()
	require.Empty(t, offences)
	require.LessOrEqual(t, reads, 5, "the newest: the head, its chunk's bounds and the next's, its page and the one before")
	for _, c := range []struct {
		after string
		want  bool
	}{{all[3].Cursor, true}, {cur(1<<40, 0), true}, {cur(1, 0), false}} {
		ok, err := p.Retained(ctx, "sub_a", c.after)
		require.NoError(t, err)
		require.Equal(t, c.want, ok, c.after)
	}
	for _, sub := range []string{"sub_b", "sub_none"} {
		newest, err := p.Newest(ctx, sub)
		require.NoError(t, err)
		if sub == "sub_b" {
			require.Equal(t, cur(10, 0), newest)
		} else {
			require.Empty(t, newest)
			require.Empty(t, scan(t, p, sub, ""))
		}
	}
	_, offences = rec.reset()
	require.Empty(t, offences)
}

// TestPages_manyChunks: a history of several chunks, with its oldest
// chunks expired, its head stale or missing: every cursor is found with a
// binary search over the chunks' bounds.
func TestPages_manyChunks(t *testing.T) {
	t.Parallel()
	db, rec := pagesDB(t)
	ctx := t.Context()
	p := store.NewPages(db)
	const chunk = store.ChunkPages * store.PageSize
	n := 5*chunk + 300
	all := docs("sub_a", 1, 0, n)
	for i := range all[:2*chunk+10] {
		all[i].CreatedAt = time.Now().Add(-2 * time.Hour)
	}
	// Pages only: the events collection plays no part in reads.
	for lo := 0; lo < n; lo += 5000 {
		require.NoError(t, p.Write(ctx, all[lo:min(lo+5000, n)], 0))
	}
	_, err := store.NewPages(db).Sweep(ctx, time.Hour, time.Now())
	require.NoError(t, err)
	left := all[2*chunk:] // the first page left holds an event still retained

	// The head lags its pages by the writes in flight, or is ahead of
	// what a redo took back.
	for _, seq := range []int64{int64(2*chunk + 5), int64(3 * chunk), int64(n), int64(n + 1), int64(9 * chunk)} {
		_, err = db.Collection(store.SubHeads).ReplaceOne(ctx, bson.M{"_id": "sub_a"}, bson.M{"seq": seq}, options.Replace().SetUpsert(true))
		require.NoError(t, err)
		rec.reset()
		newest, err := p.Newest(ctx, "sub_a")
		require.NoError(t, err)
		require.Equal(t, all[n-1].Cursor, newest, "head at seq %d", seq)
		for _, after := range []int{-1, 0, 2*chunk + 7, 3*chunk + 100, 4*chunk - 1, n - 2} {
			a := ""
			if after >= 0 {
				a = all[after].Cursor
			}
			var first string
			require.NoError(t, p.Scan(ctx, "sub_a", a, func(es []store.PageEntry) (bool, error) {
				first = es[0].Cursor
				return false, nil
			}))
			want := left[0].Cursor
			if after > 2*chunk {
				want = all[after+1].Cursor
			}
			require.Equal(t, want, first, "head at seq %d, after %d", seq, after)
		}
		reads, offences := rec.reset()
		require.Empty(t, offences)
		t.Logf("head at seq %d: %d reads for the newest and 6 scans", seq, reads)
		require.Less(t, reads, 120)
	}
}

// TestAppendEvents: each subscription's events are appended in cursor
// order after what it has, and an event that does not come after is
// refused.
func TestAppendEvents(t *testing.T) {
	t.Parallel()
	db, _ := pagesDB(t)
	ctx := t.Context()
	a, b := docs("sub_a", 1, 0, 200), docs("sub_b", 1, 0, 5)
	in := append(slices.Clone(a[:150]), b...)
	slices.Reverse(in)
	require.NoError(t, store.AppendEvents(ctx, db, in...))
	require.NoError(t, store.AppendEvents(ctx, db, a[150:]...))
	require.NoError(t, store.CheckPages(ctx, db, "sub_a"))
	require.NoError(t, store.CheckPages(ctx, db, "sub_b"))
	require.ErrorContains(t, store.AppendEvents(ctx, db, a[3]), "is not after")
}

// BenchmarkHistoryPage reads a page of 100 events after a stored event
// of one of N/1000 subscriptions, with N events stored in all: the time
// per page (ms/page) must not grow with N. "query" is the indexed query
// the pages replaced, for comparison: on FerretDB it reads the whole
// collection. MONGOTRON_BENCH_HISTORY=n1,n2,… sets the Ns (default
// 10000,100000).
func BenchmarkHistoryPage(b *testing.B) {
	ns := []int{10_000, 100_000}
	if v := os.Getenv("MONGOTRON_BENCH_HISTORY"); v != "" {
		ns = ns[:0]
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(f)
			require.NoError(b, err)
			ns = append(ns, n)
		}
	}
	const perSub = 1000
	for _, n := range ns {
		db, _ := pagesDB(b)
		ctx := context.Background()
		subs := max(n/perSub, 1)
		began := time.Now()
		var batch []store.EventDoc
		for s := range subs {
			batch = append(batch, benchDocs(fmt.Sprintf("sub_%04d", s), perSub)...)
			if len(batch) >= 20_000 || s == subs-1 {
				in := make([]any, len(batch))
				for i := range batch {
					in[i] = batch[i]
				}
				require.NoError(b, store.InsertEvents(ctx, db, in))
				require.NoError(b, store.NewPages(db).Write(ctx, batch, 0))
				batch = batch[:0]
			}
		}
		b.Logf("N=%d: stored in %s", n, time.Since(began).Round(time.Millisecond))
		// after is a random event of a random subscription.
		after := func(i int) (string, string) {
			return fmt.Sprintf("sub_%04d", (i*31)%subs), cur(uint64(1+(i*7919)%(perSub-100)), 0)
		}
		r := store.NewPages(db)
		b.Run(fmt.Sprintf("pages/N=%d", n), func(b *testing.B) {
			i := 0
			start := time.Now()
			for b.Loop() {
				i++
				sub, after := after(i)
				got := 0
				require.NoError(b, r.Scan(ctx, sub, after, func(es []store.PageEntry) (bool, error) {
					got += len(es)
					return got < 100, nil
				}))
				require.GreaterOrEqual(b, got, 100)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/page")
		})
		if n > 10_000 {
			continue // the query takes seconds a page there
		}
		b.Run(fmt.Sprintf("query/N=%d", n), func(b *testing.B) {
			i := 0
			start := time.Now()
			for b.Loop() {
				i++
				sub, after := after(i)
				c, err := db.Collection(store.Events).Find(ctx, bson.M{"subscription_id": sub, "cursor": bson.M{"$gt": after}},
					options.Find().SetSort(bson.D{{Key: "cursor", Value: 1}}).SetLimit(101))
				require.NoError(b, err)
				var out []store.EventDoc
				require.NoError(b, c.All(ctx, &out))
				require.Len(b, out, 101)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}

// benchDocs returns n events of sub with JSON of a typical size (about
// 700 bytes).
func benchDocs(sub string, n int) []store.EventDoc {
	out := docs(sub, 1, 0, n)
	// Events as the chain makes them: random ids and hashes, a few
	// hundred counterparties, amounts of any size. How well a page
	// compresses depends on it.
	rng := rand.New(rand.NewPCG(uint64(len(sub)), uint64(n)))
	hex := func(k int) string {
		b := make([]byte, k/2)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return fmt.Sprintf("%x", b)
	}
	const b58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	parties := make([]string, 300)
	for i := range parties {
		a := []byte("T")
		for range 33 {
			a = append(a, b58[rng.IntN(len(b58))])
		}
		parties[i] = string(a)
	}
	watched := parties[0]
	for i := range out {
		tx, amount := hex(64), rng.Uint64N(1e12)
		out[i].JSON = fmt.Appendf(nil, `{"type":"event","cursor":%q,"prev_cursor":%q,"id":"%s:0","subscription_id":%q,"kind":"trc20_transfer","network":"mainnet",`+
			`"block":{"number":%d,"id":%q,"timestamp":"2026-12-07T10:%02d:%02dZ"},"tx_id":%q,"tx_index":%d,"index":0,"success":true,"confirmations":0,"removed":false,`+
			`"watched":%q,"direction":"in","from":%q,"to":%q,"contract":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",`+
			`"token":{"symbol":"USDT","name":"Tether USD","decimals":6,"verified":true},"amount":"%d","amount_decimal":"%d.%06d","flags":[],"solidified":false,"data":{}}`,
			out[i].Cursor, "", tx, sub, 78_000_000+i, "00000000"+hex(56), i/60%60, i%60, tx, rng.IntN(300),
			watched, parties[rng.IntN(len(parties))], watched, amount, amount/1e6, amount%1e6)
	}
	return out
}
