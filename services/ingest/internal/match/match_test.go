package match

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
)

// TestMain fails the package if a test leaves a goroutine behind; the
// concurrency test starts several.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.GoleakOptions()...) }

// addr returns a distinct, valid address for n.
func addr(n uint64) tron.Address {
	var b [20]byte
	binary.BigEndian.PutUint64(b[12:], n)
	b[0] = 0xa5 // keep it far from anything real
	return tron.AddressFromEVM(b[:])
}

// Fixed parties of the rule cases.
var (
	alice = addr(1)
	bob   = addr(2)
	carol = addr(3)
	sr1   = addr(4) // a witness voted for
	sr2   = addr(5)
	usdt  = addr(100)
	usdc  = addr(101)
)

// strp returns a pointer to s, for the optional amount fields.
func strp(s string) *string { return &s }

// amount parses a decimal amount or fails the test.
func amount(tb testing.TB, s string) tron.Amount {
	tb.Helper()
	a, err := tron.ParseAmount(s)
	require.NoError(tb, err)
	return a
}

// sub builds a stored subscription with the given id and options.
func sub(id string, opts ...func(*subscription.Subscription)) *subscription.Subscription {
	s := &subscription.Subscription{ID: id, Direction: subscription.DirectionAny, Status: subscription.StatusActive}
	for _, o := range opts {
		o(s)
	}
	return s
}

func withContracts(c ...tron.Address) func(*subscription.Subscription) {
	return func(s *subscription.Subscription) {
		for _, a := range c {
			s.Contracts = append(s.Contracts, a.String())
		}
	}
}

func withKinds(k ...event.Kind) func(*subscription.Subscription) {
	return func(s *subscription.Subscription) {
		for _, x := range k {
			s.Kinds = append(s.Kinds, string(x))
		}
	}
}

func withDirection(d string) func(*subscription.Subscription) {
	return func(s *subscription.Subscription) { s.Direction = d }
}

func withMin(v string) func(*subscription.Subscription) {
	return func(s *subscription.Subscription) { s.MinAmount = strp(v) }
}

func withMax(v string) func(*subscription.Subscription) {
	return func(s *subscription.Subscription) { s.MaxAmount = strp(v) }
}

func withOnlySuccess(s *subscription.Subscription) { s.OnlySuccess = true }
func withAll(s *subscription.Subscription)         { s.All = true }

func withConfirmations(n int) func(*subscription.Subscription) {
	return func(s *subscription.Subscription) { s.Confirmations = n }
}

// trx is a successful TRX transfer of 1 TRX.
func trx(from, to tron.Address) *event.Event {
	return &event.Event{
		Type: event.TypeEvent, ID: "tx:0", Kind: event.KindTRXTransfer, Success: true,
		From: from, To: to, Amount: tron.AmountFromUint64(1_000_000),
	}
}

// trc20 is a successful token transfer on contract c.
func trc20(c, from, to tron.Address, amt tron.Amount) *event.Event {
	return &event.Event{
		Type: event.TypeEvent, ID: "tx:1", Kind: event.KindTRC20Transfer, Success: true,
		From: from, To: to, Contract: c, Amount: amt,
	}
}

// vote is a vote by from for the given witnesses.
func vote(from tron.Address, targets ...tron.Address) *event.Event {
	e := &event.Event{Type: event.TypeEvent, ID: "tx:2", Kind: event.KindVote, Success: true, From: from, Data: &event.Data{}}
	for _, t := range targets {
		e.Data.Votes = append(e.Data.Votes, event.Vote{Address: t, Count: 1})
	}
	return e
}

func modify(e *event.Event, f func(*event.Event)) *event.Event {
	f(e)
	return e
}

// collect returns the matches of e, sorted by subscription id, failing the
// test if a subscription is reported twice.
func collect(tb testing.TB, ix *Index, e *event.Event) []Match {
	tb.Helper()
	var got []Match
	ix.Match(e, func(m Match) { got = append(got, m) })
	slices.SortFunc(got, func(a, b Match) int { return strings.Compare(a.SubscriptionID, b.SubscriptionID) })
	for i := 1; i < len(got); i++ {
		require.NotEqual(tb, got[i-1].SubscriptionID, got[i].SubscriptionID, "subscription matched twice")
	}
	return got
}

func hit(watched tron.Address, dir event.Direction) []Match {
	return []Match{{SubscriptionID: "sub_a", Watched: watched, Direction: dir}}
}

func TestIndex_Match_rules(t *testing.T) {
	t.Parallel()
	big := "100000000000000000000000" // 10^23, beyond 2^64
	tests := []struct {
		name  string
		sub   *subscription.Subscription
		addrs []tron.Address
		event *event.Event
		want  []Match
	}{
		// Direction of an address match.
		{"incoming", sub("sub_a"), []tron.Address{alice}, trx(bob, alice), hit(alice, event.DirectionIn)},
		{"outgoing", sub("sub_a"), []tron.Address{alice}, trx(alice, bob), hit(alice, event.DirectionOut)},
		{"self transfer", sub("sub_a"), []tron.Address{alice}, trx(alice, alice), hit(alice, event.DirectionSelf)},
		{"unrelated", sub("sub_a"), []tron.Address{alice}, trx(bob, carol), nil},
		{"filter in drops outgoing", sub("sub_a", withDirection("in")), []tron.Address{alice}, trx(alice, bob), nil},
		{"filter in keeps incoming", sub("sub_a", withDirection("in")), []tron.Address{alice}, trx(bob, alice), hit(alice, event.DirectionIn)},
		{"filter out drops incoming", sub("sub_a", withDirection("out")), []tron.Address{alice}, trx(bob, alice), nil},
		{"filter out keeps outgoing", sub("sub_a", withDirection("out")), []tron.Address{alice}, trx(alice, bob), hit(alice, event.DirectionOut)},
		{"filter in keeps self", sub("sub_a", withDirection("in")), []tron.Address{alice}, trx(alice, alice), hit(alice, event.DirectionSelf)},
		{"filter out keeps self", sub("sub_a", withDirection("out")), []tron.Address{alice}, trx(alice, alice), hit(alice, event.DirectionSelf)},
		{"empty direction is any", sub("sub_a", withDirection("")), []tron.Address{alice}, trx(alice, bob), hit(alice, event.DirectionOut)},

		// Both parties watched.
		{"both watched, any prefers in", sub("sub_a"), []tron.Address{alice, bob}, trx(alice, bob), hit(bob, event.DirectionIn)},
		{"both watched, filter in", sub("sub_a", withDirection("in")), []tron.Address{alice, bob}, trx(alice, bob), hit(bob, event.DirectionIn)},
		{"both watched, filter out", sub("sub_a", withDirection("out")), []tron.Address{alice, bob}, trx(alice, bob), hit(alice, event.DirectionOut)},

		// Vote targets are parties with direction none.
		{"vote target", sub("sub_a"), []tron.Address{sr2}, vote(alice, sr1, sr2), hit(sr2, event.DirectionNone)},
		{"vote target, filter in", sub("sub_a", withDirection("in")), []tron.Address{sr1}, vote(alice, sr1), nil},
		{"vote target, filter out", sub("sub_a", withDirection("out")), []tron.Address{sr1}, vote(alice, sr1), nil},
		{"voter is out", sub("sub_a"), []tron.Address{alice, sr1}, vote(alice, sr1), hit(alice, event.DirectionOut)},
		{"voter, filter in, target watched", sub("sub_a", withDirection("in")), []tron.Address{alice, sr1}, vote(alice, sr1), nil},
		{"several targets watched, once", sub("sub_a"), []tron.Address{sr1, sr2}, vote(alice, sr1, sr2), hit(sr1, event.DirectionNone)},

		// Contracts.
		{"contract and address both match", sub("sub_a", withContracts(usdt)), []tron.Address{alice},
			trc20(usdt, bob, alice, tron.AmountFromUint64(5)), hit(alice, event.DirectionIn)},
		{"address without the contract", sub("sub_a", withContracts(usdt)), []tron.Address{alice},
			trc20(usdc, bob, alice, tron.AmountFromUint64(5)), nil},
		{"contract without the address", sub("sub_a", withContracts(usdt)), []tron.Address{alice},
			trc20(usdt, bob, carol, tron.AmountFromUint64(5)), nil},
		{"contract filter, trx has no contract", sub("sub_a", withContracts(usdt)), []tron.Address{alice}, trx(bob, alice), nil},
		{"contracts only", sub("sub_a", withContracts(usdc, usdt)), nil,
			trc20(usdt, bob, carol, tron.AmountFromUint64(5)), hit(tron.Address{}, event.DirectionNone)},
		{"contracts only ignore direction", sub("sub_a", withContracts(usdt), withDirection("in")), nil,
			trc20(usdt, bob, carol, tron.AmountFromUint64(5)), hit(tron.Address{}, event.DirectionNone)},
		{"contracts only, other contract", sub("sub_a", withContracts(usdt)), nil,
			trc20(usdc, bob, carol, tron.AmountFromUint64(5)), nil},

		// Kinds.
		{"kind listed", sub("sub_a", withKinds(event.KindTRC20Transfer)), []tron.Address{alice},
			trc20(usdt, bob, alice, tron.AmountFromUint64(5)), hit(alice, event.DirectionIn)},
		{"kind not listed", sub("sub_a", withKinds(event.KindTRC20Transfer)), []tron.Address{alice}, trx(bob, alice), nil},
		{"kinds only", sub("sub_a", withKinds(event.KindVote, event.KindStake)), nil, vote(alice, sr1), hit(tron.Address{}, event.DirectionNone)},
		{"kinds only, other kind", sub("sub_a", withKinds(event.KindVote)), nil, trx(alice, bob), nil},
		{"kinds and contracts", sub("sub_a", withKinds(event.KindTRC20Approval), withContracts(usdt)), nil,
			trc20(usdt, bob, carol, tron.AmountFromUint64(5)), nil},
		{"unknown event kind, kind filter", sub("sub_a", withKinds(event.KindTRXTransfer)), []tron.Address{alice},
			modify(trx(bob, alice), func(e *event.Event) { e.Kind = "future_kind" }), nil},
		{"unknown event kind, no kind filter", sub("sub_a"), []tron.Address{alice},
			modify(trx(bob, alice), func(e *event.Event) { e.Kind = "future_kind" }), hit(alice, event.DirectionIn)},

		// Amounts, exact beyond 64 bits.
		{"min equal", sub("sub_a", withMin(big)), []tron.Address{alice},
			trc20(usdt, bob, alice, amount(t, big)), hit(alice, event.DirectionIn)},
		{"min one below", sub("sub_a", withMin(big)), []tron.Address{alice},
			trc20(usdt, bob, alice, amount(t, "99999999999999999999999")), nil},
		{"min far below, low 64 bits larger", sub("sub_a", withMin("18446744073709551616")), []tron.Address{alice},
			trc20(usdt, bob, alice, amount(t, "18446744073709551615")), nil},
		{"max equal", sub("sub_a", withMax(big)), []tron.Address{alice},
			trc20(usdt, bob, alice, amount(t, big)), hit(alice, event.DirectionIn)},
		{"max one above", sub("sub_a", withMax(big)), []tron.Address{alice},
			trc20(usdt, bob, alice, amount(t, "100000000000000000000001")), nil},
		{"2^128 above max", sub("sub_a", withMin("10"), withMax(big)), []tron.Address{alice},
			trc20(usdt, bob, alice, amount(t, "340282366920938463463374607431768211456")), nil},
		{"zero amount passes min 0", sub("sub_a", withMin("0")), []tron.Address{alice},
			trc20(usdt, bob, alice, tron.AmountFromUint64(0)), hit(alice, event.DirectionIn)},
		{"no amount fails min", sub("sub_a", withMin("0")), []tron.Address{alice}, vote(alice, sr1), nil},
		{"no amount fails max", sub("sub_a", withMax(big)), []tron.Address{alice}, vote(alice, sr1), nil},
		{"no amount without bounds", sub("sub_a"), []tron.Address{alice}, vote(alice, sr1), hit(alice, event.DirectionOut)},

		// Success.
		{"only success drops failed", sub("sub_a", withOnlySuccess), []tron.Address{alice},
			modify(trx(bob, alice), func(e *event.Event) { e.Success = false }), nil},
		{"only success keeps successful", sub("sub_a", withOnlySuccess), []tron.Address{alice}, trx(bob, alice), hit(alice, event.DirectionIn)},
		{"failed without only success", sub("sub_a"), []tron.Address{alice},
			modify(trx(bob, alice), func(e *event.Event) { e.Success = false }), hit(alice, event.DirectionIn)},

		// All and empty filters.
		{"all matches anything", sub("sub_a", withAll), nil, trx(bob, carol), hit(tron.Address{}, event.DirectionNone)},
		{"all still applies success", sub("sub_a", withAll, withOnlySuccess), nil,
			modify(trx(bob, carol), func(e *event.Event) { e.Success = false }), nil},
		{"all still applies amounts", sub("sub_a", withAll, withMin("2000000")), nil, trx(bob, carol), nil},
		{"all with kinds applies kinds", sub("sub_a", withAll, withKinds(event.KindVote)), nil, trx(bob, carol), nil},
		{"all with addresses applies addresses", sub("sub_a", withAll), []tron.Address{alice}, trx(bob, carol), nil},
		{"empty filter matches nothing", sub("sub_a"), nil, trx(bob, carol), nil},
		{"empty filter with direction matches nothing", sub("sub_a", withDirection("in"), withMin("1")), nil, trx(bob, carol), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := New()
			require.NoError(t, ix.Upsert(tt.sub, tt.addrs))
			require.Equal(t, tt.want, collect(t, ix, tt.event))
		})
	}
}

func TestIndex_Match_confirmations(t *testing.T) {
	t.Parallel()
	ix := New()
	require.NoError(t, ix.Upsert(sub("sub_a", withConfirmations(0)), []tron.Address{alice}))
	require.NoError(t, ix.Upsert(sub("sub_b", withConfirmations(19)), []tron.Address{alice}))
	require.NoError(t, ix.Upsert(sub("sub_c", withConfirmations(7), withAll), nil))
	require.Equal(t, []Match{
		{SubscriptionID: "sub_a", Confirmations: 0, Watched: alice, Direction: event.DirectionIn},
		{SubscriptionID: "sub_b", Confirmations: 19, Watched: alice, Direction: event.DirectionIn},
		{SubscriptionID: "sub_c", Confirmations: 7, Direction: event.DirectionNone},
	}, collect(t, ix, trx(bob, alice)))
}

// TestIndex_Match_dedup checks one match per subscription, with many
// subscriptions on one address (past the seen set's inline capacity) and
// each watching several parties of the event.
func TestIndex_Match_dedup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		subs int
		dir  string
		want event.Direction
	}{
		{"few any", 3, "any", event.DirectionIn},
		{"many any", 100, "any", event.DirectionIn},
		{"many out", 100, "out", event.DirectionOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := New()
			for i := range tt.subs {
				id := "sub_" + strings.Repeat("x", i)
				require.NoError(t, ix.Upsert(sub(id, withDirection(tt.dir)), []tron.Address{alice, bob, sr1, sr2}))
			}
			e := modify(vote(alice, sr1, sr2, alice), func(e *event.Event) { e.To = bob })
			got := collect(t, ix, e)
			require.Len(t, got, tt.subs)
			for _, m := range got {
				require.Equal(t, tt.want, m.Direction)
			}
		})
	}
}

func withExclude(fs ...event.Flag) func(*subscription.Subscription) {
	return func(s *subscription.Subscription) {
		for _, f := range fs {
			s.ExcludeFlags = append(s.ExcludeFlags, string(f))
		}
	}
}

func withOnlyVerified(s *subscription.Subscription) { s.OnlyVerified = true }

func withFinality(f string) func(*subscription.Subscription) {
	return func(s *subscription.Subscription) { s.Finality = f }
}

// flagged sets the decoder's flags on e.
func flagged(e *event.Event, fs ...event.Flag) *event.Event {
	for _, f := range fs {
		e.AddFlag(f)
	}
	return e
}

func TestIndex_Match_excludeFlags(t *testing.T) {
	t.Parallel()
	zero := tron.AmountFromUint64(0)
	tests := []struct {
		name  string
		sub   *subscription.Subscription
		addrs []tron.Address
		event *event.Event
		want  []Match
	}{
		{"zero_amount excluded", sub("sub_a", withExclude(event.FlagZeroAmount)), []tron.Address{alice},
			flagged(trc20(usdt, bob, alice, zero), event.FlagZeroAmount), nil},
		{"unverified_token excluded", sub("sub_a", withExclude(event.FlagUnverifiedToken)), []tron.Address{alice},
			flagged(trc20(usdt, bob, alice, zero), event.FlagUnverifiedToken), nil},
		{"third_party_spender excluded", sub("sub_a", withExclude(event.FlagThirdPartySpender)), []tron.Address{alice},
			flagged(trc20(usdt, bob, alice, zero), event.FlagThirdPartySpender), nil},
		{"lookalike excluded", sub("sub_a", withExclude(event.FlagLookalike)), []tron.Address{victim},
			trx(poison, victim), nil},
		{"lookalike set by the decoder excluded", sub("sub_a", withExclude(event.FlagLookalike)), []tron.Address{alice},
			flagged(trx(bob, alice), event.FlagLookalike), nil},
		{"one of several excluded", sub("sub_a", withExclude(event.FlagThirdPartySpender, event.FlagZeroAmount)), []tron.Address{alice},
			flagged(trc20(usdt, bob, alice, zero), event.FlagUnverifiedToken, event.FlagZeroAmount), nil},

		{"other flag kept", sub("sub_a", withExclude(event.FlagZeroAmount)), []tron.Address{alice},
			flagged(trc20(usdt, bob, alice, zero), event.FlagThirdPartySpender), hit(alice, event.DirectionIn)},
		{"clean event kept", sub("sub_a", withExclude(event.FlagZeroAmount, event.FlagLookalike)), []tron.Address{alice},
			trx(bob, alice), hit(alice, event.DirectionIn)},
		{"lookalike not excluded is reported", sub("sub_a", withExclude(event.FlagZeroAmount)), []tron.Address{victim},
			trx(poison, victim), look(victim, event.DirectionIn)},
		{"lookalike exclusion, ordinary counterparty", sub("sub_a", withExclude(event.FlagLookalike)), []tron.Address{victim},
			trx(bob, victim), hit(victim, event.DirectionIn)},
		{"nothing excluded", sub("sub_a"), []tron.Address{alice},
			flagged(trc20(usdt, bob, alice, zero), event.FlagZeroAmount, event.FlagUnverifiedToken), hit(alice, event.DirectionIn)},
		{"unknown decoder flag ignored", sub("sub_a", withExclude(event.FlagZeroAmount)), []tron.Address{alice},
			flagged(trx(bob, alice), "future_flag"), hit(alice, event.DirectionIn)},

		// Subscriptions without addresses.
		{"contracts only, excluded", sub("sub_a", withContracts(usdt), withExclude(event.FlagZeroAmount)), nil,
			flagged(trc20(usdt, bob, alice, zero), event.FlagZeroAmount), nil},
		{"all, excluded", sub("sub_a", withAll, withExclude(event.FlagThirdPartySpender)), nil,
			flagged(trc20(usdt, bob, alice, zero), event.FlagThirdPartySpender), nil},
		{"all, lookalike excluded never applies", sub("sub_a", withAll, withExclude(event.FlagLookalike)), nil,
			trx(poison, victim), hit(tron.Address{}, event.DirectionNone)},

		// A flag drop decides the subscription: the other watched party
		// does not bring the event back.
		{"drop decides, both parties watched", sub("sub_a", withExclude(event.FlagZeroAmount)), []tron.Address{alice, bob},
			flagged(trc20(usdt, bob, alice, zero), event.FlagZeroAmount), nil},
		{"drop decides, direction out", sub("sub_a", withDirection("out"), withExclude(event.FlagZeroAmount)), []tron.Address{alice, bob},
			flagged(trc20(usdt, bob, alice, zero), event.FlagZeroAmount), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := New()
			require.NoError(t, ix.Upsert(tt.sub, tt.addrs))
			require.Equal(t, tt.want, collect(t, ix, tt.event))
		})
	}
}

func TestIndex_Match_onlyVerified(t *testing.T) {
	t.Parallel()
	verified := &event.Token{Symbol: "USDT", Verified: true}
	unverified := &event.Token{Symbol: "USDT"}
	tests := []struct {
		kind event.Kind
		// keep says, by token nil, unverified, verified, whether an
		// only_verified subscription gets the event.
		keep [3]bool
	}{
		{event.KindTRC20Transfer, [3]bool{false, false, true}},
		{event.KindTRC20Approval, [3]bool{false, false, true}},
		{event.KindTRC10Transfer, [3]bool{false, false, true}},
		{event.KindTRC10InternalTransfer, [3]bool{false, false, true}},
		{event.KindTRXTransfer, [3]bool{true, true, true}},
		{event.KindTRXInternalTransfer, [3]bool{true, true, true}},
		{event.KindContractCall, [3]bool{true, true, true}},
		{event.KindContractLog, [3]bool{true, true, true}},
		{event.KindStake, [3]bool{true, true, true}},
		{"future_kind", [3]bool{true, true, true}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			ix := New()
			require.NoError(t, ix.Upsert(sub("sub_a", withOnlyVerified), []tron.Address{alice}))
			require.NoError(t, ix.Upsert(sub("sub_b", withOnlyVerified, withContracts(usdt)), nil))
			require.NoError(t, ix.Upsert(sub("sub_c"), []tron.Address{alice}))
			for i, tok := range []*event.Token{nil, unverified, verified} {
				e := modify(trc20(usdt, bob, alice, tron.AmountFromUint64(1)), func(e *event.Event) { e.Kind, e.Token = tt.kind, tok })
				want := []string{"sub_c"} // without only_verified, always
				if tt.keep[i] {
					want = []string{"sub_a", "sub_b", "sub_c"}
				}
				require.Equal(t, want, ids(collect(t, ix, e)), "token %+v", tok)
			}
		})
	}
}

func TestIndex_Match_finality(t *testing.T) {
	t.Parallel()
	ix := New()
	require.NoError(t, ix.Upsert(sub("sub_a", withConfirmations(5), withFinality(subscription.FinalitySolidified)), []tron.Address{alice}))
	require.NoError(t, ix.Upsert(sub("sub_b", withConfirmations(19), withFinality(subscription.FinalityConfirmations)), []tron.Address{alice}))
	require.NoError(t, ix.Upsert(sub("sub_c", withConfirmations(1), withFinality("")), []tron.Address{alice}))
	require.NoError(t, ix.Upsert(sub("sub_d", withAll, withFinality(subscription.FinalitySolidified)), nil))
	want := []Match{
		{SubscriptionID: "sub_a", Confirmations: 5, Watched: alice, Direction: event.DirectionIn, Solidified: true},
		{SubscriptionID: "sub_b", Confirmations: 19, Watched: alice, Direction: event.DirectionIn},
		{SubscriptionID: "sub_c", Confirmations: 1, Watched: alice, Direction: event.DirectionIn},
		{SubscriptionID: "sub_d", Direction: event.DirectionNone, Solidified: true},
	}
	require.Equal(t, want, collect(t, ix, trx(bob, alice)))

	// SetFilter changes it and keeps the addresses.
	require.NoError(t, ix.SetFilter(sub("sub_a", withConfirmations(5))))
	require.NoError(t, ix.SetFilter(sub("sub_b", withFinality(subscription.FinalitySolidified))))
	want[0].Solidified = false
	want[1].Solidified, want[1].Confirmations = true, 0
	require.Equal(t, want, collect(t, ix, trx(bob, alice)))
}
