// Package match decides which subscriptions an event goes to. The ingest
// keeps every active subscription in an [Index] and asks it, for each
// decoded event, for the subscriptions to publish a copy to and the fields
// of that copy (watched address, direction, confirmations).
//
// # Matching rules
//
// A subscription's filters are its address set, contracts, kinds,
// direction, min_amount, max_amount, only_success and all. An event
// matches a subscription when every filter the subscription sets accepts
// it:
//
//   - Addresses. The parties of an event are its from, its to and its vote
//     targets ([event.Event.Parties]); the contract is not a party. A
//     subscription with a non-empty address set matches when a party is in
//     the set. The matched party is the event's watched address, and the
//     direction says how it took part: "in" when it is the to (and from
//     differs), "out" when it is the from, "self" when from and to are both
//     that address, "none" for a vote target.
//   - Direction (in, out or any; empty means any) applies to address
//     matches only: with in, only a match where the watched address is the
//     to counts; with out, only the from. A self transfer counts for both;
//     a vote target counts only for any. When both from and to are watched
//     (and differ), in reports the to, out the from, and any prefers the
//     to: direction "in".
//   - Contracts. The event's contract must be one of them. A subscription
//     with both addresses and contracts needs both to match (USDT
//     transfers touching my addresses).
//   - Kinds. The event's kind must be one of them; an unknown kind never
//     is.
//   - min_amount and max_amount are inclusive bounds compared as exact
//     integers of up to 256 bits. An event without an amount fails any
//     bound.
//   - only_success drops events with success false.
//   - all lets a subscription leave addresses, contracts and kinds all
//     empty and then match the whole chain (still subject to direction,
//     amounts and only_success). Filters that are set still apply when all
//     is true. With all false, a subscription whose addresses, contracts
//     and kinds are all empty matches nothing.
//
// A subscription that matches without an address (its address set is
// empty: contracts, kinds or all only) leaves watched empty and sets
// direction "none"; its direction filter is ignored. The address filter
// applies while the set is non-empty: a subscription whose last address is
// removed falls back to its other filters, exactly as if it had been
// created without addresses.
//
// Each subscription matches an event at most once, whatever number of its
// parties it watches.
//
// Status is not a filter: a backfilling subscription matches live events
// like an active one, and a tombstone (status deleted) handed to Upsert or
// SetFilter removes the subscription.
//
// # Cost
//
// Matching an event costs one address-table lookup per party, a map lookup
// for its contract, plus the subscriptions found, whatever the number of
// subscriptions held. Subscriptions with addresses are found through the
// address table only; those without are on one list: by contract, else by
// kind, else (all) the list visited for every event. Adding or removing
// addresses costs O(1) each; deleting a subscription or replacing its
// address set is O(1) plus an amortised sweep. Upsert holds the write lock
// while it inserts the whole set (BenchmarkUpsert100k: about 15 ms for
// 100,000 addresses on an idle core), which pauses matching that long; the
// ingest should prefer [Index.AddAddresses] batches for live growth.
package match

import (
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Match is one subscription an event matches, with the fields to set on the
// event's copy for that subscription.
type Match struct {
	SubscriptionID string
	// Confirmations is the subscription's confirmation level, 0..19.
	Confirmations int
	// Watched is the party that matched; zero for a subscription matched
	// without addresses.
	Watched tron.Address
	// Direction is in, out, self or none (see the package doc).
	Direction event.Direction
}

// Match calls fn once per subscription e matches, never twice for one
// subscription. fn runs under the index's read lock: it must not call back
// into the index and should only record the match (an update waiting for
// the lock would otherwise deadlock with it or stall every matcher).
func (ix *Index) Match(e *event.Event, fn func(Match)) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ix.match(e, fn)
}

// AppendMatches appends the matches of e to dst and returns it, for
// callers that would rather not hold the read lock while they use them.
func (ix *Index) AppendMatches(dst []Match, e *event.Event) []Match {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ix.match(e, func(m Match) { dst = append(dst, m) })
	return dst
}

// match does the work of Match under the read lock.
func (ix *Index) match(e *event.Event, fn func(Match)) {
	kindPos, kindOK := ix.kinds.bit(e.Kind)
	var seen seenSet

	// Address matches. To comes first so that, with direction any, an
	// event between two watched addresses reports the incoming side.
	if !e.To.IsZero() {
		ix.matchParty(e, e.To, kindPos, kindOK, &seen, fn)
	}
	if !e.From.IsZero() && e.From != e.To {
		ix.matchParty(e, e.From, kindPos, kindOK, &seen, fn)
	}
	if e.Data != nil {
		for _, v := range e.Data.Votes {
			if !v.Address.IsZero() {
				ix.matchParty(e, v.Address, kindPos, kindOK, &seen, fn)
			}
		}
	}

	// Subscriptions without addresses sit on exactly one of these lists,
	// and never in the address table, so no deduplication is needed.
	if !e.Contract.IsZero() {
		if l := ix.byContract[e.Contract]; len(l) > 0 {
			ix.matchBroad(e, l, kindPos, kindOK, fn)
		}
	}
	if kindOK {
		ix.matchBroad(e, ix.byKind[kindPos], kindPos, kindOK, fn)
	}
	ix.matchBroad(e, ix.everything, kindPos, kindOK, fn)
}

// matchParty matches the subscriptions watching party p.
func (ix *Index) matchParty(e *event.Event, p tron.Address, kindPos uint8, kindOK bool, seen *seenSet, fn func(Match)) {
	one, many, ok := ix.addrs.lookup(p)
	if !ok {
		return
	}
	dir := event.DirectionNone
	switch {
	case p == e.To && p == e.From:
		dir = event.DirectionSelf
	case p == e.To:
		dir = event.DirectionIn
	case p == e.From:
		dir = event.DirectionOut
	}
	if many == nil {
		ix.matchSlot(e, one, p, dir, kindPos, kindOK, seen, fn)
		return
	}
	for _, slot := range many {
		ix.matchSlot(e, slot, p, dir, kindPos, kindOK, seen, fn)
	}
}

// matchSlot decides one subscription found through party p. A
// subscription is marked seen once it matched or failed a filter that does
// not depend on the party; a direction miss leaves it open for the next
// party.
func (ix *Index) matchSlot(e *event.Event, slot int32, p tron.Address, dir event.Direction, kindPos uint8, kindOK bool, seen *seenSet, fn func(Match)) {
	s := ix.subs[slot]
	if s == nil || seen.has(slot) {
		return // dead, awaiting a sweep; or decided by an earlier party
	}
	if !s.f.accepts(e, kindPos, kindOK) {
		seen.add(slot)
		return
	}
	if !s.f.dir.allows(dir) {
		return
	}
	seen.add(slot)
	fn(Match{SubscriptionID: s.id, Confirmations: s.f.confirmations, Watched: p, Direction: dir})
}

// matchBroad matches the subscriptions of a secondary list.
func (ix *Index) matchBroad(e *event.Event, l []int32, kindPos uint8, kindOK bool, fn func(Match)) {
	for _, slot := range l {
		s := ix.subs[slot]
		if s != nil && s.f.accepts(e, kindPos, kindOK) {
			fn(Match{SubscriptionID: s.id, Confirmations: s.f.confirmations, Direction: event.DirectionNone})
		}
	}
}
