package match

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
)

func ids(ms []Match) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.SubscriptionID)
	}
	return out
}

func TestIndex_Upsert_invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sub  *subscription.Subscription
	}{
		{"nil", nil},
		{"empty id", sub("")},
		{"bad base58 contract", sub("sub_a", func(s *subscription.Subscription) { s.Contracts = []string{"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"} })},
		{"unknown kind", sub("sub_a", func(s *subscription.Subscription) { s.Kinds = []string{"trc721_transfer"} })},
		{"bad direction", sub("sub_a", withDirection("sideways"))},
		{"bad min amount", sub("sub_a", withMin("1.5"))},
		{"negative max amount", sub("sub_a", withMax("-1"))},
		{"min above max", sub("sub_a", withMin("100000000000000000000001"), withMax("100000000000000000000000"))},
		{"confirmations too deep", sub("sub_a", withConfirmations(20))},
		{"negative confirmations", sub("sub_a", withConfirmations(-1))},
		{"unknown finality", sub("sub_a", withFinality("final"))},
		{"finality in capitals", sub("sub_a", withFinality("SOLIDIFIED"))},
		{"unknown exclude flag", sub("sub_a", withExclude(event.FlagZeroAmount, "scam"))},
		{"exclude flag in capitals", sub("sub_a", withExclude("Zero_Amount"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := New()
			require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{alice}))
			err := ix.Upsert(tt.sub, []tron.Address{bob})
			require.ErrorIs(t, err, ErrInvalidSubscription)
			if tt.sub != nil {
				require.ErrorIs(t, ix.SetFilter(tt.sub), ErrInvalidSubscription)
			}
			// The index is unchanged: sub_a still watches alice only.
			require.Equal(t, 1, ix.Len())
			require.Equal(t, 1, ix.Addresses())
			require.Equal(t, []string{"sub_a"}, ids(collect(t, ix, trx(bob, alice))))
			require.Empty(t, collect(t, ix, trx(carol, bob)))
		})
	}
}

func TestIndex_Upsert_replaces(t *testing.T) {
	t.Parallel()
	ix := New()
	require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{alice, bob, alice, {}}))
	require.Equal(t, 2, ix.Addresses(), "duplicates and zero addresses are ignored")

	require.NoError(t, ix.Upsert(sub("sub_a", withDirection("in")), []tron.Address{carol}))
	require.Equal(t, 1, ix.Len())
	require.Equal(t, 1, ix.Addresses())
	require.Empty(t, collect(t, ix, trx(carol, alice)), "old address set is gone")
	require.Empty(t, collect(t, ix, trx(carol, bob)), "new filter applies")
	require.Equal(t, hit(carol, event.DirectionIn), collect(t, ix, trx(bob, carol)))

	// A tombstone removes the subscription.
	tomb := sub("sub_a")
	tomb.Status = subscription.StatusDeleted
	require.NoError(t, ix.Upsert(tomb, []tron.Address{carol}))
	require.Zero(t, ix.Len())
	require.Zero(t, ix.Addresses())
	require.False(t, ix.Has("sub_a"))
	require.Empty(t, collect(t, ix, trx(bob, carol)))

	// A tombstone deletes even with filters that no longer parse.
	require.NoError(t, ix.Upsert(sub("sub_b"), []tron.Address{carol}))
	tomb = sub("sub_b", withKinds("gone_kind"))
	tomb.Status = subscription.StatusDeleted
	require.NoError(t, ix.SetFilter(tomb))
	require.False(t, ix.Has("sub_b"))
	require.NoError(t, ix.SetFilter(tomb), "deleting twice is fine")
}

func TestIndex_SetFilter(t *testing.T) {
	t.Parallel()
	ix := New()
	require.ErrorIs(t, ix.SetFilter(sub("sub_a")), ErrUnknownSubscription)

	require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{alice, bob}))
	require.NoError(t, ix.SetFilter(sub("sub_a", withDirection("out"), withConfirmations(3))))
	require.Equal(t, 2, ix.Addresses(), "addresses are kept")
	require.Empty(t, collect(t, ix, trx(carol, alice)))
	require.Equal(t, []Match{{SubscriptionID: "sub_a", Confirmations: 3, Watched: bob, Direction: event.DirectionOut}},
		collect(t, ix, trx(bob, carol)))

	// Contracts added to an address subscription AND with the addresses.
	require.NoError(t, ix.SetFilter(sub("sub_a", withContracts(usdt))))
	require.Empty(t, collect(t, ix, trc20(usdt, carol, carol, tron.AmountFromUint64(1))))
	require.Equal(t, hit(alice, event.DirectionIn), collect(t, ix, trc20(usdt, carol, alice, tron.AmountFromUint64(1))))

	// A contracts-only subscription moves between contracts.
	require.NoError(t, ix.Upsert(sub("sub_b", withContracts(usdt)), nil))
	require.Equal(t, []string{"sub_b"}, ids(collect(t, ix, trc20(usdt, carol, carol, tron.AmountFromUint64(1)))))
	require.NoError(t, ix.SetFilter(sub("sub_b", withContracts(usdc))))
	require.Empty(t, collect(t, ix, trc20(usdt, carol, carol, tron.AmountFromUint64(1))))
	require.Equal(t, []string{"sub_b"}, ids(collect(t, ix, trc20(usdc, carol, carol, tron.AmountFromUint64(1)))))
	require.NoError(t, ix.SetFilter(sub("sub_b", withKinds(event.KindVote))))
	require.Empty(t, collect(t, ix, trc20(usdc, carol, carol, tron.AmountFromUint64(1))))
	require.Equal(t, []string{"sub_b"}, ids(collect(t, ix, vote(carol, sr1))))
	require.NoError(t, ix.SetFilter(sub("sub_b", withAll)))
	require.Equal(t, []string{"sub_b"}, ids(collect(t, ix, trx(carol, carol))))
	require.NoError(t, ix.SetFilter(sub("sub_b")))
	require.Empty(t, collect(t, ix, trx(carol, carol)))
}

func TestIndex_AddRemoveAddresses(t *testing.T) {
	t.Parallel()
	ix := New()
	require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{alice}))
	require.NoError(t, ix.Upsert(sub("sub_b", withContracts(usdt)), nil))

	ix.AddAddresses("sub_a", []tron.Address{bob, bob, alice})
	require.Equal(t, 2, ix.Addresses(), "re-adding is a no-op")
	require.Equal(t, hit(bob, event.DirectionIn), collect(t, ix, trx(carol, bob)))

	ix.RemoveAddresses("sub_a", []tron.Address{alice, carol})
	require.Equal(t, 1, ix.Addresses())
	require.Empty(t, collect(t, ix, trx(carol, alice)), "removed address stops matching")
	require.Equal(t, hit(bob, event.DirectionIn), collect(t, ix, trx(carol, bob)))

	// The last address gone, an address-only subscription matches nothing.
	ix.RemoveAddresses("sub_a", []tron.Address{bob})
	require.Zero(t, ix.Addresses())
	require.Empty(t, collect(t, ix, trx(carol, bob)))

	// A contracts subscription gaining addresses narrows to them, and
	// widens back when they go.
	e := trc20(usdt, carol, alice, tron.AmountFromUint64(1))
	require.Equal(t, []string{"sub_b"}, ids(collect(t, ix, e)))
	ix.AddAddresses("sub_b", []tron.Address{bob})
	require.Empty(t, collect(t, ix, e))
	require.Equal(t, []Match{{SubscriptionID: "sub_b", Watched: bob, Direction: event.DirectionIn}},
		collect(t, ix, trc20(usdt, carol, bob, tron.AmountFromUint64(1))))
	ix.RemoveAddresses("sub_b", []tron.Address{bob})
	require.Equal(t, []string{"sub_b"}, ids(collect(t, ix, e)))

	// Unknown subscriptions are ignored.
	ix.AddAddresses("sub_nope", []tron.Address{alice})
	ix.RemoveAddresses("sub_nope", []tron.Address{alice})
	require.Zero(t, ix.Addresses())
	require.Equal(t, 2, ix.Len())
}

func TestIndex_Delete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sweepMin int
	}{
		{"garbage kept", 1 << 30},
		{"swept at once", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := New()
			ix.sweepMin = tt.sweepMin
			require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{alice, bob}))
			require.NoError(t, ix.Upsert(sub("sub_b"), []tron.Address{bob}))
			require.NoError(t, ix.Upsert(sub("sub_c", withAll), nil))
			require.Equal(t, 3, ix.Len())
			require.Equal(t, 3, ix.Addresses())

			ix.Delete("sub_a")
			ix.Delete("sub_a") // idempotent
			ix.Delete("sub_c")
			require.Equal(t, 1, ix.Len())
			require.Equal(t, 1, ix.Addresses())
			require.Empty(t, collect(t, ix, trx(carol, alice)))
			require.Equal(t, []string{"sub_b"}, ids(collect(t, ix, trx(carol, bob))))

			// A new subscription, perhaps in a recycled slot, inherits
			// nothing of the deleted one.
			require.NoError(t, ix.Upsert(sub("sub_d"), []tron.Address{carol}))
			require.NoError(t, ix.Upsert(sub("sub_e"), []tron.Address{carol}))
			require.Empty(t, collect(t, ix, trx(sr1, alice)))
			require.Equal(t, []string{"sub_b"}, ids(collect(t, ix, trx(sr1, bob))))
			require.Equal(t, []string{"sub_d", "sub_e"}, ids(collect(t, ix, trx(sr1, carol))))

			// Re-creating a deleted id starts afresh.
			require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{sr1}))
			require.Empty(t, collect(t, ix, trx(sr2, alice)))
			require.Equal(t, []string{"sub_a"}, ids(collect(t, ix, trx(sr2, sr1))))
			if tt.sweepMin == 0 {
				require.Equal(t, ix.Addresses(), ix.addrs.pairs(), "no dead entries after a sweep")
			}
		})
	}
}

// model is a naive matcher written straight from the package doc, to
// check the index against under random updates.
type model struct {
	subs  map[string]*subscription.Subscription
	addrs map[string]map[tron.Address]bool
}

func (m *model) match(e *event.Event) []Match {
	var out []Match
	for id, s := range m.subs {
		if s.OnlySuccess && !e.Success {
			continue
		}
		if len(s.Kinds) > 0 && !slices.Contains(s.Kinds, string(e.Kind)) {
			continue
		}
		if len(s.Contracts) > 0 && (e.Contract.IsZero() || !slices.Contains(s.Contracts, e.Contract.String())) {
			continue
		}
		if s.MinAmount != nil && (e.Amount.IsZero() || e.Amount.Cmp(mustAmount(*s.MinAmount)) < 0) {
			continue
		}
		if s.MaxAmount != nil && (e.Amount.IsZero() || e.Amount.Cmp(mustAmount(*s.MaxAmount)) > 0) {
			continue
		}
		solid := s.Finality == subscription.FinalitySolidified
		keeps := func(lookalike bool) bool {
			switch e.Kind {
			case event.KindTRC20Transfer, event.KindTRC20Approval, event.KindTRC10Transfer, event.KindTRC10InternalTransfer:
				if s.OnlyVerified && (e.Token == nil || !e.Token.Verified) {
					return false
				}
			}
			for _, f := range s.ExcludeFlags {
				if e.HasFlag(event.Flag(f)) || lookalike && event.Flag(f) == event.FlagLookalike {
					return false
				}
			}
			return true
		}
		set := m.addrs[id]
		if len(set) == 0 {
			if (len(s.Contracts) > 0 || len(s.Kinds) > 0 || s.All) && keeps(false) {
				out = append(out, Match{SubscriptionID: id, Confirmations: s.Confirmations, Direction: event.DirectionNone, Solidified: solid})
			}
			continue
		}
		// lookalike compares the text of the counterparty with that of
		// every watched address.
		lookalike := func(dir event.Direction) bool {
			var cp tron.Address
			switch {
			case !e.Kind.IsTransfer():
				return false
			case dir == event.DirectionIn:
				cp = e.From
			case dir == event.DirectionOut:
				cp = e.To
			}
			if cp.IsZero() || set[cp] {
				return false
			}
			cs := cp.String()
			for x := range set {
				xs := x.String()
				if xs[:4] == cs[:4] && xs[len(xs)-4:] == cs[len(cs)-4:] {
					return true
				}
			}
			return false
		}
		type cand struct {
			a   tron.Address
			dir event.Direction
		}
		var cands []cand
		switch {
		case !e.To.IsZero() && e.To == e.From:
			cands = append(cands, cand{e.To, event.DirectionSelf})
		default:
			cands = append(cands, cand{e.To, event.DirectionIn}, cand{e.From, event.DirectionOut})
		}
		for _, p := range e.Parties()[min(len(e.Parties()), nonZero(e.From, e.To)):] {
			cands = append(cands, cand{p, event.DirectionNone})
		}
		for _, c := range cands {
			if c.a.IsZero() || !set[c.a] {
				continue
			}
			ok := c.dir == event.DirectionSelf || s.Direction == "any" || s.Direction == "" ||
				(s.Direction == "in" && c.dir == event.DirectionIn) || (s.Direction == "out" && c.dir == event.DirectionOut)
			if ok {
				if look := lookalike(c.dir); keeps(look) {
					out = append(out, Match{SubscriptionID: id, Confirmations: s.Confirmations, Watched: c.a, Direction: c.dir,
						Solidified: solid, Lookalike: look})
				}
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b Match) int { return strings.Compare(a.SubscriptionID, b.SubscriptionID) })
	return out
}

func nonZero(as ...tron.Address) int {
	n := 0
	for _, a := range as {
		if !a.IsZero() {
			n++
		}
	}
	return n
}

func mustAmount(s string) tron.Amount {
	a, err := tron.ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

// TestIndex_model drives the index and the naive model with the same
// random updates and events, with sweeps frequent enough to exercise slot
// recycling, and requires the same matches. A third of the addresses drawn
// are lookalike fixtures, so that lookalike matches are common; the
// lookalike table is checked against the address table after every step.
func TestIndex_model(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 42))
			ix := New()
			ix.sweepMin = 8
			m := &model{subs: map[string]*subscription.Subscription{}, addrs: map[string]map[tron.Address]bool{}}
			lookalikes := []tron.Address{victim, poison, tri1, tri2, tri3, prefixOnly, victim2, poison2}
			pool := func() tron.Address {
				if rng.IntN(3) == 0 {
					return lookalikes[rng.IntN(len(lookalikes))]
				}
				return addr(uint64(rng.IntN(40)))
			}
			contracts := []tron.Address{usdt, usdc}
			kinds := []event.Kind{event.KindTRXTransfer, event.KindTRC20Transfer, event.KindVote,
				event.KindTRC10Transfer, event.KindTRC20Approval}
			tokens := []*event.Token{nil, {Symbol: "X"}, {Symbol: "USDT", Verified: true}}
			randSub := func(id string) *subscription.Subscription {
				s := sub(id, withConfirmations(rng.IntN(20)), withDirection([]string{"any", "in", "out"}[rng.IntN(3)]))
				if rng.IntN(3) == 0 {
					withContracts(contracts[rng.IntN(2)])(s)
				}
				if rng.IntN(3) == 0 {
					withKinds(kinds[rng.IntN(len(kinds))])(s)
				}
				if rng.IntN(4) == 0 {
					withMin(fmt.Sprint(rng.IntN(100)))(s)
				}
				if rng.IntN(4) == 0 {
					withMax(fmt.Sprint(100 + rng.IntN(100)))(s)
				}
				s.OnlySuccess = rng.IntN(2) == 0
				s.All = rng.IntN(5) == 0
				s.Finality = []string{"", subscription.FinalityConfirmations, subscription.FinalitySolidified}[rng.IntN(3)]
				s.OnlyVerified = rng.IntN(3) == 0
				for _, f := range event.Flags() {
					if rng.IntN(4) == 0 {
						s.ExcludeFlags = append(s.ExcludeFlags, string(f))
					}
				}
				return s
			}
			randAddrs := func() []tron.Address {
				out := make([]tron.Address, rng.IntN(8))
				for i := range out {
					out[i] = pool()
				}
				return out
			}
			randEvent := func() *event.Event {
				e := &event.Event{Kind: kinds[rng.IntN(len(kinds))], Success: rng.IntN(4) != 0, From: pool(),
					Token: tokens[rng.IntN(len(tokens))]}
				for _, f := range event.Flags() {
					if rng.IntN(6) == 0 {
						e.AddFlag(f)
					}
				}
				switch e.Kind {
				case event.KindVote:
					e.Data = &event.Data{}
					for range rng.IntN(3) {
						e.Data.Votes = append(e.Data.Votes, event.Vote{Address: pool()})
					}
				case event.KindTRC20Transfer, event.KindTRC20Approval:
					e.Contract = contracts[rng.IntN(2)]
					fallthrough
				default:
					e.To = pool()
					if rng.IntN(5) == 0 {
						e.To = e.From
					}
					if rng.IntN(5) != 0 {
						e.Amount = tron.AmountFromUint64(uint64(rng.IntN(250)))
					}
				}
				return e
			}
			lookalikeMatches := 0
			for step := range 3000 {
				id := fmt.Sprint("sub_", rng.IntN(12))
				switch op := rng.IntN(10); {
				case op < 2:
					s, as := randSub(id), randAddrs()
					require.NoError(t, ix.Upsert(s, as))
					m.subs[id] = s
					m.addrs[id] = map[tron.Address]bool{}
					for _, a := range as {
						m.addrs[id][a] = true
					}
				case op < 3:
					s := randSub(id)
					err := ix.SetFilter(s)
					if _, ok := m.subs[id]; !ok {
						require.ErrorIs(t, err, ErrUnknownSubscription)
						break
					}
					require.NoError(t, err)
					m.subs[id] = s
				case op < 5:
					as := randAddrs()
					ix.AddAddresses(id, as)
					if m.addrs[id] != nil {
						for _, a := range as {
							m.addrs[id][a] = true
						}
					}
				case op < 7:
					as := randAddrs()
					ix.RemoveAddresses(id, as)
					for _, a := range as {
						delete(m.addrs[id], a)
					}
				default:
					ix.Delete(id)
					delete(m.subs, id)
					delete(m.addrs, id)
				}
				pairs := 0
				for _, set := range m.addrs {
					pairs += len(set)
				}
				require.Equal(t, len(m.subs), ix.Len(), "step %d", step)
				require.Equal(t, pairs, ix.Addresses(), "step %d", step)
				requireLookConsistent(t, ix)
				for range 5 {
					e := randEvent()
					want := m.match(e)
					require.Equal(t, want, collect(t, ix, e), "step %d event %+v", step, e)
					for _, x := range want {
						if x.Lookalike {
							lookalikeMatches++
						}
					}
				}
			}
			require.Positive(t, lookalikeMatches, "the fixtures make lookalike matches")
		})
	}
}

// TestIndex_concurrent runs matchers against every kind of update, for the
// race detector, and checks that a subscription never matches twice and
// that a stable subscription is never missed.
func TestIndex_concurrent(t *testing.T) {
	t.Parallel()
	ix := New()
	ix.sweepMin = 16
	require.NoError(t, ix.Upsert(sub("sub_stable"), []tron.Address{alice, victim}))
	poisoning := trx(poison, alice) // poison looks like victim

	var stop atomic.Bool
	var wg sync.WaitGroup
	var matched atomic.Int64
	for range 4 {
		wg.Go(func() {
			events := []*event.Event{trx(bob, alice), trx(alice, carol), vote(alice, sr1, sr2), trc20(usdt, alice, bob, tron.AmountFromUint64(9)), poisoning}
			for i := 0; i < 500 || !stop.Load(); i++ { // some work even if the writer is quick
				seen := map[string]bool{}
				stable := false
				e := events[i%len(events)]
				ix.Match(e, func(m Match) {
					if seen[m.SubscriptionID] {
						t.Errorf("subscription matched twice: %s", m.SubscriptionID)
					}
					seen[m.SubscriptionID] = true
					if m.SubscriptionID == "sub_stable" {
						stable = true
						if m.Lookalike != (e == poisoning) {
							t.Errorf("stable subscription: lookalike %v for %v to %v", m.Lookalike, e.From, e.To)
						}
					}
				})
				if !stable {
					t.Errorf("stable subscription missed")
					return
				}
				matched.Add(int64(len(seen)))
			}
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		id := fmt.Sprint("sub_", rng.IntN(20))
		as := []tron.Address{alice, bob, carol, victim, poison, sr1, sr2, addr(uint64(1000 + i))}
		switch rng.IntN(6) {
		case 0:
			require.NoError(t, ix.Upsert(sub(id, withDirection("in")), as))
		case 1:
			_ = ix.SetFilter(sub(id, withContracts(usdt)))
		case 2:
			ix.AddAddresses(id, as[:rng.IntN(len(as))])
		case 3:
			ix.RemoveAddresses(id, as[rng.IntN(len(as)):])
		case 4:
			require.NoError(t, ix.Upsert(sub(id, withKinds(event.KindVote)), nil))
		default:
			ix.Delete(id)
		}
		_ = ix.Len()
		_ = ix.Addresses()
	}
	stop.Store(true)
	wg.Wait()
	require.Positive(t, matched.Load())
}
