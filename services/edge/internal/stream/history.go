package stream

import "context"

// Record is one stored event of a subscription: its cursor and the event
// JSON exactly as it was published.
type Record struct {
	Cursor string `bson:"cursor"`
	JSON   []byte `bson:"json"`
}

// History is where replayed events come from: the JetStream events stream
// as far as it can vouch for them, then MongoDB.
type History interface {
	// Scan calls fn with the events of subscriptionID whose cursor is
	// above after ("" = from the oldest), in cursor order, batch at a time,
	// until they are exhausted or fn fails. On MongoDB it is one query
	// however long the replay: MongoDB walks its (subscription_id, cursor)
	// index once, and FerretDB, which sorts in memory, sorts once rather
	// than once per page.
	Scan(ctx context.Context, subscriptionID, after string, batch int, fn func([]Record) error) error
	// Retained reports whether after is still within retention: whether
	// an event of subscriptionID with a cursor at or below after is
	// still stored.
	Retained(ctx context.Context, subscriptionID, after string) (bool, error)
	// Newest returns the cursor of the newest event of subscriptionID
	// that was published, or stored to be published, "" when there is
	// none. An events stream that holds one at or above atLeast answers
	// alone: what MongoDB holds beyond it is still on its way to the
	// live subscription. Otherwise MongoDB answers.
	Newest(ctx context.Context, subscriptionID, atLeast string) (string, error)
}
