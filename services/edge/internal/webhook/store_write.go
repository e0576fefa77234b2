package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// insertNew queues new deliveries, in the order given; those already
// queued (a redelivered message) are left as they are. The insert is
// ordered so that a lane reading meanwhile sees a prefix of its
// subscription's new deliveries, never a later one without an earlier.
func (s mongoStore) insertNew(ctx context.Context, docs []any) error {
	for len(docs) > 0 {
		_, err := s.queue().InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
		if err == nil {
			return nil
		}
		dup := duplicates(err)
		if len(dup) != 1 {
			return fmt.Errorf("webhook: store deliveries: %w", err)
		}
		// An ordered insert stops at its first failure: go on after it.
		docs = docs[dup[0]+1:]
	}
	return nil
}

// duplicates returns the indexes of the documents a bulk insert refused as
// duplicate keys when that was its only failure, and nil otherwise.
func duplicates(err error) []int {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil
	}
	idx := make([]int, 0, len(bwe.WriteErrors))
	for _, we := range bwe.WriteErrors {
		if we.Code != duplicateKey {
			return nil
		}
		idx = append(idx, we.Index)
	}
	return idx
}

// duplicateKey is MongoDB's (and FerretDB's) E11000.
const duplicateKey = 11000

// updateByID returns a bulk write model updating the one document with
// the given _id.
//
// It is an update with multi set, not an updateOne, on purpose: FerretDB
// (1.24, SQLite) keeps each single-document statement's query open, and
// with it one SQLite connection of its pool of 100, until the whole
// command ends, and needs a second one to write. A bulk write of a few
// dozen updateOne statements, or a few of them at once, so exhausts the
// pool and deadlocks the server: every write in the database then hangs.
// A multi update reads its query to the end, which frees the connection;
// on a unique _id it changes the same one document.
func updateByID(id string) *mongo.UpdateManyModel {
	return mongo.NewUpdateManyModel().SetFilter(bson.M{"_id": id})
}

// writeOps are outcomes to store: updates of queued deliveries (a retry
// scheduled), deliveries to queue, and finished deliveries to record (and
// remove from the queue, unless they came from an inbox), with the
// JetStream messages to acknowledge once they are stored.
type writeOps struct {
	updates  []mongo.WriteModel
	pending  []any
	finished []*Delivery
	acks     []jetstream.Msg
	// written holds the finished deliveries an earlier, failed write of
	// the same outcomes may have recorded: a record found for one is
	// that write's, not an older outcome to replace.
	written map[string]bool
}

func (o *writeOps) len() int { return len(o.updates) + len(o.pending) + len(o.finished) }

// finish adds a finished delivery.
func (o *writeOps) finish(f *Delivery) {
	o.finished = append(o.finished, f)
	if f.msg != nil {
		o.acks = append(o.acks, f.msg)
	}
}

// settle acknowledges the messages of stored ops, or hands them back to
// JetStream, due again, when they could not be stored.
func (o *writeOps) settle(stored bool) {
	for _, m := range o.acks {
		if stored {
			_ = m.Ack()
		} else {
			_ = m.Nak()
		}
	}
	o.acks = o.acks[:0]
}

// updateCost is what an update costs next to a finished delivery: it is a
// statement of its own, which on FerretDB reads the whole queue, where
// all the finished deliveries of a write share two statements.
const updateCost = 64

// cost weighs ops for capping a combined write.
func (o *writeOps) cost() int { return updateCost*len(o.updates) + len(o.pending) + len(o.finished) }

func (o *writeOps) add(p writeOps) {
	o.updates = append(o.updates, p.updates...)
	o.pending = append(o.pending, p.pending...)
	o.finished = append(o.finished, p.finished...)
	for id := range p.written {
		if o.written == nil {
			o.written = map[string]bool{}
		}
		o.written[id] = true
	}
}

func (o *writeOps) reset() {
	o.updates = o.updates[:0]
	o.pending = o.pending[:0]
	o.finished = o.finished[:0]
	o.acks = o.acks[:0]
	clear(o.written)
}

// failed records that a write of o failed, perhaps after recording some
// of its finished deliveries, before o is written again. Its updates are
// dropped: they scheduled retries, and a retry attempted once more is
// harmless where an update applied twice would count an attempt twice.
// Its deliveries to queue stay: queueing one already queued changes
// nothing.
func (o *writeOps) failed() {
	if o.written == nil {
		o.written = map[string]bool{}
	}
	for _, d := range o.finished {
		o.written[d.ID] = true
	}
	o.updates = o.updates[:0]
}

// apply stores outcomes. A finished delivery is recorded before it leaves
// the queue, so a crash in between sends it again (the outcome of that
// attempt is then the record's) rather than losing its record.
func (s mongoStore) apply(ctx context.Context, ops writeOps) error {
	if len(ops.updates) > 0 {
		if _, err := s.queue().BulkWrite(ctx, ops.updates, options.BulkWrite().SetOrdered(true)); err != nil {
			return fmt.Errorf("webhook: record attempts: %w", err)
		}
	}
	pending := ops.pending
	if slices.ContainsFunc(pending, toCheck) {
		var err error
		if pending, err = s.unrecorded(ctx, ops); err != nil {
			return err
		}
	}
	if err := s.insertNew(ctx, pending); err != nil {
		return err
	}
	if len(ops.finished) == 0 {
		return nil
	}
	docs := make([]any, len(ops.finished))
	ids := make([]string, 0, len(ops.finished))
	for i, d := range ops.finished {
		docs[i] = d
		if !d.held {
			ids = append(ids, d.ID)
		}
	}
	if _, err := s.records().InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
		dups := duplicates(err)
		if len(dups) == 0 {
			return fmt.Errorf("webhook: record deliveries: %w", err)
		}
		// Recorded already, by an attempt whose queue entry a crash
		// left behind: the queued copy carries that attempt too.
		models := make([]mongo.WriteModel, 0, len(dups))
		for _, i := range dups {
			if ops.written[ops.finished[i].ID] {
				continue
			}
			set, err := fields(ops.finished[i])
			if err != nil {
				return err
			}
			models = append(models, updateByID(ops.finished[i].ID).SetUpdate(bson.M{"$set": set}))
		}
		if len(models) > 0 {
			if _, err := s.records().BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
				return fmt.Errorf("webhook: record deliveries: %w", err)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.queue().DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}}); err != nil {
		return fmt.Errorf("webhook: dequeue deliveries: %w", err)
	}
	return nil
}

// unrecorded returns ops.pending without the deliveries to check whose
// outcome is recorded already, or is among ops.finished: an event that
// came again, or was filled from history, and whose first delivery was
// settled meanwhile. Queueing it would send it again.
func (s mongoStore) unrecorded(ctx context.Context, ops writeOps) ([]any, error) {
	done := make(map[string]bool, len(ops.finished))
	for _, f := range ops.finished {
		done[f.ID] = true
	}
	var ids []string
	for _, p := range ops.pending {
		if toCheck(p) && !done[p.(*Delivery).ID] {
			ids = append(ids, p.(*Delivery).ID)
		}
	}
	if len(ids) > 0 {
		recorded, err := s.recorded(ctx, ids)
		if err != nil {
			return nil, err
		}
		for id := range recorded {
			done[id] = true
		}
	}
	out := make([]any, 0, len(ops.pending))
	for _, p := range ops.pending {
		if !toCheck(p) || !done[p.(*Delivery).ID] {
			out = append(out, p)
		}
	}
	return out, nil
}

// toCheck reports whether a delivery to queue is to be checked first.
func toCheck(p any) bool {
	d, ok := p.(*Delivery)
	return ok && d.check
}

// fields returns a delivery's fields but _id, for a $set replacing them.
func fields(d *Delivery) (bson.M, error) {
	b, err := bson.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("webhook: encode delivery: %w", err)
	}
	var m bson.M
	if err := bson.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("webhook: encode delivery: %w", err)
	}
	delete(m, "_id")
	return m, nil
}
