// Package bus names the NATS subjects and streams Mongotron's services talk
// over, and defines the control messages on them. Events themselves travel
// as the JSON of event.Event.
package bus

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Subjects and streams.
const (
	// EventsPrefix starts the subject of every subscription's events:
	// mongotron.events.<subscription id>.
	EventsPrefix = "mongotron.events."
	// EventsStream is the JetStream stream capturing EventsPrefix+">".
	// The ingest publishes through it with Nats-Msg-Id set to
	// [MsgID], so a re-published event after a crash is dropped as a
	// duplicate; edges read the same messages as plain subscribers.
	EventsStream = "MONGOTRON_EVENTS"
	// SubscriptionsSubject carries [SubscriptionChange] messages from
	// the edges to the ingests and the other edges.
	SubscriptionsSubject = "mongotron.control.subscriptions"
	// KeysSubject carries [KeyChange] messages between edges.
	KeysSubject = "mongotron.control.keys"
	// HeadSubject carries [Head] messages from the leading ingest, for
	// stream heartbeats.
	HeadSubject = "mongotron.control.head"
)

// PrevCursorHeader names, on an event message, the cursor of the
// subscription's event just before it: no event of the subscription has a
// cursor between the two. It is the event's own prev_cursor
// (event.Event.PrevCursor), which the ingest sets on every event: the
// message of a subscription's first event has no header. Readers take the
// link from the event's JSON and fall back to the header for events
// published before the field existed. An edge replaying from the events
// stream follows these links and trusts the stream only as far as the
// chain is unbroken; past a break it reads MongoDB.
const PrevCursorHeader = "Mongotron-Prev-Cursor"

// Defaults of the events stream.
const (
	// DefaultEventsMaxAge is how long JetStream keeps events: a short
	// window, since MongoDB is the history.
	DefaultEventsMaxAge = time.Hour
	// DefaultEventsDuplicateWindow is JetStream's de-duplication window;
	// it must outlast a crash and restart of the ingest.
	DefaultEventsDuplicateWindow = 10 * time.Minute
)

// EventsStreamConfig is the configuration of [EventsStream]; maxAge zero
// means [DefaultEventsMaxAge], replicas zero means 1.
func EventsStreamConfig(maxAge time.Duration, replicas int) jetstream.StreamConfig {
	if maxAge <= 0 {
		maxAge = DefaultEventsMaxAge
	}
	return jetstream.StreamConfig{
		Name:       EventsStream,
		Subjects:   []string{EventsPrefix + ">"},
		MaxAge:     maxAge,
		Duplicates: min(DefaultEventsDuplicateWindow, maxAge),
		Storage:    jetstream.FileStorage,
		// No AllowDirect: a direct get may be served by a replica that
		// lags, and an edge asking for a subscription's newest event
		// after a reconnect must see every message acknowledged so far.
		Replicas: max(replicas, 1),
	}
}

// EventsSubject returns the subject of a subscription's events.
func EventsSubject(subscriptionID string) string { return EventsPrefix + subscriptionID }

// SubscriptionFromSubject returns the subscription id of an events subject,
// or "" when subject is not one.
func SubscriptionFromSubject(subject string) string {
	id, ok := strings.CutPrefix(subject, EventsPrefix)
	if !ok || strings.ContainsAny(id, ".*> ") {
		return ""
	}
	return id
}

// MsgID is the JetStream de-duplication id of an event published to a
// subscription. The block id is part of it: a transaction retracted by a
// reorg and included again in another block is a new delivery, not a
// duplicate; and the same chain event retracted (removed) is a different
// message from its delivery.
func MsgID(subscriptionID, eventID, blockID string, removed bool) string {
	id := subscriptionID + "|" + eventID + "|" + blockID
	if removed {
		return id + "|removed"
	}
	return id
}

// Operations of a [SubscriptionChange].
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
	// OpAddresses says the address set changed; receivers reload the
	// added and removed addresses listed, or all of them when both
	// lists are empty.
	OpAddresses = "addresses"
)

// SubscriptionChange tells the ingests and edges that a subscription
// changed in MongoDB. Version is the subscription document's version after
// the change: a receiver ignores a message whose version is not above the
// one it holds, so a late or repeated message never undoes a newer change.
// The message carries no filter: receivers read the document from MongoDB,
// the source of truth, except for address deltas, which are carried so an
// ingest holding 100,000 addresses applies a small change without reloading.
type SubscriptionChange struct {
	Op             string   `json:"op"`
	SubscriptionID string   `json:"subscription_id"`
	Tenant         string   `json:"tenant"`
	Version        int64    `json:"version"`
	Added          []string `json:"added,omitempty"`
	Removed        []string `json:"removed,omitempty"`
}

// Operations of a [KeyChange].
const (
	OpRevoke = "revoke"
)

// KeyChange tells every edge that an API key stopped working, so its open
// streams close with 1008 at once rather than at the next auth check.
type KeyChange struct {
	Op     string `json:"op"`
	KeyID  string `json:"key_id"`
	Tenant string `json:"tenant"`
}

// Head is the chain head as the leading ingest sees it.
type Head struct {
	Block     int64 `json:"head_block"`
	Committed int64 `json:"committed_block"`
	// Solidified is the node's solidified (irreversible) block, 0 when not
	// known yet.
	Solidified int64     `json:"solidified_block"`
	Time       time.Time `json:"time"`
}
