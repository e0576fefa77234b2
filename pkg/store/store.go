// Package store names Mongotron's MongoDB collections, defines the documents
// the ingest and the edge share, and creates their indexes. MongoDB is the
// source of truth; NATS only carries news of changes.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/event"
)

// Collections.
const (
	Subscriptions = "subscriptions"
	// SubscriptionAddresses holds subscription.Address documents.
	SubscriptionAddresses = "subscription_addresses"
	// Events holds [EventDoc]s: history and replay.
	Events = "events"
	// Checkpoints holds the ingest's [Checkpoint].
	Checkpoints = "checkpoints"
	// Blocks holds the recent chain the ingest needs to detect a reorg
	// across a restart: [BlockDoc]s.
	Blocks = "blocks"
	// Leases holds the ingest leader lease.
	Leases = "leases"
	// Keys holds [KeyDoc]s.
	Keys = "api_keys"
	// SubHeads holds, per subscription (_id), the cursor of its last
	// event, so that the ingest links the next one to it (the events'
	// prev_cursor) across restarts, and its seq field, how many events
	// it has had (see [EventDoc].Seq). The ingest writes it; the edge
	// reads seq to find a subscription's newest page.
	SubHeads = "sub_heads"
)

// DefaultRetention is how long events are kept.
const DefaultRetention = 30 * 24 * time.Hour

// EventDoc is one event delivered to one subscription.
type EventDoc struct {
	// ID is SubscriptionID + "|" + Cursor.
	ID             string `bson:"_id"`
	SubscriptionID string `bson:"subscription_id"`
	Cursor         string `bson:"cursor"`
	EventID        string `bson:"event_id"`
	Removed        bool   `bson:"removed"`
	Kind           string `bson:"kind"`
	TxID           string `bson:"tx_id"`
	Block          int64  `bson:"block"`
	// BlockID is part of the unique key with SubscriptionID, EventID and
	// Removed: the same transaction re-included in another block after a
	// reorg is delivered again, while a redo of the same block after a
	// crash is a duplicate.
	BlockID string `bson:"block_id"`
	// Addresses are the event's from, to and watched addresses (base58),
	// for the history API's address filter.
	Addresses []string  `bson:"addresses"`
	CreatedAt time.Time `bson:"created_at"`
	// JSON is the event exactly as published on NATS and streamed.
	JSON []byte `bson:"json"`
	// Seq is the event's position in its subscription's history, from 0
	// in cursor order: it names the page that holds it too (see
	// [PageDoc]). Documents written before pages existed have none.
	Seq int64 `bson:"seq"`
}

// EventDocID returns the _id of an event document.
func EventDocID(subscriptionID, cursor string) string { return subscriptionID + "|" + cursor }

// NewEventDoc returns the document that stores ev, delivered to its
// subscription with its cursor and link set, and the JSON it is published
// and streamed as (the document's JSON). The live path and the backfill
// both build their documents here, so history reads the same whichever
// delivered an event.
func NewEventDoc(ev *event.Event, now time.Time) (EventDoc, error) {
	ev.Type = event.TypeEvent
	data, err := json.Marshal(ev)
	if err != nil {
		return EventDoc{}, fmt.Errorf("store: encoding event %s: %w", ev.ID, err)
	}
	// The history's address filter matches any party or the watched
	// address.
	addrs := make([]string, 0, 3)
	seen := map[string]bool{}
	for _, a := range ev.Parties() {
		if s := a.String(); !seen[s] {
			seen[s] = true
			addrs = append(addrs, s)
		}
	}
	if !ev.Watched.IsZero() {
		if s := ev.Watched.String(); !seen[s] {
			addrs = append(addrs, s)
		}
	}
	sub := ev.SubscriptionID
	return EventDoc{
		ID: EventDocID(sub, ev.Cursor), SubscriptionID: sub, Cursor: ev.Cursor, EventID: ev.ID,
		Removed: ev.Removed, Kind: string(ev.Kind), TxID: ev.TxID, Block: ev.Block.Number, BlockID: ev.Block.ID,
		Addresses: addrs, CreatedAt: now, JSON: data,
	}, nil
}

// Checkpoint is the last block the ingest committed: every event up to it
// is in MongoDB and published.
type Checkpoint struct {
	ID        string    `bson:"_id"`
	Block     int64     `bson:"block"`
	BlockID   string    `bson:"block_id"`
	Step      uint64    `bson:"step"`
	Fence     int64     `bson:"fence"`
	UpdatedAt time.Time `bson:"updated_at"`
}

// BlockDoc is one block of the recent chain as the ingest committed it.
type BlockDoc struct {
	Number int64  `bson:"_id"`
	ID     string `bson:"id"`
	Parent string `bson:"parent"`
	Step   uint64 `bson:"step"`
}

// KeyDoc is an API key. Only a hash of the key is stored.
type KeyDoc struct {
	ID        string     `bson:"_id"`
	Tenant    string     `bson:"tenant"`
	Hash      string     `bson:"hash"`
	CreatedAt time.Time  `bson:"created_at"`
	RevokedAt *time.Time `bson:"revoked_at,omitempty"`
}

// EnsureIndexes creates every index, idempotently. The TTL indexes on
// events and their pages are created where the server accepts them
// (MongoDB); where it does not (FerretDB), plain indexes on created_at
// take their place, ttl is false and the caller must run [SweepEvents]
// periodically — it is cheap to run on both.
func EnsureIndexes(ctx context.Context, db *mongo.Database, retention time.Duration) (ttl bool, err error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	idx := []struct {
		coll, name string
		m          mongo.IndexModel
	}{
		{Events, "sub_event_removed_block", mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "event_id", Value: 1}, {Key: "removed", Value: 1}, {Key: "block_id", Value: 1}}, Options: options.Index().SetUnique(true).SetName("sub_event_removed_block")}},
		{Events, "sub_cursor", mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "cursor", Value: 1}}, Options: options.Index().SetUnique(true).SetName("sub_cursor")}},
		{SubscriptionAddresses, "sub_address", mongo.IndexModel{Keys: bson.D{{Key: "subscription_id", Value: 1}, {Key: "address", Value: 1}}, Options: options.Index().SetUnique(true).SetName("sub_address")}},
		{SubscriptionAddresses, "address", mongo.IndexModel{Keys: bson.D{{Key: "address", Value: 1}}, Options: options.Index().SetName("address")}},
		{Subscriptions, "tenant_id", mongo.IndexModel{Keys: bson.D{{Key: "tenant", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("tenant_id")}},
		// The backfill runner's poll for subscriptions waiting for their
		// backfill.
		{Subscriptions, "status_id", mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("status_id")}},
		{Keys, "hash", mongo.IndexModel{Keys: bson.D{{Key: "hash", Value: 1}}, Options: options.Index().SetUnique(true).SetName("hash")}},
	}
	for _, x := range idx {
		if _, err := db.Collection(x.coll).Indexes().CreateOne(ctx, x.m); err != nil {
			return false, fmt.Errorf("store: index %s on %s: %w", x.name, x.coll, err)
		}
	}
	ttl, err = ensureExpiry(ctx, db.Collection(Events), retention)
	if err != nil {
		return false, err
	}
	pagesTTL, err := NewPages(db).ensureIndexes(ctx, retention)
	if err != nil {
		return false, err
	}
	return ttl && pagesTTL, nil
}

// ensureExpiry gives coll a TTL index on created_at, or where the server
// refuses TTL indexes (FerretDB) a plain one, which serves the sweep. One
// or the other: MongoDB refuses two indexes on one key that differ only
// by their options.
func ensureExpiry(ctx context.Context, coll *mongo.Collection, retention time.Duration) (ttl bool, err error) {
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "created_at", Value: 1}},
		Options: options.Index().SetName("created_at_ttl").SetExpireAfterSeconds(int32(retention / time.Second)),
	})
	if err == nil {
		return true, nil
	}
	if !IsNotSupported(err) {
		// MongoDB refuses an index on the same key with other options
		// when the retention changed; that is an operator's decision,
		// so say so rather than dropping data silently.
		return false, fmt.Errorf("store: TTL index on %s: %w", coll.Name(), err)
	}
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "created_at", Value: 1}}, Options: options.Index().SetName("created_at")})
	if err != nil {
		return false, fmt.Errorf("store: index created_at on %s: %w", coll.Name(), err)
	}
	return false, nil
}

// IsNotSupported reports whether the server refused an index option it does
// not implement (FerretDB: code 238 NotImplemented).
func IsNotSupported(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == 238 || ce.Name == "NotImplemented") {
		return true
	}
	return strings.Contains(err.Error(), "not implemented")
}

// SweepEvents deletes events older than retention, then the pages whose
// newest event is (see [Pages.Sweep]), and returns how many events.
func SweepEvents(ctx context.Context, db *mongo.Database, retention time.Duration, now time.Time) (int64, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	res, err := db.Collection(Events).DeleteMany(ctx, bson.M{"created_at": bson.M{"$lt": now.Add(-retention)}})
	if err != nil {
		return 0, fmt.Errorf("store: retention sweep: %w", err)
	}
	if _, err := NewPages(db).Sweep(ctx, retention, now); err != nil {
		return res.DeletedCount, err
	}
	return res.DeletedCount, nil
}

// InsertEvents writes event documents unordered. A duplicate key is a
// document an earlier attempt (a crash redo, a backfill chunk done twice)
// already wrote, so it counts as success; any other write error fails the
// whole call, and the caller retries it.
func InsertEvents(ctx context.Context, db *mongo.Database, docs []any) error {
	if len(docs) == 0 {
		return nil
	}
	_, err := db.Collection(Events).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil && len(bwe.WriteErrors) > 0 {
		for _, we := range bwe.WriteErrors {
			if we.Code != duplicateKey {
				return fmt.Errorf("store: insert events: %w", err)
			}
		}
		return nil
	}
	return fmt.Errorf("store: insert events: %w", err)
}

// duplicateKey is MongoDB's (and FerretDB's) E11000 code.
const duplicateKey = 11000
