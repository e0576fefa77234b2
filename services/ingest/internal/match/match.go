// Package match decides which subscriptions an event goes to. The ingest
// keeps every active subscription in an [Index] and asks it, for each
// decoded event, for the subscriptions to publish a copy to and the fields
// of that copy (watched address, direction, confirmations, finality and
// the lookalike flag).
//
// # Matching rules
//
// A subscription's filters are its address set, contracts, kinds,
// direction, min_amount, max_amount, only_success, all, exclude_flags and
// only_verified. An event matches a subscription when every filter the
// subscription sets accepts it:
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
//     amounts, only_success and the flag filters). Filters that are set
//     still apply when all is true. With all false, a subscription whose
//     addresses, contracts and kinds are all empty matches nothing.
//   - exclude_flags drops an event that carries any of the flags listed
//     ([event.Flag]): one the decoder set on the event, or lookalike when
//     the match for this subscription has it (see below).
//   - only_verified drops events of the token kinds (trc20_transfer,
//     trc20_approval, trc10_transfer and trc10_internal_transfer) whose
//     token is unknown or not verified ([event.Token.Verified]). The TRX
//     kinds and the kinds without a token always pass.
//
// A subscription that matches without an address (its address set is
// empty: contracts, kinds or all only) leaves watched empty and sets
// direction "none"; its direction filter is ignored. The address filter
// applies while the set is non-empty: a subscription whose last address is
// removed falls back to its other filters, exactly as if it had been
// created without addresses.
//
// Each subscription matches an event at most once, whatever number of its
// parties it watches. The parties are tried to first, then from, then the
// vote targets: a direction miss leaves the subscription open for the next
// party, every other outcome decides it. That includes a drop by
// exclude_flags or only_verified, which apply once the rest has matched:
// trying another party could not change it, since the event's flags and
// token are the same whichever party matched, and lookalike is only set
// when the other party is not in the set.
//
// Status is not a filter: a backfilling subscription matches live events
// like an active one, and a tombstone (status deleted) handed to Upsert or
// SetFilter removes the subscription.
//
// Finality is not a filter either. A subscription whose finality is
// "solidified" has [Match.Solidified]: the follower holds the event until
// its block is solidified and ignores the confirmations, which Match still
// reports as stored. "confirmations", or no finality (documents stored
// before it existed), leaves it false. Any other finality, and any unknown
// flag in exclude_flags, makes Upsert and SetFilter fail with
// [ErrInvalidSubscription].
//
// # Lookalike addresses
//
// Address poisoning sends a victim small or zero transfers from an address
// ground to share the first and last characters of one the victim uses,
// hoping it gets copied from the history. The lookalike key of an address
// is its first four and last four base58check characters. For a transfer
// ([event.Kind.IsTransfer]) matched through an address, the counterparty is
// the other party: the from when the watched address is the to, the to
// when it is the from, none for a self transfer. The match has
// [Match.Lookalike] when the counterparty is not in the subscription's
// address set but shares its key with an address that is, any of them,
// not only the one matched. It is per subscription: a transfer may look
// like one subscription's address and not another's, and subscriptions
// matched without addresses never have it.
//
// # Cost
//
// Matching an event costs one address-table lookup per party, a map lookup
// for its contract, plus the subscriptions found, whatever the number of
// subscriptions held. Subscriptions with addresses are found through the
// address table only; those without are on one list: by contract, else by
// kind, else (all) the list visited for every event. A transfer matched
// through an address also costs the lookalike key of its counterparty,
// worked out at most once per party and event and only then: a
// base58check encoding without the string, whose two SHA-256 make most of
// its 0.25 µs (BenchmarkKeyOf), then one lookalike-table lookup per
// subscription matched, and an address-table lookup when that hits. The
// flag filters cost a few comparisons. An event that touches no watched
// address pays nothing for lookalikes. BenchmarkMatchBlock (100,000
// addresses over four subscriptions, 512 transfers a quarter of which
// touch them) went from about 140 to 195 ns an event with lookalikes (the
// best of 32 alternating runs on a busy 2-core machine).
//
// Adding or removing addresses costs O(1) each under the write lock, two
// table updates (address and lookalike), plus their lookalike keys, worked
// out before the lock is taken; deleting a subscription or replacing its
// address set is O(1) plus an amortised sweep of both tables. Upsert holds
// the write lock while it inserts the whole set, which pauses matching
// that long (BenchmarkUpsert100k, 100,000 addresses: about 15 ms on an
// idle core before lookalikes; the lookalike table makes it about 1.7
// times that, and the keys add some 25 ms of CPU before the lock, spread
// over the cores); the ingest should prefer [Index.AddAddresses] batches
// for live growth. The lookalike table adds about 19 bytes per watched
// address to the 35 of the address table.
package match

import (
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Match is one subscription an event matches, with the fields to set on the
// event's copy for that subscription.
type Match struct {
	SubscriptionID string
	// Confirmations is the subscription's confirmation level, 0..19, as
	// stored, even when Solidified makes the follower ignore it.
	Confirmations int
	// Watched is the party that matched; zero for a subscription matched
	// without addresses.
	Watched tron.Address
	// Direction is in, out, self or none (see the package doc).
	Direction event.Direction
	// Solidified is true when the subscription's finality is solidified:
	// the event goes out once its block is, whatever Confirmations says.
	Solidified bool
	// Lookalike is true when the event's counterparty looks like one of
	// the subscription's watched addresses without being one (see the
	// package doc): the copy for this subscription carries
	// [event.FlagLookalike].
	Lookalike bool
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

// evalState is what the subscriptions an event is matched against share:
// the event's kind, the slots already decided, and the parts that cost
// something, each computed once and only when a subscription needs it.
type evalState struct {
	e               *event.Event
	kindPos         uint8
	kindOK          bool
	transfer, token bool // e.Kind.IsTransfer; e.Kind is one of tokenKinds
	seen            seenSet
	haveFlags       bool
	flagSet         flagSet
	haveKey         [2]bool    // by side: 0 from, 1 to
	key             [2]lookKey // lookalike keys of from and to
}

// flags returns the set of the flags the decoder set on the event.
func (ev *evalState) flags() flagSet {
	if !ev.haveFlags {
		ev.flagSet, ev.haveFlags = flagsOf(ev.e), true
	}
	return ev.flagSet
}

// partyKey returns the lookalike key of a, the event's from (side 0) or
// to (side 1), working it out on first use.
func (ev *evalState) partyKey(side int, a *tron.Address) lookKey {
	if !ev.haveKey[side] {
		ev.key[side], ev.haveKey[side] = keyOf(a), true
	}
	return ev.key[side]
}

// match does the work of Match under the read lock.
func (ix *Index) match(e *event.Event, fn func(Match)) {
	ev := evalState{e: e}
	ev.kindPos, ev.kindOK = ix.kinds.bit(e.Kind)
	if ev.kindOK {
		ev.transfer = ix.transferMask&(1<<ev.kindPos) != 0
		ev.token = ix.tokenMask&(1<<ev.kindPos) != 0
	}

	// Address matches. To comes first so that, with direction any, an
	// event between two watched addresses reports the incoming side.
	if !e.To.IsZero() {
		ix.matchParty(&ev, e.To, fn)
	}
	if !e.From.IsZero() && e.From != e.To {
		ix.matchParty(&ev, e.From, fn)
	}
	if e.Data != nil {
		for _, v := range e.Data.Votes {
			if !v.Address.IsZero() {
				ix.matchParty(&ev, v.Address, fn)
			}
		}
	}

	// Subscriptions without addresses sit on exactly one of these lists,
	// and never in the address table, so no deduplication is needed.
	if !e.Contract.IsZero() {
		if l := ix.byContract[e.Contract]; len(l) > 0 {
			ix.matchBroad(&ev, l, fn)
		}
	}
	if ev.kindOK {
		ix.matchBroad(&ev, ix.byKind[ev.kindPos], fn)
	}
	ix.matchBroad(&ev, ix.everything, fn)
}

// matchParty matches the subscriptions watching party p.
func (ix *Index) matchParty(ev *evalState, p tron.Address, fn func(Match)) {
	one, many, ok := ix.addrs.lookup(p)
	if !ok {
		return
	}
	dir := event.DirectionNone
	switch e := ev.e; {
	case p == e.To && p == e.From:
		dir = event.DirectionSelf
	case p == e.To:
		dir = event.DirectionIn
	case p == e.From:
		dir = event.DirectionOut
	}
	if many == nil {
		ix.matchSlot(ev, one, p, dir, fn)
		return
	}
	for _, slot := range many {
		ix.matchSlot(ev, slot, p, dir, fn)
	}
}

// matchSlot decides one subscription found through party p. A
// subscription is marked seen once it matched, failed a filter that does
// not depend on the party, or was dropped by a flag filter; a direction
// miss leaves it open for the next party.
//
// A flag drop decides, because trying the next party could not change it:
// the event's flags and token are the same whichever party matched, and
// the lookalike flag is set only when the counterparty is not in the
// subscription's set, so no other party of that transfer could match it.
// Leaving it open would only cost a second evaluation, or, were the rules
// to change, deliver an event the subscription asked to exclude.
func (ix *Index) matchSlot(ev *evalState, slot int32, p tron.Address, dir event.Direction, fn func(Match)) {
	s := ix.subs[slot]
	if s == nil || ev.seen.has(slot) {
		return // dead, awaiting a sweep; or decided by an earlier party
	}
	if !s.f.accepts(ev.e, ev.kindPos, ev.kindOK) {
		ev.seen.add(slot)
		return
	}
	if !s.f.dir.allows(dir) {
		return
	}
	ev.seen.add(slot)
	if !s.f.keeps(ev) {
		return
	}
	look := ix.lookalike(ev, slot, dir)
	if look && s.f.excludeFlags&flagLookalike != 0 {
		return
	}
	fn(Match{SubscriptionID: s.id, Confirmations: s.f.confirmations, Watched: p, Direction: dir,
		Solidified: s.f.solidified, Lookalike: look})
}

// lookalike reports whether the counterparty of a transfer that slot
// matched with direction dir shares its lookalike key with an address slot
// watches without being watched by slot itself. The key costs a base58check
// encoding, once per side per event, and only for a transfer some
// subscription matched through an address.
func (ix *Index) lookalike(ev *evalState, slot int32, dir event.Direction) bool {
	if !ev.transfer {
		return false
	}
	var side int
	var c tron.Address
	switch dir {
	case event.DirectionIn:
		side, c = 0, ev.e.From
	case event.DirectionOut:
		side, c = 1, ev.e.To
	default:
		return false // self, or a vote target: no counterparty
	}
	if c.IsZero() {
		return false
	}
	return ix.look.has(ev.partyKey(side, &c), slot) && !ix.addrs.has(c, slot)
}

// matchBroad matches the subscriptions of a secondary list. They have no
// address set, so never a lookalike.
func (ix *Index) matchBroad(ev *evalState, l []int32, fn func(Match)) {
	for _, slot := range l {
		s := ix.subs[slot]
		if s != nil && s.f.accepts(ev.e, ev.kindPos, ev.kindOK) && s.f.keeps(ev) {
			fn(Match{SubscriptionID: s.id, Confirmations: s.f.confirmations, Direction: event.DirectionNone,
				Solidified: s.f.solidified})
		}
	}
}
