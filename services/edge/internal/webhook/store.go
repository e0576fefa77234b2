package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// Collections of the webhook deliverer. A delivery lives in exactly one
// of the first two: pending in the queue, finished in the record. The
// split keeps the collection every lane reads and updates as small as the
// backlog, since FerretDB's SQLite backend scans a whole collection even
// for a statement by _id; finished deliveries are only ever inserted.
const (
	// QueueCollection holds the pending deliveries.
	QueueCollection = "webhook_queue"
	// DeliveriesCollection holds the finished deliveries (succeeded,
	// failed, dead) until the retention sweep removes them.
	DeliveriesCollection = "webhook_deliveries"
	// LanesCollection holds one lease per subscription with deliveries:
	// the edge holding it is the only one delivering that subscription.
	LanesCollection = "webhook_lanes"
)

// Statuses of a [Delivery].
const (
	// StatusPending waits for its next attempt, due at NextAttemptAt.
	StatusPending = "pending"
	// StatusSucceeded got a 2xx.
	StatusSucceeded = "succeeded"
	// StatusFailed stopped without exhausting its retries: the receiver
	// answered 410 Gone, the webhook was removed or disabled, or the
	// target is refused by the server's security policy.
	StatusFailed = "failed"
	// StatusDead exhausted its retries: the dead letter.
	StatusDead = "dead"
)

// Statuses lists every status, for validating a filter.
var statuses = []string{StatusPending, StatusSucceeded, StatusFailed, StatusDead}

// Delivery is one event to POST to one subscription's webhook, with the
// record of every attempt.
type Delivery struct {
	ID             string `bson:"_id"`
	SubscriptionID string `bson:"subscription_id"`
	EventID        string `bson:"event_id"`
	Cursor         string `bson:"cursor"`
	Removed        bool   `bson:"removed"`
	Status         string `bson:"status"`
	// Attempts counts every attempt ever made.
	Attempts int `bson:"attempts"`
	// RoundAttempts counts attempts since creation or the last manual
	// retry or replay: the position in the retry schedule.
	RoundAttempts int       `bson:"round_attempts"`
	NextAttemptAt time.Time `bson:"next_attempt_at"`
	Last          *Attempt  `bson:"last,omitempty"`
	Log           []Attempt `bson:"attempts_log"`
	CreatedAt     time.Time `bson:"created_at"`
	UpdatedAt     time.Time `bson:"updated_at"`
	// Body is the event JSON exactly as published and stored.
	Body []byte `bson:"body"`
	// held marks a delivery not queued: it waits in an inbox, taken
	// from JetStream or filled from the events collection (see chain.go).
	held bool `bson:"-"`
	// msg is the JetStream message of a held delivery, to settle once
	// its outcome or its place in the queue is stored. A delivery filled
	// from the events collection has none, unless its own message came
	// while it waited (see Deliverer.attachLocked).
	msg jetstream.Msg `bson:"-"`
	// check marks a delivery to queue whose outcome may be recorded
	// already (see incoming.check): it is queued only if not
	// (mongoStore.unrecorded).
	check bool `bson:"-"`
}

// Attempt is the record of one POST.
type Attempt struct {
	At         time.Time `bson:"at" json:"at"`
	Attempt    int       `bson:"attempt" json:"attempt"`
	StatusCode int       `bson:"status_code" json:"status_code"`
	LatencyMS  int64     `bson:"latency_ms" json:"latency_ms"`
	Error      string    `bson:"error,omitempty" json:"error,omitempty"`
	Edge       string    `bson:"edge" json:"-"`
}

// View is a delivery as the REST API shows it: no body, and a next attempt
// time only while one is due.
type View struct {
	ID             string     `json:"id"`
	SubscriptionID string     `json:"subscription_id"`
	EventID        string     `json:"event_id"`
	Cursor         string     `json:"cursor"`
	Removed        bool       `json:"removed"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	Last           *Attempt   `json:"last"`
	AttemptsLog    []Attempt  `json:"attempts_log"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

func (d *Delivery) view() View {
	v := View{
		ID: d.ID, SubscriptionID: d.SubscriptionID, EventID: d.EventID, Cursor: d.Cursor, Removed: d.Removed,
		Status: d.Status, Attempts: d.Attempts, Last: d.Last, AttemptsLog: d.Log,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
	if v.AttemptsLog == nil {
		v.AttemptsLog = []Attempt{}
	}
	if d.Status == StatusPending {
		t := d.NextAttemptAt
		v.NextAttemptAt = &t
	}
	return v
}

// DeliveryID returns the id of the delivery of the event at cursor to a
// subscription. It is deterministic, so a redelivered JetStream message or
// a replay finds the delivery it already made, and ids of one subscription
// sort in cursor order.
func DeliveryID(subscriptionID, cursor string) string {
	return "dlv_" + strings.TrimPrefix(subscriptionID, subscription.IDPrefix) + "_" + cursor
}

// lane is one tenure of a subscription's delivery lease. Each tenure is
// a document of its own, taken by inserting it: of two edges taking a
// lane at once exactly one insert succeeds, on MongoDB and on FerretDB
// alike, where an update is a read then a write and so no compare-and-set.
// The tenure with the highest epoch is the lane's state.
type lane struct {
	ID             string    `bson:"_id"`
	SubscriptionID string    `bson:"subscription_id"`
	Epoch          int64     `bson:"epoch"`
	Owner          string    `bson:"owner"`
	LeaseUntil     time.Time `bson:"lease_until"`
}

func laneID(subID string, epoch int64) string { return fmt.Sprintf("%s#%016d", subID, epoch) }

// mongoStore is the deliverer's MongoDB access.
type mongoStore struct {
	db *mongo.Database
}

func (s mongoStore) queue() *mongo.Collection   { return s.db.Collection(QueueCollection) }
func (s mongoStore) records() *mongo.Collection { return s.db.Collection(DeliveriesCollection) }
func (s mongoStore) lanes() *mongo.Collection   { return s.db.Collection(LanesCollection) }

// ensureIndexes creates the indexes, and the TTL index on finished
// deliveries where the server accepts it; ttl reports whether it did (if
// not, [mongoStore.sweep] is the only retention).
func (s mongoStore) ensureIndexes(ctx context.Context, retention time.Duration) (ttl bool, err error) {
	idx := []struct {
		c *mongo.Collection
		m mongo.IndexModel
	}{
		{s.queue(), mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("sub_id")}},
		{s.queue(), mongo.IndexModel{Keys: bson.D{{Key: "next_attempt_at", Value: 1}}, Options: options.Index().SetName("next_attempt_at")}},
		{s.records(), mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "status", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("sub_status_id")}},
		{s.lanes(), mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "epoch", Value: 1}}, Options: options.Index().SetName("sub_epoch")}},
	}
	for _, x := range idx {
		if _, err := x.c.Indexes().CreateOne(ctx, x.m); err != nil {
			return false, fmt.Errorf("webhook: index on %s: %w", x.c.Name(), err)
		}
	}
	// Every index of the record costs each insert, the one statement
	// per delivery: a subscription's deliveries in id order are an _id
	// range (see idRange), so the (subscription_id, _id) index earlier
	// versions made is dropped.
	if err := s.records().Indexes().DropOne(ctx, "sub_id"); err != nil && !indexMissing(err) {
		return false, fmt.Errorf("webhook: drop index sub_id on %s: %w", DeliveriesCollection, err)
	}
	_, err = s.records().Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "updated_at", Value: 1}},
		Options: options.Index().SetName("updated_at_ttl").SetExpireAfterSeconds(int32(retention / time.Second)),
	})
	if err != nil {
		if store.IsNotSupported(err) {
			return false, nil
		}
		return false, fmt.Errorf("webhook: TTL index on %s: %w", DeliveriesCollection, err)
	}
	return true, nil
}

// indexMissing reports whether err says the index or its collection does
// not exist (IndexNotFound, NamespaceNotFound).
func indexMissing(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && (ce.Code == 27 || ce.Code == 26)
}

// idRange returns the bounds of a subscription's delivery ids: every
// id made by [DeliveryID] for it is inside (lo, hi), and no other.
func idRange(subID string) (lo, hi string) {
	lo = DeliveryID(subID, "")
	// lo ends in '_'; '`' is the next byte.
	return lo, lo[:len(lo)-1] + "`"
}

// sweep deletes the finished deliveries last changed before the retention
// and returns how many. A pending delivery is never swept.
func (s mongoStore) sweep(ctx context.Context, retention time.Duration, now time.Time) (int64, error) {
	res, err := s.records().DeleteMany(ctx, bson.M{"updated_at": bson.M{"$lt": now.Add(-retention)}})
	if err != nil {
		return 0, fmt.Errorf("webhook: retention sweep: %w", err)
	}
	return res.DeletedCount, nil
}

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

// dueSubscriptions returns the subscriptions with a pending delivery due.
func (s mongoStore) dueSubscriptions(ctx context.Context, now time.Time) ([]string, error) {
	res := s.queue().Distinct(ctx, "subscription_id", bson.M{"next_attempt_at": bson.M{"$lte": now}})
	var ids []string
	if err := res.Decode(&ids); err != nil {
		return nil, fmt.Errorf("webhook: due subscriptions: %w", err)
	}
	return ids, nil
}

// pending returns the first limit pending deliveries of each of subs, in
// cursor order, in one query: on FerretDB every query of the queue reads
// all of it, so lanes share reads rather than each making its own.
func (s mongoStore) pending(ctx context.Context, subs []string, limit int) (map[string][]Delivery, error) {
	cur, err := s.queue().Find(ctx, bson.M{"subscription_id": bson.M{"$in": subs}})
	if err != nil {
		return nil, fmt.Errorf("webhook: pending deliveries: %w", err)
	}
	var docs []Delivery
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("webhook: pending deliveries: %w", err)
	}
	// Delivery ids sort in cursor order within a subscription.
	slices.SortFunc(docs, func(a, b Delivery) int { return strings.Compare(a.ID, b.ID) })
	out := make(map[string][]Delivery, len(subs))
	for _, d := range docs {
		if len(out[d.SubscriptionID]) < limit {
			out[d.SubscriptionID] = append(out[d.SubscriptionID], d)
		}
	}
	return out, nil
}

// latestLane returns a subscription's current tenure, or nil.
func (s mongoStore) latestLane(ctx context.Context, subID string) (*lane, error) {
	cur, err := s.lanes().Find(ctx, bson.M{"subscription_id": subID})
	if err != nil {
		return nil, fmt.Errorf("webhook: read lane: %w", err)
	}
	var ls []lane
	if err := cur.All(ctx, &ls); err != nil {
		return nil, fmt.Errorf("webhook: read lane: %w", err)
	}
	var last *lane
	for i := range ls {
		if last == nil || ls[i].Epoch > last.Epoch {
			last = &ls[i]
		}
	}
	return last, nil
}

// acquireLane takes a subscription's lane for owner until until, when it
// is free or its lease ended, and returns the tenure's epoch. When another
// edge holds it, or it is parked, it returns ok false and when that ends.
func (s mongoStore) acquireLane(ctx context.Context, subID, owner string, now, until time.Time) (epoch int64, ok bool, wait time.Time, err error) {
	last, err := s.latestLane(ctx, subID)
	if err != nil {
		return 0, false, time.Time{}, err
	}
	if last != nil && last.LeaseUntil.After(now) {
		return 0, false, last.LeaseUntil, nil
	}
	if last != nil {
		epoch = last.Epoch
	}
	epoch++
	_, err = s.lanes().InsertOne(ctx, lane{ID: laneID(subID, epoch), SubscriptionID: subID, Epoch: epoch, Owner: owner, LeaseUntil: until})
	if mongo.IsDuplicateKeyError(err) {
		// Another edge took this tenure first.
		return 0, false, now, nil
	}
	if err != nil {
		return 0, false, time.Time{}, fmt.Errorf("webhook: acquire lane: %w", err)
	}
	// Earlier tenures are history; losing this cleanup is harmless.
	_, _ = s.lanes().DeleteMany(ctx, bson.M{"subscription_id": subID, "epoch": bson.M{"$lt": epoch}})
	return epoch, true, time.Time{}, nil
}

// renewLane extends owner's tenure; false means another edge took the
// lane over after this tenure's lease ran out.
func (s mongoStore) renewLane(ctx context.Context, subID, owner string, epoch int64, until time.Time) (bool, error) {
	n, err := s.lanes().CountDocuments(ctx, bson.M{"subscription_id": subID, "epoch": bson.M{"$gt": epoch}})
	if err != nil {
		return false, fmt.Errorf("webhook: renew lane: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	res, err := s.lanes().UpdateOne(ctx, bson.M{"_id": laneID(subID, epoch)}, bson.M{"$set": bson.M{"lease_until": until}})
	if err != nil {
		return false, fmt.Errorf("webhook: renew lane: %w", err)
	}
	return res.MatchedCount == 1, nil
}

// releaseLane ends owner's tenure; no edge takes the lane before at, which
// parks a subscription whose first delivery waits for a retry.
func (s mongoStore) releaseLane(ctx context.Context, subID, owner string, epoch int64, at time.Time) error {
	_, err := s.lanes().UpdateOne(ctx, bson.M{"_id": laneID(subID, epoch)}, bson.M{"$set": bson.M{"owner": "", "lease_until": at}})
	if err != nil {
		return fmt.Errorf("webhook: release lane: %w", err)
	}
	return nil
}

// wakeLane ends a parked lane's wait, for a manual retry or a replay; a
// lane some edge is working on sees the new work by itself.
func (s mongoStore) wakeLane(ctx context.Context, subID string, now time.Time) error {
	_, err := s.lanes().UpdateMany(ctx, bson.M{"subscription_id": subID, "owner": ""}, bson.M{"$set": bson.M{"lease_until": now}})
	if err != nil {
		return fmt.Errorf("webhook: wake lane: %w", err)
	}
	return nil
}

// updateByID returns a bulk write model updating the one document with
// the given _id.
//
// It is an update with multi set, not an updateOne, on purpose: FerretDB
// (1.24, SQLite) keeps each single-document statement's query open, and
// with it one SQLite connection of its pool of 100, until the whole
// command ends, and needs a second one to write. A bulk write of a few
// dozen updateOne statements, or a few of them at once, so exhausts the
// pool and deadlocks the server: every write in the database then hangs,
// which is the stall seen under load. A multi update reads its query to
// the end, which frees the connection; on a unique _id it changes the
// same one document.
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

// recorded returns which of the deliveries ids are recorded (finished).
func (s mongoStore) recorded(ctx context.Context, ids []string) (map[string]bool, error) {
	var docs []struct {
		ID string `bson:"_id"`
	}
	cur, err := s.records().Find(ctx, bson.M{"_id": bson.M{"$in": ids}}, options.Find().SetProjection(bson.M{"_id": 1}))
	if err == nil {
		err = cur.All(ctx, &docs)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: read deliveries: %w", err)
	}
	out := make(map[string]bool, len(docs))
	for _, d := range docs {
		out[d.ID] = true
	}
	return out, nil
}

// storedTail returns where a subscription's chain stands in what is
// stored, for the event at cursor c linked to prev: the cursor of the
// subscription's last delivery, queued or recorded, or "" when it has
// none (see Deliverer.link). Most of the time c or prev has a delivery,
// found by _id; then that is the tail. Otherwise the last delivery is
// looked for by _id range. The record is read only if the subscription
// ever had a lane (a record is only made by a lane, and a lane's last
// tenure is never deleted): on FerretDB, whose writers hold up its
// readers, reading it costs up to a tenth of a second under load, where
// the queue and the lanes are small.
func (s mongoStore) storedTail(ctx context.Context, subID, c, prev string) (string, error) {
	colls := []*mongo.Collection{s.queue()}
	switch l, err := s.latestLane(ctx, subID); {
	case err != nil:
		return "", err
	case l != nil:
		colls = append(colls, s.records())
	}
	for _, cur := range []string{c, prev} {
		if cur == "" {
			continue
		}
		for _, coll := range colls {
			err := coll.FindOne(ctx, bson.M{"_id": DeliveryID(subID, cur)}, options.FindOne().SetProjection(bson.M{"_id": 1})).Err()
			if err == nil {
				return cur, nil
			}
			if !errors.Is(err, mongo.ErrNoDocuments) {
				return "", fmt.Errorf("webhook: deliveries of %s: %w", subID, err)
			}
		}
	}
	lo, hi := idRange(subID)
	last := ""
	for _, coll := range colls {
		var d struct {
			Cursor string `bson:"cursor"`
		}
		err := coll.FindOne(ctx, bson.M{"_id": bson.M{"$gt": lo, "$lt": hi}},
			options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}}).SetProjection(bson.M{"cursor": 1})).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("webhook: last delivery of %s: %w", subID, err)
		}
		last = max(last, d.Cursor)
	}
	return last, nil
}

// events returns up to limit stored events of a subscription with a
// cursor strictly between after and before, in cursor order: the events
// a broken link says are missing, stored before they were published.
func (s mongoStore) events(ctx context.Context, subID, after, before string, limit int) ([]store.EventDoc, error) {
	cur, err := s.db.Collection(store.Events).Find(ctx,
		bson.M{"subscription_id": subID, "cursor": bson.M{"$gt": after, "$lt": before}},
		options.Find().SetSort(bson.D{{Key: "cursor", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("webhook: read events of %s: %w", subID, err)
	}
	var evs []store.EventDoc
	if err := cur.All(ctx, &evs); err != nil {
		return nil, fmt.Errorf("webhook: read events of %s: %w", subID, err)
	}
	return evs, nil
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

// ListQuery selects deliveries of one subscription.
type ListQuery struct {
	// Status filters by status; empty means all.
	Status string
	// After is the id of the last delivery of the previous page.
	After string
	// Limit is the page size; it must be positive.
	Limit int
}

// ErrInvalidStatus is returned for an unknown status filter.
var ErrInvalidStatus = errors.New("webhook: unknown delivery status")

// ErrNotFound is returned for a delivery that does not exist.
var ErrNotFound = errors.New("webhook: delivery not found")

// ErrNoWebhook is returned when replaying a subscription without a webhook.
var ErrNoWebhook = errors.New("webhook: the subscription has no webhook")

func (s mongoStore) list(ctx context.Context, subID string, q ListQuery) ([]View, string, error) {
	filter := bson.M{"subscription_id": subID}
	colls := []*mongo.Collection{s.queue(), s.records()}
	switch q.Status {
	case "":
	case StatusPending:
		colls = colls[:1]
	case StatusSucceeded, StatusFailed, StatusDead:
		colls = colls[1:]
		filter["status"] = q.Status
	default:
		return nil, "", fmt.Errorf("%w: %q; want one of %s", ErrInvalidStatus, q.Status, strings.Join(statuses, ", "))
	}
	if q.After != "" {
		filter["_id"] = bson.M{"$gt": q.After}
	}
	var docs []Delivery
	for _, c := range colls {
		filter := filter
		if c.Name() == DeliveriesCollection && q.Status == "" {
			// The record's one index leads with status; _id serves this.
			lo, hi := idRange(subID)
			filter = bson.M{"_id": bson.M{"$gt": max(lo, q.After), "$lt": hi}}
		}
		cur, err := c.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
			SetLimit(int64(q.Limit)+1).SetProjection(bson.M{"body": 0}))
		if err != nil {
			return nil, "", fmt.Errorf("webhook: list deliveries: %w", err)
		}
		var part []Delivery
		if err := cur.All(ctx, &part); err != nil {
			return nil, "", fmt.Errorf("webhook: list deliveries: %w", err)
		}
		docs = append(docs, part...)
	}
	// Queued first and the sort stable: of a delivery found in both (a
	// crash between recording and dequeuing) the queued copy, which will
	// be sent again, is shown.
	slices.SortStableFunc(docs, func(a, b Delivery) int { return strings.Compare(a.ID, b.ID) })
	docs = slices.CompactFunc(docs, func(a, b Delivery) bool { return a.ID == b.ID })
	next := ""
	if len(docs) > q.Limit {
		docs = docs[:q.Limit]
		next = docs[q.Limit-1].ID
	}
	out := make([]View, len(docs))
	for i := range docs {
		out[i] = docs[i].view()
	}
	return out, next, nil
}

// due returns the fields making a delivery due now with a fresh retry
// schedule.
func due(now time.Time) bson.M {
	return bson.M{"status": StatusPending, "next_attempt_at": now, "round_attempts": 0, "updated_at": now}
}

// requeue makes finished deliveries pending again, due now with a fresh
// retry schedule and their record of attempts, and returns them. It
// queues before it removes the record, so a failure leaves the delivery
// in one place or the other, never in neither.
func (s mongoStore) requeue(ctx context.Context, docs []Delivery, now time.Time) error {
	if len(docs) == 0 {
		return nil
	}
	in := make([]any, len(docs))
	ids := make([]string, len(docs))
	for i := range docs {
		d := &docs[i]
		d.Status, d.NextAttemptAt, d.RoundAttempts, d.UpdatedAt = StatusPending, now, 0, now
		in[i], ids[i] = d, d.ID
	}
	if err := s.insertNew(ctx, in); err != nil {
		return err
	}
	if _, err := s.records().DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}}); err != nil {
		return fmt.Errorf("webhook: requeue: %w", err)
	}
	return nil
}

// resend makes a delivery due now with a fresh retry schedule.
func (s mongoStore) resend(ctx context.Context, subID, id string, now time.Time) (*View, error) {
	filter := bson.M{"_id": id, "subscription_id": subID}
	var d Delivery
	err := s.queue().FindOneAndUpdate(ctx, filter, bson.M{"$set": due(now)},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err == nil {
		v := d.view()
		return &v, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("webhook: retry delivery: %w", err)
	}
	err = s.records().FindOne(ctx, filter).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: retry delivery: %w", err)
	}
	docs := []Delivery{d}
	if err := s.requeue(ctx, docs, now); err != nil {
		return nil, err
	}
	v := docs[0].view()
	return &v, nil
}

// replay makes the events of a subscription after a cursor due again, at
// most limit of them, creating the deliveries that do not exist (events
// from before the webhook, or skipped while it was disabled). It returns
// how many and the cursor of the last.
func (s mongoStore) replay(ctx context.Context, subID, after string, limit int, now time.Time) (int, string, error) {
	cur, err := s.db.Collection(store.Events).Find(ctx,
		bson.M{"subscription_id": subID, "cursor": bson.M{"$gt": after}},
		options.Find().SetSort(bson.D{{Key: "cursor", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return 0, "", fmt.Errorf("webhook: replay: %w", err)
	}
	var evs []store.EventDoc
	if err := cur.All(ctx, &evs); err != nil {
		return 0, "", fmt.Errorf("webhook: replay: %w", err)
	}
	if len(evs) == 0 {
		return 0, "", nil
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = DeliveryID(subID, e.Cursor)
	}
	byID := bson.M{"_id": bson.M{"$in": ids}}
	// Pending already: due now.
	res, err := s.queue().UpdateMany(ctx, byID, bson.M{"$set": due(now)})
	if err != nil {
		return 0, "", fmt.Errorf("webhook: replay: %w", err)
	}
	// Finished: back to the queue with their attempts.
	var done []Delivery
	if res.MatchedCount < int64(len(ids)) {
		cur, err := s.records().Find(ctx, byID)
		if err != nil {
			return 0, "", fmt.Errorf("webhook: replay: %w", err)
		}
		if err := cur.All(ctx, &done); err != nil {
			return 0, "", fmt.Errorf("webhook: replay: %w", err)
		}
		if err := s.requeue(ctx, done, now); err != nil {
			return 0, "", err
		}
	}
	// Never made: new. Inserting all of them leaves the existing ones
	// as they are.
	if res.MatchedCount+int64(len(done)) < int64(len(ids)) {
		docs := make([]any, len(evs))
		for i, e := range evs {
			docs[i] = &Delivery{
				ID: ids[i], SubscriptionID: subID, EventID: e.EventID, Cursor: e.Cursor, Removed: e.Removed,
				Status: StatusPending, NextAttemptAt: now, Log: []Attempt{}, CreatedAt: now, UpdatedAt: now, Body: e.JSON,
			}
		}
		if err := s.insertNew(ctx, docs); err != nil {
			return 0, "", err
		}
	}
	return len(evs), evs[len(evs)-1].Cursor, nil
}

// countPending counts the deliveries waiting, for the queue depth gauge.
func (s mongoStore) countPending(ctx context.Context) (int64, error) {
	n, err := s.queue().CountDocuments(ctx, bson.M{})
	if err != nil {
		return 0, fmt.Errorf("webhook: count pending: %w", err)
	}
	return n, nil
}
