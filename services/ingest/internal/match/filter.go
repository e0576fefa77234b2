package match

import (
	"fmt"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
)

// dirFilter is a parsed direction filter.
type dirFilter uint8

const (
	dirAny dirFilter = iota
	dirIn
	dirOut
)

// allows reports whether a match of the given direction passes the filter.
// A self transfer is both incoming and outgoing for the watched address, so
// it passes in and out alike; a vote target (none) passes only any.
func (d dirFilter) allows(dir event.Direction) bool {
	switch d {
	case dirIn:
		return dir == event.DirectionIn || dir == event.DirectionSelf
	case dirOut:
		return dir == event.DirectionOut || dir == event.DirectionSelf
	default:
		return true
	}
}

// kindTable maps each known kind to its bit in a filter's kind mask. It is
// built once per Index from [event.Kinds], so a kind added to pkg/event is
// picked up without touching this package.
type kindTable map[event.Kind]uint8

func newKindTable() kindTable {
	kt := make(kindTable, len(event.Kinds()))
	for i, k := range event.Kinds() {
		if i >= 64 {
			// A mask of 64 bits is plenty for the 16 kinds of docs/api.md; should
			// the list ever outgrow it, later kinds simply cannot be
			// filtered on and Upsert says so.
			break
		}
		kt[k] = uint8(i)
	}
	return kt
}

// bit returns the mask bit of k and its position, or ok false for a kind
// this version does not know.
func (kt kindTable) bit(k event.Kind) (pos uint8, ok bool) {
	pos, ok = kt[k]
	return pos, ok
}

// flagSet is a set of event flags, one bit per flag at its position in
// [event.Flags].
type flagSet uint32

// flagOrder is [event.Flags], read once: a flag added to pkg/event is
// picked up without touching this package.
var flagOrder = event.Flags()

// flagLookalike is the bit of [event.FlagLookalike].
var flagLookalike, _ = flagBit(event.FlagLookalike)

// flagBit returns the bit of f, or ok false for a flag this version does
// not know (or past the 32 a flagSet holds).
func flagBit(f event.Flag) (flagSet, bool) {
	for i, x := range flagOrder {
		if x == f && i < 32 {
			return 1 << i, true
		}
	}
	return 0, false
}

// flagsOf returns the set of the flags e carries; unknown ones are left
// out.
func flagsOf(e *event.Event) flagSet {
	var fs flagSet
	for _, f := range e.Flags {
		b, _ := flagBit(f)
		fs |= b
	}
	return fs
}

// mask returns the mask of the given kinds, for the kind tests of the hot
// path.
func (kt kindTable) mask(kinds ...event.Kind) uint64 {
	var m uint64
	for _, k := range kinds {
		if pos, ok := kt.bit(k); ok {
			m |= 1 << pos
		}
	}
	return m
}

// tokenKinds are the kinds only_verified applies to: those that move or
// approve a token other than TRX.
var tokenKinds = []event.Kind{event.KindTRC20Transfer, event.KindTRC20Approval, event.KindTRC10Transfer, event.KindTRC10InternalTransfer}

// filter is the parsed form of a subscription's filters, everything but its
// address set. Parsing once at Upsert keeps Match free of string work.
type filter struct {
	// contracts are the distinct contracts, in the stored order; contractSet
	// is their set, nil when there are none.
	contracts   []tron.Address
	contractSet map[tron.Address]struct{}
	// kinds is a bit mask over kindTable positions; 0 means any kind.
	// kindPos lists the positions set, for the kind index.
	kinds   uint64
	kindPos []uint8

	dir         dirFilter
	min, max    tron.Amount // IsZero when not set
	onlySuccess bool
	all         bool

	// excludeFlags drops events carrying any of these flags; onlyVerified
	// drops events of tokenKinds whose token is not verified.
	excludeFlags flagSet
	onlyVerified bool

	confirmations int
	solidified    bool
}

// parseFilter validates and parses the stored filters of sub.
func parseFilter(sub *subscription.Subscription, kt kindTable) (filter, error) {
	var f filter
	if sub == nil {
		return f, fmt.Errorf("%w: nil subscription", ErrInvalidSubscription)
	}
	if sub.ID == "" {
		return f, fmt.Errorf("%w: empty id", ErrInvalidSubscription)
	}
	for _, s := range sub.Contracts {
		a, err := tron.ParseAddress(s)
		if err != nil {
			return f, fmt.Errorf("%w: %s: contract: %w", ErrInvalidSubscription, sub.ID, err)
		}
		if f.contractSet == nil {
			f.contractSet = make(map[tron.Address]struct{}, len(sub.Contracts))
		}
		if _, dup := f.contractSet[a]; dup {
			continue
		}
		f.contractSet[a] = struct{}{}
		f.contracts = append(f.contracts, a)
	}
	for _, s := range sub.Kinds {
		k := event.Kind(s)
		pos, ok := kt.bit(k)
		if !ok {
			return f, fmt.Errorf("%w: %s: unknown kind %q", ErrInvalidSubscription, sub.ID, s)
		}
		if f.kinds&(1<<pos) != 0 {
			continue
		}
		f.kinds |= 1 << pos
		f.kindPos = append(f.kindPos, pos)
	}
	switch sub.Direction {
	case "", subscription.DirectionAny:
		f.dir = dirAny
	case subscription.DirectionIn:
		f.dir = dirIn
	case subscription.DirectionOut:
		f.dir = dirOut
	default:
		return f, fmt.Errorf("%w: %s: direction %q, want in, out or any", ErrInvalidSubscription, sub.ID, sub.Direction)
	}
	var err error
	if sub.MinAmount != nil {
		if f.min, err = tron.ParseAmount(*sub.MinAmount); err != nil {
			return f, fmt.Errorf("%w: %s: min_amount: %w", ErrInvalidSubscription, sub.ID, err)
		}
	}
	if sub.MaxAmount != nil {
		if f.max, err = tron.ParseAmount(*sub.MaxAmount); err != nil {
			return f, fmt.Errorf("%w: %s: max_amount: %w", ErrInvalidSubscription, sub.ID, err)
		}
	}
	if !f.min.IsZero() && !f.max.IsZero() && f.min.Cmp(f.max) > 0 {
		return f, fmt.Errorf("%w: %s: min_amount %s above max_amount %s", ErrInvalidSubscription, sub.ID, f.min, f.max)
	}
	if sub.Confirmations < 0 || sub.Confirmations > subscription.MaxConfirmations {
		return f, fmt.Errorf("%w: %s: confirmations %d, want 0..%d", ErrInvalidSubscription, sub.ID, sub.Confirmations, subscription.MaxConfirmations)
	}
	switch sub.Finality {
	case "", subscription.FinalityConfirmations: // "" in documents older than finality
	case subscription.FinalitySolidified:
		f.solidified = true
	default:
		return f, fmt.Errorf("%w: %s: finality %q, want %s or %s", ErrInvalidSubscription, sub.ID, sub.Finality,
			subscription.FinalityConfirmations, subscription.FinalitySolidified)
	}
	for _, s := range sub.ExcludeFlags {
		b, ok := flagBit(event.Flag(s))
		if !ok {
			return f, fmt.Errorf("%w: %s: exclude_flags: unknown flag %q", ErrInvalidSubscription, sub.ID, s)
		}
		f.excludeFlags |= b
	}
	f.onlyVerified = sub.OnlyVerified
	f.onlySuccess = sub.OnlySuccess
	f.all = sub.All
	f.confirmations = sub.Confirmations
	return f, nil
}

// accepts applies the filters that depend on the event alone, not on which
// of its parties is watched: success, kind, contract and amount bounds.
// kindPos/kindOK are the event kind's position in the kind table.
func (f *filter) accepts(e *event.Event, kindPos uint8, kindOK bool) bool {
	if f.onlySuccess && !e.Success {
		return false
	}
	if f.kinds != 0 && (!kindOK || f.kinds&(1<<kindPos) == 0) {
		return false
	}
	if f.contractSet != nil {
		if _, ok := f.contractSet[e.Contract]; !ok || e.Contract.IsZero() {
			return false
		}
	}
	if !f.min.IsZero() && (e.Amount.IsZero() || e.Amount.Cmp(f.min) < 0) {
		return false
	}
	if !f.max.IsZero() && (e.Amount.IsZero() || e.Amount.Cmp(f.max) > 0) {
		return false
	}
	return true
}

// keeps applies the filters of an event's flags and token, once the
// subscription is otherwise matched: only_verified, then exclude_flags
// for the flags the decoder set. The lookalike flag, which depends on the
// subscription's address set, is the caller's.
func (f *filter) keeps(ev *evalState) bool {
	if f.onlyVerified && ev.token && (ev.e.Token == nil || !ev.e.Token.Verified) {
		return false
	}
	return f.excludeFlags == 0 || f.excludeFlags&ev.flags() == 0
}
