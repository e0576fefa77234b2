package follow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
)

// CheckpointID is the _id of the ingest's checkpoint document.
const CheckpointID = "ingest"

// ErrFenced is returned when the checkpoint (or the lease behind it) says
// another ingest took over: this one must stop committing at once.
var ErrFenced = errors.New("follow: fenced out by a newer leader")

// levels is the number of confirmation levels, 0 through 19.
const levels = 20

// solidLevel indexes, after the confirmation levels, the solidified level:
// subscriptions with finality solidified get a block's events once the
// node reports it solidified. allLevels counts both kinds.
const (
	solidLevel = levels
	allLevels  = levels + 1
)

// checkpointDoc is store.Checkpoint plus what the follower needs to resume
// deterministically: per confirmation level, the highest block whose
// events have been delivered on the current chain.
type checkpointDoc struct {
	ID        string    `bson:"_id"`
	Block     int64     `bson:"block"`
	BlockID   string    `bson:"block_id"`
	Step      uint64    `bson:"step"`
	Fence     int64     `bson:"fence"`
	UpdatedAt time.Time `bson:"updated_at"`
	Emitted   []int64   `bson:"emitted"`
	// Solid is the node's solidified block as last observed when a step
	// committed: events of the next steps say whether their block is at
	// or below it, the same way on a redo.
	Solid int64 `bson:"solid"`
	// HeadsStep is Step when the ingest that wrote it kept the
	// subscriptions' heads (store.SubHeads) up to date. Absent, or
	// another step, means some steps were committed without them (by an
	// ingest from before they existed): they are rebuilt from the events.
	HeadsStep *int64 `bson:"heads_step,omitempty"`
	// PagesStep is Step when the ingest that wrote it kept the
	// subscriptions' history pages (store.EventPages) and their heads'
	// seqs up to date; otherwise both are rebuilt, as heads are.
	PagesStep *int64 `bson:"pages_step,omitempty"`
}

// headsCurrent reports whether the subscriptions' heads and pages were
// kept up to date through the checkpoint's step.
func (d checkpointDoc) headsCurrent() bool {
	return d.HeadsStep != nil && *d.HeadsStep == int64(d.Step) &&
		d.PagesStep != nil && *d.PagesStep == int64(d.Step)
}

// state is the committed position of the follower.
type state struct {
	block   int64
	blockID string
	step    uint64
	// emitted holds, per confirmation level and then for the solidified
	// level, the highest block whose events have been delivered.
	emitted [allLevels]int64
	solid   int64
}

func (s state) doc(fence int64, now time.Time) checkpointDoc {
	return checkpointDoc{ID: CheckpointID, Block: s.block, BlockID: s.blockID, Step: s.step, Fence: fence, UpdatedAt: now, Emitted: s.emitted[:], Solid: s.solid}
}

func stateFromDoc(d checkpointDoc) (state, error) {
	s := state{block: d.Block, blockID: d.BlockID, step: d.Step, solid: d.Solid}
	switch len(d.Emitted) {
	case allLevels:
		copy(s.emitted[:], d.Emitted)
	case levels:
		// Written before the solidified level existed: no subscription
		// was at it, so it starts where level 19 stands.
		copy(s.emitted[:], d.Emitted)
		s.emitted[solidLevel] = d.Emitted[levels-1]
	default:
		return state{}, fmt.Errorf("follow: checkpoint has %d emitted levels, want %d", len(d.Emitted), allLevels)
	}
	return s, nil
}

// loadCheckpoint returns the checkpoint, or ok false when there is none;
// heads says whether the subscriptions' heads are current (see
// checkpointDoc.HeadsStep).
func loadCheckpoint(ctx context.Context, db *mongo.Database) (s state, heads, ok bool, err error) {
	var d checkpointDoc
	err = db.Collection(store.Checkpoints).FindOne(ctx, bson.M{"_id": CheckpointID}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return state{}, false, false, nil
	}
	if err != nil {
		return state{}, false, false, fmt.Errorf("follow: load checkpoint: %w", err)
	}
	s, err = stateFromDoc(d)
	return s, d.headsCurrent(), err == nil, err
}

// writeCheckpoint moves the checkpoint to s, provided no ingest with a newer
// fencing token has written it: the filter only matches a document whose
// fence is not above ours, and when it matches none the upsert's insert
// collides with the existing _id. Either way a deposed leader gets
// ErrFenced and writes nothing.
func writeCheckpoint(ctx context.Context, db *mongo.Database, s state, fence int64) error {
	d := s.doc(fence, time.Now().UTC())
	res, err := db.Collection(store.Checkpoints).UpdateOne(ctx,
		bson.M{"_id": CheckpointID, "fence": bson.M{"$lte": fence}},
		bson.M{"$set": bson.M{"block": d.Block, "block_id": d.BlockID, "step": int64(d.Step), "fence": d.Fence, "updated_at": d.UpdatedAt, "emitted": d.Emitted, "solid": d.Solid,
			// Every unit of commit wrote its pages and heads before
			// this.
			"heads_step": int64(d.Step), "pages_step": int64(d.Step)}},
		options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("follow: checkpoint: %w", ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("follow: checkpoint: %w", err)
	}
	if res.MatchedCount == 0 && res.UpsertedCount == 0 {
		return fmt.Errorf("follow: checkpoint: %w", ErrFenced)
	}
	return nil
}

// claimCheckpoint stamps fence on the checkpoint, unless a newer one is
// there (ErrFenced). With no checkpoint yet there is nothing to claim: the
// first write creates it with our fence.
func claimCheckpoint(ctx context.Context, db *mongo.Database, fence int64) error {
	coll := db.Collection(store.Checkpoints)
	res, err := coll.UpdateOne(ctx, bson.M{"_id": CheckpointID, "fence": bson.M{"$lte": fence}}, bson.M{"$set": bson.M{"fence": fence}})
	if err != nil {
		return fmt.Errorf("follow: claim checkpoint: %w", err)
	}
	if res.MatchedCount > 0 {
		return nil
	}
	n, err := coll.CountDocuments(ctx, bson.M{"_id": CheckpointID})
	if err != nil {
		return fmt.Errorf("follow: claim checkpoint: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("follow: claim checkpoint with token %d: %w", fence, ErrFenced)
	}
	return nil
}

// insertEvents writes docs unordered; a duplicate is success (see
// store.InsertEvents).
func insertEvents(ctx context.Context, db *mongo.Database, docs []any) error {
	if err := store.InsertEvents(ctx, db, docs); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	return nil
}

// writePages writes docs to their subscriptions' history pages (see
// store.Pages.Write).
func writePages(ctx context.Context, pages *store.Pages, docs []store.EventDoc, fence int64) error {
	if err := pages.Write(ctx, docs, fence); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	return nil
}

// upsertBlocks records the committed chain so that a restarted ingest can
// see a reorg that happened while it was down. The blocks are inserted in
// bulk; only those already recorded (a redo, or a branch a reorg left
// behind) are replaced one by one, since an upsert costs FerretDB a
// transaction each.
func upsertBlocks(ctx context.Context, db *mongo.Database, blocks []store.BlockDoc) error {
	if len(blocks) == 0 {
		return nil
	}
	coll := db.Collection(store.Blocks)
	docs := make([]any, len(blocks))
	for i := range blocks {
		docs[i] = blocks[i]
	}
	_, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return fmt.Errorf("follow: blocks: %w", err)
	}
	models := make([]mongo.WriteModel, 0, len(bwe.WriteErrors))
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 || we.Index < 0 || we.Index >= len(blocks) {
			return fmt.Errorf("follow: blocks: %w", err)
		}
		b := blocks[we.Index]
		models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.M{"_id": b.Number}).SetReplacement(b).SetUpsert(true))
	}
	if _, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("follow: blocks: %w", err)
	}
	return nil
}

// loadBlocks returns the recorded chain from..to, inclusive.
func loadBlocks(ctx context.Context, db *mongo.Database, from, to int64) ([]store.BlockDoc, error) {
	cur, err := db.Collection(store.Blocks).Find(ctx, bson.M{"_id": bson.M{"$gte": from, "$lte": to}}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("follow: load blocks: %w", err)
	}
	var out []store.BlockDoc
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("follow: load blocks: %w", err)
	}
	return out, nil
}

// pruneBlocks drops recorded blocks above a reorg's ancestor, or far below
// the tip.
func pruneBlocks(ctx context.Context, db *mongo.Database, filter bson.M) error {
	if _, err := db.Collection(store.Blocks).DeleteMany(ctx, filter); err != nil {
		return fmt.Errorf("follow: prune blocks: %w", err)
	}
	return nil
}

// retractable returns the delivered, not yet retracted events of blocks
// above ancestor, in (subscription, cursor) order. An event counts as
// retracted only by a removed document of an earlier step: the removed
// documents a crashed attempt of this very step wrote do not count, so the
// redo sees the same set and assigns the same cursors.
func retractable(ctx context.Context, db *mongo.Database, ancestor int64, step uint64) ([]store.EventDoc, error) {
	cur, err := db.Collection(store.Events).Find(ctx, bson.M{"block": bson.M{"$gt": ancestor}},
		options.Find().SetSort(bson.D{{Key: "subscription_id", Value: 1}, {Key: "cursor", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("follow: retractable events: %w", err)
	}
	var docs []store.EventDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("follow: retractable events: %w", err)
	}
	done := map[string]bool{}
	for _, d := range docs {
		if c, err := cursor.Parse(d.Cursor); err == nil && d.Removed && c.Step < step {
			done[d.SubscriptionID+"|"+d.EventID] = true
		}
	}
	out := docs[:0]
	for _, d := range docs {
		if !d.Removed && !done[d.SubscriptionID+"|"+d.EventID] {
			out = append(out, d)
		}
	}
	return out, nil
}

// EnsureIndexes creates the follower's own index on top of store's: events
// by block, for finding what a reorg retracts.
func EnsureIndexes(ctx context.Context, db *mongo.Database) error {
	_, err := db.Collection(store.Events).Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "block", Value: 1}},
		Options: options.Index().SetName("block"),
	})
	if err != nil {
		return fmt.Errorf("follow: index block on %s: %w", store.Events, err)
	}
	return nil
}
