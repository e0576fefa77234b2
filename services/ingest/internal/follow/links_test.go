package follow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// errCrash is the "crash" of crashFence.
var errCrash = errors.New("crashed before the checkpoint")

// crashFence crashes the follower at its at-th checkpoint write, after
// the unit's events are stored and published and its heads written, the
// last thing before the checkpoint: the lease check is the checkpoint
// write's first step.
type crashFence struct {
	at     int64
	calls  atomic.Int64
	cancel context.CancelFunc
}

func (c *crashFence) Token() int64 { return 0 }

func (c *crashFence) Check(context.Context) error {
	if c.calls.Add(1) == c.at {
		c.cancel()
		return errCrash
	}
	return nil
}

// recordingPublisher records every message published through it: what
// a redo computed, even where the stream drops it as a duplicate of the
// first attempt's.
type recordingPublisher struct {
	follow.Publisher
	mu   sync.Mutex
	msgs []follow.Msg
}

func (r *recordingPublisher) Publish(ctx context.Context, msgs []follow.Msg) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, msgs...)
	r.mu.Unlock()
	return r.Publisher.Publish(ctx, msgs)
}

// requirePublishedLinks requires every message of rec to link as the
// history want says: its JSON's prev_cursor and its Prev name the event
// before it.
func requirePublishedLinks(t testing.TB, rec *recordingPublisher, want map[string][]store.EventDoc) {
	t.Helper()
	before := map[string]string{}
	for sub, docs := range want {
		for i, d := range docs {
			if i > 0 {
				before[sub+"|"+d.Cursor] = docs[i-1].Cursor
			}
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotEmpty(t, rec.msgs)
	for _, m := range rec.msgs {
		var ev event.Event
		require.NoError(t, json.Unmarshal(m.Data, &ev))
		link := before[ev.SubscriptionID+"|"+ev.Cursor]
		require.Equal(t, link, ev.PrevCursor, "%s: the link computed for %s", ev.SubscriptionID, ev.Cursor)
		require.Equal(t, link, m.Prev, "%s: the header computed for %s", ev.SubscriptionID, ev.Cursor)
	}
}

// checkpointStep is the checkpoint's step.
func checkpointStep(t testing.TB, db *mongo.Database) uint64 {
	t.Helper()
	var d struct {
		Step int64 `bson:"step"`
	}
	require.NoError(t, db.Collection(store.Checkpoints).FindOne(t.Context(), bson.M{"_id": follow.CheckpointID}).Decode(&d))
	return uint64(d.Step)
}

// headsAhead counts the subscription heads written by a unit above the
// committed step.
func headsAhead(t testing.TB, db *mongo.Database, step uint64) int {
	t.Helper()
	var docs []struct {
		Cursor string `bson:"cursor"`
	}
	require.NoError(t, testenv.FindAll(t.Context(), db.Collection(store.SubHeads), bson.M{}, &docs))
	n := 0
	for _, d := range docs {
		c, err := cursor.Parse(d.Cursor)
		require.NoError(t, err)
		if c.Step > step {
			n++
		}
	}
	return n
}

// requireSameHistory requires got to hold exactly want's events, with the
// same cursors and the same JSON (prev_cursor included).
func requireSameHistory(t testing.TB, subs []testSub, want, got map[string][]store.EventDoc) {
	t.Helper()
	for _, sub := range subs {
		require.NotEmpty(t, want[sub.id], sub.id)
		require.Len(t, got[sub.id], len(want[sub.id]), sub.id)
		for i := range want[sub.id] {
			w, g := want[sub.id][i], got[sub.id][i]
			require.Equal(t, w.Cursor, g.Cursor, sub.id)
			sameJSON(t, w.JSON, g.JSON)
		}
	}
}

// TestFollower_linksExactAfterCrashBeforeCheckpoint crashes the follower
// right before its checkpoint write, its events stored and published and
// the subscriptions' heads moved, then restarts it committing in other
// groups: the redo must link every event exactly as a run that never
// crashed, whatever the heads the crashed unit left ahead of the
// checkpoint say. What each run computed is checked, not only what was
// stored: MongoDB and JetStream keep the first attempt's copy of a
// redone event.
func TestFollower_linksExactAfterCrashBeforeCheckpoint(t *testing.T) {
	t.Parallel()
	b := newRedoBed(t, sim.Config{Seed: 31, Instant: true, InitialBlocks: 40, TxsPerBlock: 15, Addresses: 200}, "links_")
	url, clean, crashy, ts, start, head := b.url, b.clean, b.crashy, b.subs, b.start, b.head

	// Each crash comes at a later checkpoint write; the groups shrink,
	// so a redo commits a part of what the crashed unit held.
	rec := &recordingPublisher{Publisher: crashy.pub}
	ahead := 0
	for i, c := range []struct {
		at    int64
		group int
	}{{at: 2, group: 0}, {at: 3, group: 7}, {at: 4, group: 3}, {at: 3, group: 1}} {
		crashy.groupBlocks = c.group
		require.NoError(t, crashy.mgr.Resync(t.Context()))
		ctx, cancel := context.WithCancel(t.Context())
		fence := &crashFence{at: c.at, cancel: cancel}
		cfg := crashy.config(newClient(t, url), start, true)
		cfg.Fence, cfg.Publisher = fence, rec
		f, err := follow.New(cfg)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		select {
		case err := <-done:
			require.NoError(t, err)
			require.ErrorIs(t, context.Cause(ctx), context.Canceled, "crash %d: the follower stopped before it", i)
		case <-time.After(60 * time.Second):
			cancel()
			t.Fatalf("crash %d never came (the follower stopped with %v)", i, <-done)
		}
		cancel()
		n := headsAhead(t, crashy.db, checkpointStep(t, crashy.db))
		t.Logf("crash %d: %d heads ahead of the checkpoint", i, n)
		ahead += n
	}
	require.Positive(t, ahead, "no crash left a head ahead of the checkpoint: the test proves little")

	crashy.groupBlocks = 2
	require.NoError(t, crashy.mgr.Resync(t.Context()))
	cfg := crashy.config(newClient(t, url), start, false)
	cfg.Publisher = rec
	f, err := follow.New(cfg)
	require.NoError(t, err)
	stop := run(t, f)
	testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == head }, "the redo")
	stop()

	want, got := history(t, clean.db), history(t, crashy.db)
	requireSameHistory(t, ts, want, got)
	requireLinks(t, crashy.js, got)
	requirePages(t, crashy.db, got)
	requirePublishedLinks(t, rec, want)
}

// TestFollower_linksExactAcrossRestarts stops and starts the follower
// between blocks, with reorgs, once on a database without history pages
// and once on one whose heads are gone, as if older ingests had written
// them: the first event of each subscription after every start links to
// the last one before, and the pages, rebuilt, hold every event.
func TestFollower_linksExactAcrossRestarts(t *testing.T) {
	t.Parallel()
	s, url := simtest.Start(t, sim.Config{Seed: 37, Instant: true, InitialBlocks: 12, TxsPerBlock: 20, Addresses: 150})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "links_restarts", n.URL())
	ts := pickSubs(t, s, e.db)
	start := s.First() + 1

	runToHead := func(what string) {
		t.Helper()
		f := e.follower(t, newClient(t, url), start, false)
		stop := run(t, f)
		head, _ := s.Head()
		testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == head }, what)
		stop()
	}
	runToHead("first run")
	s.Mine(4)
	runToHead("after a restart")
	require.NoError(t, s.Reorg(3))
	s.Mine(2)
	runToHead("after a restart and a reorg")

	// A database of an ingest from before history pages: heads without
	// seqs, events without seqs, no pages, and the checkpoint's mark of
	// heads only.
	withoutFields(t, e.db.Collection(store.SubHeads), "seq", "base_seq")
	withoutFields(t, e.db.Collection(store.Events), "seq")
	_, err := store.EnsureIndexes(t.Context(), e.db, 0)
	require.NoError(t, err)
	require.NoError(t, follow.EnsureIndexes(t.Context(), e.db))
	require.NoError(t, store.NewPages(e.db).Drop(t.Context()))
	_, err = e.db.Collection(store.Checkpoints).UpdateOne(t.Context(), bson.M{"_id": follow.CheckpointID}, bson.M{"$unset": bson.M{"pages_step": ""}})
	require.NoError(t, err)
	s.Mine(3)
	runToHead("after an upgrade from before pages")

	// An older ingest's database: no heads, nor the checkpoint's mark.
	_, err = e.db.Collection(store.SubHeads).DeleteMany(t.Context(), bson.M{})
	require.NoError(t, err)
	_, err = e.db.Collection(store.Checkpoints).UpdateOne(t.Context(), bson.M{"_id": follow.CheckpointID}, bson.M{"$unset": bson.M{"heads_step": ""}})
	require.NoError(t, err)
	s.Mine(4)
	runToHead("after an upgrade")

	h := history(t, e.db)
	removed := 0
	for _, sub := range ts {
		require.NotEmpty(t, h[sub.id], sub.id)
		for _, d := range h[sub.id] {
			if d.Removed {
				removed++
			}
		}
	}
	require.Positive(t, removed, "the reorg retracted nothing: the test proves little")
	requireLinks(t, e.js, h)
	requirePages(t, e.db, h)
}

// withoutFields rewrites coll with fields removed from every document.
// It drops and refills the collection (the caller recreates indexes)
// rather than running an update over it: FerretDB finds each document an
// update-many touches with a scan of its own, which under -race made the
// test's own rewrite of a few thousand events take minutes.
func withoutFields(t *testing.T, coll *mongo.Collection, fields ...string) {
	t.Helper()
	var docs []bson.M
	require.NoError(t, testenv.FindAll(t.Context(), coll, bson.M{}, &docs))
	require.NoError(t, coll.Drop(t.Context()))
	if len(docs) == 0 {
		return
	}
	all := make([]any, len(docs))
	for i, d := range docs {
		for _, f := range fields {
			delete(d, f)
		}
		all[i] = d
	}
	_, err := coll.InsertMany(t.Context(), all)
	require.NoError(t, err)
}
