package follow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
)

// Subscription heads.
//
// Every event names the cursor of its subscription's previous event (its
// prev_cursor, also the bus.PrevCursorHeader of its message), and that
// link must be exact whatever happened in between: a restart, a redo of a
// step after a crash, a new leader, a backfill handing over. Memory
// ([Follower.last]) is only a cache. The truth is store.SubHeads: per
// subscription (_id, so FerretDB serves every read and write by primary
// key), the cursor of its last event, written in the same unit of commit
// as the events, after they are stored and published and before the
// checkpoint moves.
//
// A head can be ahead of the checkpoint: its unit stored its events and
// its heads, then failed (a crash, a lost lease) before the checkpoint
// write. That unit will be redone from the checkpoint and must link its
// events exactly as the first attempt did, so a head also keeps Base, the
// subscription's head before that unit. A head whose cursor's step is
// above the committed step is such a leftover, and reads as its Base.
// Should a redo differ from its first attempt (the subscriptions changed
// in between) and deliver nothing to a subscription the first attempt
// delivered to, that head stays; once the committed steps pass it, it
// reads as the first attempt's last event, which is stored, so links and
// history still agree.
//
// Head writes carry the writer's fencing token and never replace a head a
// newer leader wrote, as checkpoint writes do: a deposed leader that wakes
// up cannot move a subscription's head back.
//
// A head also counts the subscription's events: Seq, the seq its next
// event gets (store.EventDoc.Seq, the position that names its history
// page), and BaseSeq, Seq before the unit, read as Base is. A redo thus
// numbers its events as the first attempt did, and writes the same pages
// (store.WritePages rewrites a page from the first seq it writes); a
// redo that delivers otherwise leaves the pages holding what it
// delivered. The pages are written with the events, before they are
// published and before the heads, so a head never counts an event its
// pages lack.

// pointLookups is how many heads are read one by one (by _id) before a
// single $in query is cheaper; FerretDB serves only _id equality from its
// primary key.
const pointLookups = 16

// headsBatch bounds the ids of one $in query and the upserts of one bulk
// write.
const headsBatch = 1000

// headDoc is one subscription's head in store.SubHeads.
type headDoc struct {
	// ID is the subscription id.
	ID string `bson:"_id"`
	// Cursor is the cursor of the subscription's last event.
	Cursor string `bson:"cursor"`
	// Base is the subscription's head before the unit of commit that
	// wrote Cursor: what the head reads as until that unit is committed.
	Base string `bson:"base"`
	// Seq counts the subscription's events up to Cursor, BaseSeq up to
	// Base: the seq of the event after each.
	Seq       int64     `bson:"seq"`
	BaseSeq   int64     `bson:"base_seq"`
	Fence     int64     `bson:"fence"`
	UpdatedAt time.Time `bson:"updated_at"`
}

// headPos is where a subscription's history stands: the cursor of its
// last event ("" for none yet) and the seq of its next one.
type headPos struct {
	cursor string
	seq    int64
}

// committed returns where the subscription stood after its last
// committed event, given the last committed step.
func (d headDoc) committed(step uint64) (headPos, error) {
	c, err := cursor.Parse(d.Cursor)
	if err != nil {
		return headPos{}, fmt.Errorf("follow: head of %s: %w", d.ID, err)
	}
	if c.Step > step {
		return headPos{cursor: d.Base, seq: d.BaseSeq}, nil
	}
	return headPos{cursor: d.Cursor, seq: d.Seq}, nil
}

// loadHeads returns the committed head of each of subs, the zero headPos
// for one that has had no event yet.
func loadHeads(ctx context.Context, db *mongo.Database, subs []string, step uint64) (map[string]headPos, error) {
	out := make(map[string]headPos, len(subs))
	coll := db.Collection(store.SubHeads)
	add := func(d headDoc) error {
		c, err := d.committed(step)
		if err != nil {
			return err
		}
		out[d.ID] = c
		return nil
	}
	if len(subs) <= pointLookups {
		for _, s := range subs {
			var d headDoc
			err := coll.FindOne(ctx, bson.M{"_id": s}).Decode(&d)
			switch {
			case errors.Is(err, mongo.ErrNoDocuments):
				out[s] = headPos{}
			case err != nil:
				return nil, fmt.Errorf("follow: head of %s: %w", s, err)
			default:
				if err := add(d); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	for lo := 0; lo < len(subs); lo += headsBatch {
		ids := subs[lo:min(lo+headsBatch, len(subs))]
		cur, err := coll.Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
		if err != nil {
			return nil, fmt.Errorf("follow: heads: %w", err)
		}
		var docs []headDoc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("follow: heads: %w", err)
		}
		for _, d := range docs {
			if err := add(d); err != nil {
				return nil, err
			}
		}
		for _, s := range ids {
			if _, ok := out[s]; !ok {
				out[s] = headPos{}
			}
		}
	}
	return out, nil
}

// saveHeads upserts heads with fence, unless a newer leader (a higher
// fence) wrote one of them: that one is left alone and the call fails
// with ErrFenced, as the checkpoint write would.
func saveHeads(ctx context.Context, db *mongo.Database, heads []headDoc, fence int64) error {
	coll := db.Collection(store.SubHeads)
	now := time.Now().UTC()
	for lo := 0; lo < len(heads); lo += headsBatch {
		part := heads[lo:min(lo+headsBatch, len(heads))]
		models := make([]mongo.WriteModel, len(part))
		for i, h := range part {
			models[i] = mongo.NewUpdateOneModel().
				SetFilter(bson.M{"_id": h.ID, "fence": bson.M{"$lte": fence}}).
				SetUpdate(bson.M{"$set": bson.M{"cursor": h.Cursor, "base": h.Base, "seq": h.Seq, "base_seq": h.BaseSeq, "fence": fence, "updated_at": now}}).
				SetUpsert(true)
		}
		_, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if mongo.IsDuplicateKeyError(err) {
			// The filter matched no head with our fence or an older one,
			// and the insert met the newer leader's.
			return fmt.Errorf("follow: heads: %w", ErrFenced)
		}
		if err != nil {
			return fmt.Errorf("follow: heads: %w", err)
		}
	}
	return nil
}

// rebuildBatch is how many events one page write of a rebuild takes.
const rebuildBatch = 2048

// rebuildHeads sets every subscription's head from the events stored up
// to step, the committed one, and builds their pages again: each
// subscription's events in cursor order get seqs from its first event's
// (0 for a document written before pages existed), and its head counts
// them. It runs once, when the checkpoint says steps were committed
// without maintaining heads or pages: a database written before they
// existed, or by an older ingest that led meanwhile. It returns how many
// heads it wrote.
//
// It reads every event once, in (subscription_id, cursor) order: MongoDB
// walks its sub_cursor index, FerretDB sorts the collection in memory,
// once per upgrade. Readers find no history while it runs.
func rebuildHeads(ctx context.Context, db *mongo.Database, pages *store.Pages, step uint64, fence int64) (int, error) {
	// Events of a unit that was never committed are left out: its redo
	// writes them, their pages and their heads again.
	bound := cursor.Cursor{Step: step, Pos: math.MaxUint64}.String()
	if err := pages.Drop(ctx); err != nil {
		return 0, fmt.Errorf("follow: rebuild pages: %w", err)
	}
	cur, err := db.Collection(store.Events).Find(ctx, bson.D{},
		options.Find().SetSort(bson.D{{Key: "subscription_id", Value: 1}, {Key: "cursor", Value: 1}}))
	if err != nil {
		return 0, fmt.Errorf("follow: rebuild heads: %w", err)
	}
	defer func() { _ = cur.Close(ctx) }()
	var heads []headDoc
	var docs []store.EventDoc // paged by the next write
	flush := func() error {
		if len(docs) == 0 {
			return nil
		}
		err := pages.Write(ctx, docs, fence)
		docs = docs[:0]
		return err
	}
	for cur.Next(ctx) {
		var d struct {
			store.EventDoc `bson:",inline"`
			HasSeq         *int64 `bson:"seq"`
		}
		if err := cur.Decode(&d); err != nil {
			return 0, fmt.Errorf("follow: rebuild heads: %w", err)
		}
		if d.Cursor > bound {
			continue
		}
		ev := d.EventDoc
		if n := len(heads); n == 0 || heads[n-1].ID != ev.SubscriptionID {
			ev.Seq = 0
			if d.HasSeq != nil && *d.HasSeq >= 0 {
				// Numbered as the documents say, where they do:
				// their seqs then name their pages.
				ev.Seq = *d.HasSeq
			}
			heads = append(heads, headDoc{ID: ev.SubscriptionID})
		} else {
			ev.Seq = heads[n-1].Seq
		}
		h := &heads[len(heads)-1]
		h.Cursor, h.Base, h.Seq, h.BaseSeq = ev.Cursor, ev.Cursor, ev.Seq+1, ev.Seq+1
		docs = append(docs, ev)
		if len(docs) == rebuildBatch {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return 0, fmt.Errorf("follow: rebuild heads: %w", err)
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if err := saveHeads(ctx, db, heads, fence); err != nil {
		return 0, err
	}
	return len(heads), nil
}

// markHeads records on the checkpoint that heads and pages are maintained
// up to step: an ingest that finds another value there (or none) rebuilds
// them.
func markHeads(ctx context.Context, db *mongo.Database, step uint64, fence int64) error {
	res, err := db.Collection(store.Checkpoints).UpdateOne(ctx,
		bson.M{"_id": CheckpointID, "fence": bson.M{"$lte": fence}},
		bson.M{"$set": bson.M{"heads_step": int64(step), "pages_step": int64(step)}})
	if err != nil {
		return fmt.Errorf("follow: mark heads: %w", err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("follow: mark heads: %w", ErrFenced)
	}
	return nil
}
