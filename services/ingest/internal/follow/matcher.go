package follow

import (
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Match is one subscription an event matched.
type Match struct {
	SubscriptionID string
	// Confirmations is the subscription's level: the event goes out once
	// its block has that many blocks on top.
	Confirmations int
	Watched       tron.Address
	Direction     event.Direction
	// Solidified says the subscription's finality is solidified: the
	// event goes out once the node reports its block solidified, and
	// Confirmations is ignored.
	Solidified bool
	// Lookalike says the event's counterparty looks like one of the
	// subscription's watched addresses (event.FlagLookalike).
	Lookalike bool
}

// Matcher finds the subscriptions an event matches. It is safe for
// concurrent use. Subscriptions that are backfilling are left out: their
// live events are held until the backfill hands over.
type Matcher interface {
	// Match calls fn for each subscription e matches.
	Match(e *event.Event, fn func(Match))
	// Generation changes whenever the subscription set or a filter
	// changes, so the follower knows when its cached matches are stale.
	Generation() uint64
}
