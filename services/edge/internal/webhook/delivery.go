package webhook

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	// PrevCursor is the link the event's JetStream message carried
	// (bus.PrevCursorHeader), kept once the message is settled, for an
	// event whose JSON has no prev_cursor (published before the field
	// existed); see [Delivery.prevCursor].
	PrevCursor string `bson:"prev_cursor,omitempty"`
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

// idRange returns the bounds of a subscription's delivery ids: every
// id made by [DeliveryID] for it is inside (lo, hi), and no other.
func idRange(subID string) (lo, hi string) {
	lo = DeliveryID(subID, "")
	// lo ends in '_'; '`' is the next byte.
	return lo, lo[:len(lo)-1] + "`"
}
