package match

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
)

// ErrInvalidSubscription is wrapped by the errors of [Index.Upsert] and
// [Index.SetFilter] for a subscription whose stored fields are malformed.
var ErrInvalidSubscription = errors.New("match: invalid subscription")

// ErrUnknownSubscription is wrapped by the error of [Index.SetFilter] for a
// subscription the index does not hold.
var ErrUnknownSubscription = errors.New("match: unknown subscription")

// defaultSweepMin is the least number of dead (subscription, address) pairs
// that triggers a sweep; below it the garbage is too small to be worth a
// pass over the whole address table.
const defaultSweepMin = 4096

// subState is one subscription held by the index.
type subState struct {
	id    string
	slot  int32
	f     filter
	count int // addresses in its set
	// listed is the secondary list the subscription is on, if any.
	listed placement
}

// placement says which secondary list holds a subscription. A
// subscription with addresses is found through the address table and is on
// no list; one without is on exactly one list, so the lists never yield a
// subscription twice.
type placement uint8

const (
	placeNone      placement = iota // address table, or matches nothing
	placeContracts                  // byContract, under each of its contracts
	placeKinds                      // byKind, under each of its kinds
	placeAll                        // everything
)

// Index finds the subscriptions an event matches. It is safe for
// concurrent use: [Index.Match] takes a read lock, updates take the write
// lock for the time of their own work only (never a rebuild).
//
// Subscription ids are interned to small integer slots; the address table
// (a sharded open-addressing table, see flatTable) maps each watched address
// to the slot, or the few slots, watching it, in about 35 bytes per watched
// address at a million, and the lookalike table (lookTable) maps the
// lookalike key of each watched address to the same slots, in about 19
// more. Deleting a subscription or replacing its address set does not look
// for its addresses: the slot is marked dead, Match skips it, and a sweep of
// both tables reclaims dead entries once they reach half the live ones, so
// deletions cost O(1) each, amortised.
type Index struct {
	// Immutable after New: the kind table, and the masks of the transfer
	// kinds (lookalike) and of tokenKinds (only_verified).
	kinds        kindTable
	transferMask uint64
	tokenMask    uint64

	mu         sync.RWMutex
	ids        map[string]int32
	subs       []*subState // by slot; nil when free or dead
	free       []int32     // slots ready for reuse
	dead       []int32     // slots whose address entries await a sweep
	deadPairs  int
	pairs      int
	addrs      addrTable
	look       lookTable
	byContract map[tron.Address][]int32
	byKind     [64][]int32
	everything []int32
	sweepMin   int
}

// New returns an empty index.
func New() *Index {
	ix := &Index{
		kinds:      newKindTable(),
		ids:        make(map[string]int32),
		addrs:      newAddrTable(),
		look:       newLookTable(),
		byContract: make(map[tron.Address][]int32),
		sweepMin:   defaultSweepMin,
	}
	for _, k := range event.Kinds() {
		if k.IsTransfer() {
			ix.transferMask |= ix.kinds.mask(k)
		}
	}
	ix.tokenMask = ix.kinds.mask(tokenKinds...)
	return ix
}

// Upsert installs or replaces a subscription's filter and its whole address
// set. Duplicate and zero addresses are ignored. It fails, leaving the index
// unchanged, when a stored field is malformed (contract, kind, direction,
// amount, confirmations, finality, exclude_flags). The lookalike keys of
// the addresses are worked out before the write lock is taken, on every
// core for a large set. A subscription whose status is
// [subscription.StatusDeleted] (a tombstone) is removed instead.
func (ix *Index) Upsert(sub *subscription.Subscription, addresses []tron.Address) error {
	if sub != nil && sub.Status == subscription.StatusDeleted {
		ix.Delete(sub.ID) // a tombstone's filters no longer matter
		return nil
	}
	f, err := parseFilter(sub, ix.kinds)
	if err != nil {
		return err
	}
	keys := keysOf(addresses)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if slot, ok := ix.ids[sub.ID]; ok {
		ix.retire(ix.subs[slot])
	}
	s := &subState{id: sub.ID, slot: ix.allocSlot(), f: f}
	ix.subs[s.slot] = s
	ix.ids[s.id] = s.slot
	for i, a := range addresses {
		if !a.IsZero() && ix.addrs.add(a, s.slot) {
			ix.look.add(keys[i], s.slot)
			s.count++
		}
	}
	ix.pairs += s.count
	ix.register(s)
	ix.maybeSweep()
	return nil
}

// SetFilter replaces a subscription's filter, everything but its address
// set, which it keeps. It fails with [ErrUnknownSubscription] for a
// subscription the index does not hold and [ErrInvalidSubscription] for a
// malformed one, leaving the index unchanged. A tombstone removes the
// subscription, known or not, like [Index.Delete].
func (ix *Index) SetFilter(sub *subscription.Subscription) error {
	if sub != nil && sub.Status == subscription.StatusDeleted {
		ix.Delete(sub.ID)
		return nil
	}
	f, err := parseFilter(sub, ix.kinds)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	slot, ok := ix.ids[sub.ID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownSubscription, sub.ID)
	}
	s := ix.subs[slot]
	ix.unregister(s)
	s.f = f
	ix.register(s)
	return nil
}

// AddAddresses adds addresses to a subscription's set, in O(len(addrs)),
// their lookalike keys worked out before the write lock is taken.
// Addresses already in the set, zero addresses and an unknown subscription
// are ignored: the control message that adds them may race with a reload
// that already holds them.
func (ix *Index) AddAddresses(subID string, addrs []tron.Address) {
	keys := keysOf(addrs)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	slot, ok := ix.ids[subID]
	if !ok {
		return
	}
	s := ix.subs[slot]
	ix.unregister(s) // it may be leaving the contract or kind lists
	n := 0
	for i, a := range addrs {
		if !a.IsZero() && ix.addrs.add(a, slot) {
			ix.look.add(keys[i], slot)
			n++
		}
	}
	s.count += n
	ix.pairs += n
	ix.register(s)
}

// RemoveAddresses removes addresses from a subscription's set, in
// O(len(addrs)). Addresses not in the set and an unknown subscription are
// ignored. A subscription whose set becomes empty falls back to its other
// filters (see the package doc).
func (ix *Index) RemoveAddresses(subID string, addrs []tron.Address) {
	keys := keysOf(addrs)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	slot, ok := ix.ids[subID]
	if !ok {
		return
	}
	s := ix.subs[slot]
	ix.unregister(s)
	n := 0
	for i, a := range addrs {
		if ix.addrs.remove(a, slot) {
			ix.look.remove(keys[i], slot)
			n++
		}
	}
	s.count -= n
	ix.pairs -= n
	ix.register(s)
}

// Delete removes a subscription; deleting an unknown one does nothing.
func (ix *Index) Delete(subID string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	slot, ok := ix.ids[subID]
	if !ok {
		return
	}
	ix.retire(ix.subs[slot])
	delete(ix.ids, subID)
	ix.maybeSweep()
}

// Has reports whether the index holds the subscription.
func (ix *Index) Has(subID string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.ids[subID]
	return ok
}

// Len returns the number of subscriptions held.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.ids)
}

// Addresses returns the number of watched (subscription, address) pairs.
func (ix *Index) Addresses() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.pairs
}

// allocSlot returns a free slot, growing the slot table if none is.
func (ix *Index) allocSlot() int32 {
	if n := len(ix.free); n > 0 {
		slot := ix.free[n-1]
		ix.free = ix.free[:n-1]
		return slot
	}
	ix.subs = append(ix.subs, nil)
	return int32(len(ix.subs) - 1)
}

// retire takes s out of matching. Its slot is free at once when it has no
// addresses; otherwise it is dead until a sweep removes its address
// entries, so that no new subscription inherits them.
func (ix *Index) retire(s *subState) {
	ix.unregister(s)
	ix.subs[s.slot] = nil
	if s.count == 0 {
		ix.free = append(ix.free, s.slot)
		return
	}
	ix.dead = append(ix.dead, s.slot)
	ix.deadPairs += s.count
	ix.pairs -= s.count
}

// maybeSweep sweeps when the dead entries reach half the live ones (and
// sweepMin), which bounds both the garbage and the amortised cost of a
// deletion.
func (ix *Index) maybeSweep() {
	if ix.deadPairs == 0 || ix.deadPairs < ix.sweepMin || ix.deadPairs < ix.pairs/2 {
		return
	}
	ix.sweep()
}

// sweep removes the entries of dead slots from the address and lookalike
// tables and frees those slots.
func (ix *Index) sweep() {
	dead := func(slot int32) bool { return ix.subs[slot] == nil }
	ix.addrs.sweep(dead)
	ix.look.sweep(dead)
	ix.free = append(ix.free, ix.dead...)
	ix.dead = nil
	ix.deadPairs = 0
}

// placementOf says which secondary list s belongs on, given its current
// filter and address count.
func placementOf(s *subState) placement {
	switch {
	case s.count > 0:
		return placeNone
	case len(s.f.contracts) > 0:
		return placeContracts
	case s.f.kinds != 0:
		return placeKinds
	case s.f.all:
		return placeAll
	default:
		return placeNone
	}
}

// register puts s on the secondary list its state calls for.
func (ix *Index) register(s *subState) {
	s.listed = placementOf(s)
	switch s.listed {
	case placeContracts:
		for _, c := range s.f.contracts {
			ix.byContract[c] = append(ix.byContract[c], s.slot)
		}
	case placeKinds:
		for _, p := range s.f.kindPos {
			ix.byKind[p] = append(ix.byKind[p], s.slot)
		}
	case placeAll:
		ix.everything = append(ix.everything, s.slot)
	}
}

// unregister takes s off its secondary list, before its filter or address
// count changes.
func (ix *Index) unregister(s *subState) {
	switch s.listed {
	case placeContracts:
		for _, c := range s.f.contracts {
			l := removeSlot(ix.byContract[c], s.slot)
			if len(l) == 0 {
				delete(ix.byContract, c)
			} else {
				ix.byContract[c] = l
			}
		}
	case placeKinds:
		for _, p := range s.f.kindPos {
			ix.byKind[p] = removeSlot(ix.byKind[p], s.slot)
		}
	case placeAll:
		ix.everything = removeSlot(ix.everything, s.slot)
	}
	s.listed = placeNone
}

// removeSlot removes slot from l, keeping the order so that matching order
// stays stable for the rest.
func removeSlot(l []int32, slot int32) []int32 {
	if i := slices.Index(l, slot); i >= 0 {
		return slices.Delete(l, i, i+1)
	}
	return l
}

// seenSet remembers the slots already decided for one event. The first
// few live in an array on the caller's stack; a popular address watched by
// many subscriptions spills into a map so the check stays O(1).
type seenSet struct {
	small [16]int32
	n     int
	big   map[int32]struct{}
}

func (s *seenSet) has(slot int32) bool {
	for _, x := range s.small[:s.n] {
		if x == slot {
			return true
		}
	}
	if s.big != nil {
		_, ok := s.big[slot]
		return ok
	}
	return false
}

func (s *seenSet) add(slot int32) {
	if s.n < len(s.small) {
		s.small[s.n] = slot
		s.n++
		return
	}
	if s.big == nil {
		s.big = make(map[int32]struct{})
	}
	s.big[slot] = struct{}{}
}
