package follow_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// events decodes a subscription's stored events, retractions left out.
func events(t testing.TB, docs []store.EventDoc) []event.Event {
	t.Helper()
	var out []event.Event
	for _, d := range docs {
		if d.Removed {
			continue
		}
		var ev event.Event
		require.NoError(t, json.Unmarshal(d.JSON, &ev))
		out = append(out, ev)
	}
	return out
}

// signers maps each transaction of blocks from..to to its signer (the
// owner of its first contract).
func signers(t testing.TB, s *sim.Sim, from, to int64) map[string]tron.Address {
	t.Helper()
	out := map[string]tron.Address{}
	for n := from; n <= to; n++ {
		b, _, err := s.Block(n)
		require.NoError(t, err)
		for _, tx := range b.Transactions {
			if len(tx.RawData.Contract) == 0 {
				continue
			}
			a, err := tron.ParseHex(tx.RawData.Contract[0].Parameter.Value.OwnerAddress)
			require.NoError(t, err)
			out[tx.TxID] = a
		}
	}
	return out
}

func TestFollower_depositTrapsAreFlaggedWhereTheChainHasThem(t *testing.T) {
	t.Parallel()
	s, url := simtest.Start(t, sim.Config{Seed: 21, Instant: true, InitialBlocks: 25, TxsPerBlock: 40, Addresses: 300, TrapRate: 0.3})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "traps", n.URL())
	start := s.First() + 1
	head, _ := s.Head()
	rep, err := s.Traps(start, head)
	require.NoError(t, err)
	for _, k := range []sim.TrapKind{sim.TrapPoisoning, sim.TrapFakeUSDT, sim.TrapInternalTRX, sim.TrapRejectedFrame, sim.TrapFailedWithFrames, sim.TrapMemoUTF8, sim.TrapMemoHex} {
		require.Positive(t, rep.Count(k), "the chain has no %s: the test proves little", k)
	}

	// One subscription sees everything; one watches the poisoning
	// victims, whose lookalikes must be flagged for it alone.
	_, err = e.db.Collection(store.Subscriptions).InsertOne(t.Context(), subscription.Subscription{
		ID: "sub_all", Tenant: "t", Direction: subscription.DirectionAny, All: true, Finality: subscription.FinalityConfirmations,
		Status: subscription.StatusActive, Version: 1, Contracts: []string{}, Kinds: []string{},
	})
	require.NoError(t, err)
	_, err = e.db.Collection(store.Subscriptions).InsertOne(t.Context(), subscription.Subscription{
		ID: "sub_victims", Tenant: "t", Direction: subscription.DirectionAny, Status: subscription.StatusActive, Version: 1,
		Contracts: []string{}, Kinds: []string{},
	})
	require.NoError(t, err)
	victims := map[tron.Address]bool{}
	lookalikes := map[tron.Address]bool{}
	var docs []any
	for _, l := range s.Lookalikes() {
		victims[l.Victim] = true
		lookalikes[l.Lookalike] = true
		docs = append(docs, subscription.Address{ID: subscription.AddressDocID("sub_victims", l.Victim.String()), SubscriptionID: "sub_victims", Address: l.Victim.String()})
	}
	_, err = e.db.Collection(store.SubscriptionAddresses).InsertMany(t.Context(), docs)
	require.NoError(t, err)

	f := e.follower(t, newClient(t, url), start, false)
	stop := run(t, f)
	testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == head }, "the head")
	stop()
	require.Equal(t, follow.InternalTxsRecorded, f.InternalTxs())

	h := history(t, e.db)
	all := events(t, h["sub_all"])
	signer := signers(t, s, start, head)
	known := tron.WellKnownTokens(tron.NetworkMainnet)
	byTx := map[string][]event.Event{}
	for _, ev := range all {
		byTx[ev.TxID] = append(byTx[ev.TxID], ev)
	}

	// Every flag says what it means, on every transfer of the chain.
	for _, ev := range all {
		if !ev.Kind.IsTransfer() {
			require.Empty(t, ev.Flags, "%s: a %s carries no flags", ev.ID, ev.Kind)
			continue
		}
		require.NotNil(t, ev.Flags, "%s: a transfer says flags:[] when clean", ev.ID)
		require.Equal(t, ev.Amount.String() == "0", ev.HasFlag(event.FlagZeroAmount), "%s zero_amount", ev.ID)
		if ev.Kind == event.KindTRC20Transfer {
			_, verified := known[ev.Contract]
			require.Equal(t, !verified, ev.HasFlag(event.FlagUnverifiedToken), "%s unverified_token (%s)", ev.ID, ev.Contract)
			sg := signer[ev.TxID]
			require.Equal(t, sg != ev.From && sg != ev.To, ev.HasFlag(event.FlagThirdPartySpender), "%s third_party_spender", ev.ID)
		} else {
			require.False(t, ev.HasFlag(event.FlagThirdPartySpender), "%s: only TRC20 transfers have a spender", ev.ID)
		}
		require.False(t, ev.HasFlag(event.FlagLookalike), "%s: no watched address, no lookalike", ev.ID)
	}

	// Each trap is where the simulator put it.
	internal, memos := 0, 0
	for _, b := range rep.Blocks {
		for _, tr := range b.Traps {
			evs := byTx[tr.TxID]
			switch tr.Kind {
			case sim.TrapPoisoning, sim.TrapFakeUSDT:
				ev := findEvent(t, evs, event.KindTRC20Transfer, func(ev event.Event) bool { return ev.From == tr.From && ev.To == tr.To })
				require.Equal(t, tr.Amount.String(), ev.Amount.String(), tr.TxID)
				if tr.Kind == sim.TrapPoisoning {
					require.ElementsMatch(t, []event.Flag{event.FlagZeroAmount, event.FlagThirdPartySpender}, ev.Flags, tr.TxID)
				} else {
					require.True(t, ev.HasFlag(event.FlagUnverifiedToken), tr.TxID)
					require.False(t, ev.Token.Verified, "a fake USDT is not verified, whatever its symbol")
				}
			case sim.TrapInternalTRX:
				internal++
				ev := findEvent(t, evs, event.KindTRXInternalTransfer, func(ev event.Event) bool {
					return ev.Data != nil && ev.Data.InternalIndex != nil && *ev.Data.InternalIndex == *tr.Frame
				})
				require.Equal(t, tr.From, ev.From, tr.TxID)
				require.Equal(t, tr.To, ev.To, tr.TxID)
				require.Equal(t, tr.Amount.String(), ev.Amount.String(), tr.TxID)
				require.True(t, ev.Success)
			case sim.TrapRejectedFrame:
				for _, ev := range evs {
					if ev.Data != nil && ev.Data.InternalIndex != nil {
						require.NotEqual(t, *tr.Frame, *ev.Data.InternalIndex, "%s: a rejected frame moved nothing", tr.TxID)
					}
				}
			case sim.TrapFailedWithFrames:
				for _, ev := range evs {
					require.NotContains(t, []event.Kind{event.KindTRXInternalTransfer, event.KindTRC10InternalTransfer}, ev.Kind, "%s: a failed transaction moved nothing", tr.TxID)
				}
			case sim.TrapMemoUTF8, sim.TrapMemoHex:
				memos++
				ev := findEvent(t, evs, "", func(ev event.Event) bool { return ev.Memo != "" })
				require.Equal(t, tr.Memo, ev.Memo, tr.TxID)
				enc := "utf8"
				if tr.Kind == sim.TrapMemoHex {
					enc = "hex"
				}
				require.Equal(t, enc, ev.MemoEncoding, tr.TxID)
			}
		}
	}
	gotInternal, gotMemos := 0, 0
	for _, ev := range all {
		if ev.Kind == event.KindTRXInternalTransfer {
			gotInternal++
		}
		if ev.Memo != "" {
			gotMemos++
		}
	}
	require.Equal(t, internal, gotInternal, "an internal TRX transfer for each frame the simulator paid, none else")
	require.Equal(t, memos, gotMemos, "a memo for each the simulator wrote, none else")

	// Lookalikes are flagged for the subscription that watches the victim.
	flagged := 0
	for _, ev := range events(t, h["sub_victims"]) {
		counterparty := ev.From
		if ev.Direction == event.DirectionOut {
			counterparty = ev.To
		}
		want := ev.Kind.IsTransfer() && ev.Direction != event.DirectionSelf && lookalikes[counterparty] && !victims[counterparty]
		require.Equal(t, want, ev.HasFlag(event.FlagLookalike), "%s (%s from %s to %s)", ev.ID, ev.Direction, ev.From, ev.To)
		if want {
			flagged++
		}
	}
	require.Positive(t, flagged, "no lookalike reached a victim: the test proves little")
}

// findEvent returns the event of evs of kind (any when "") that ok
// accepts, failing when there is none.
func findEvent(t testing.TB, evs []event.Event, kind event.Kind, ok func(event.Event) bool) event.Event {
	t.Helper()
	for _, ev := range evs {
		if (kind == "" || ev.Kind == kind) && ok(ev) {
			return ev
		}
	}
	t.Fatalf("no %s event among %d of the transaction", kind, len(evs))
	return event.Event{}
}

func TestFollower_nodeWithoutInternalTxsIsDetected(t *testing.T) {
	t.Parallel()
	s, url := simtest.Start(t, sim.Config{Seed: 22, Instant: true, InitialBlocks: 30, TxsPerBlock: 40, Addresses: 300, TrapRate: 0.3, NoInternalTxs: true})
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	e := newEnv(t, m.URI(), "nointernal", n.URL())
	cfg := e.config(newClient(t, url), s.First()+1, false)
	cfg.Metrics = follow.NewMetrics(nil)
	require.NoError(t, e.mgr.Resync(t.Context()))
	f, err := follow.New(cfg)
	require.NoError(t, err)
	require.Equal(t, follow.InternalTxsUnknown, f.InternalTxs())
	run(t, f)
	head, _ := s.Head()
	testenv.WaitFor(t, 60*time.Second, func() bool { return f.Committed() == head }, "the head")
	require.Equal(t, follow.InternalTxsNotRecorded, f.InternalTxs())
}
