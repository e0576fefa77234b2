// Package seed fills a Mongotron store with a large synthetic history, as
// the ingest would have written it: subscriptions owned by one API key,
// and their events, history pages and heads. It exists to measure the
// history read paths (REST pages, `mongotron history`, stream and webhook
// replay) at a size no test reaches; `make bench-scale` uses it.
//
// Everything a seed writes follows from its [Plan]: the same plan gives
// the same subscriptions, cursors and events, so a benchmark can name any
// seeded event without keeping a million cursors.
package seed

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Plan is what a seed writes: Events events over Subscriptions
// subscriptions, the first of which (the heavy one) holds HeavyEvents of
// them and the others an even share of the rest. One heavy subscription
// gives the benchmarks a long history to page through and replay; the
// others, many short ones to pick random points from.
type Plan struct {
	// Events is how many events in all; at least Subscriptions.
	Events int
	// Subscriptions is how many subscriptions; at least 1.
	Subscriptions int
	// HeavyEvents is how many of the events the first subscription holds.
	// Zero (or more than its share allows) gives it an even share.
	HeavyEvents int
	// Seed varies the ids, addresses and events.
	Seed uint64
	// End is the time of the newest seeded block; the blocks before it
	// are 3 s apart, as Tron's are.
	End time.Time
}

// blockSpacing is the time between Tron blocks.
const blockSpacing = 3 * time.Second

// firstBlock is the number of the first seeded block: far below the
// simulator's chain (60,000,000 on), so the two never meet.
const firstBlock = 40_000_000

// stepBase is the ingest step of the first seeded block. The ingest
// numbers its steps from 1; a seeded subscription is never delivered
// live, so its cursors only need to rise within it.
const stepBase = 1

// heavy returns how many events the first subscription holds.
func (p Plan) heavy() int {
	if p.Subscriptions <= 1 {
		return p.Events
	}
	even := p.Events / p.Subscriptions
	h := p.HeavyEvents
	// The others keep one event each at least.
	if h <= 0 || h > p.Events-(p.Subscriptions-1) {
		h = even
	}
	return max(h, 1)
}

// Count returns how many events subscription i (from 0) holds.
func (p Plan) Count(i int) int {
	h := p.heavy()
	if i == 0 {
		return h
	}
	rest, others := p.Events-h, p.Subscriptions-1
	n := rest / others
	if i-1 < rest%others {
		n++
	}
	return n
}

// Blocks returns how many blocks the seeded chain spans: as many as the
// longest history, so the heavy subscription has an event in every block.
func (p Plan) Blocks() int64 {
	return int64(max(p.Count(0), p.Count(1), 1))
}

// hash returns bytes derived from the plan's seed and parts.
func (p Plan) hash(parts ...any) [32]byte {
	return sha256.Sum256(fmt.Append(nil, append([]any{p.Seed}, parts...)...))
}

// SubscriptionID returns subscription i's id, shaped like the edge's.
func (p Plan) SubscriptionID(i int) string {
	h := p.hash("sub", i)
	return subscription.IDPrefix + hex.EncodeToString(h[:12])
}

// address returns an account address derived from the seed and parts.
func (p Plan) address(parts ...any) tron.Address {
	h := p.hash(append([]any{"addr"}, parts...)...)
	var a tron.Address
	a[0] = 0x41
	copy(a[1:], h[:20])
	return a
}

// Watched returns the address subscription i watches: no chain the
// simulator makes uses it, so no live event ever joins a seeded history.
func (p Plan) Watched(i int) tron.Address { return p.address("watched", i) }

// block returns the offset from the first seeded block of event seq of
// subscription i, and the event's place among that subscription's events
// of the block. A history is spread evenly over the chain.
func (p Plan) block(i, seq int) (b int64, k int) {
	n, t := int64(p.Count(i)), p.Blocks()
	b = int64(seq) * t / n
	first := (b*n + t - 1) / t // the first seq in block b
	return b, seq - int(first)
}

// Cursor returns the cursor of event seq (from 0) of subscription i:
// the step of its block, and its place in the step. Within a step the
// subscriptions' events are kept apart by the subscription's number.
func (p Plan) Cursor(i, seq int) string {
	b, k := p.block(i, seq)
	return cursor.Cursor{Step: stepBase + uint64(b), Pos: uint64(i)<<20 | uint64(k)}.String()
}

// blockRef returns the seeded block at offset b.
func (p Plan) blockRef(b int64) event.BlockRef {
	num := firstBlock + b
	h := p.hash("block", num)
	// A Tron block id: the number in its first 8 bytes.
	binary.BigEndian.PutUint64(h[:8], uint64(num))
	return event.BlockRef{
		Number:    num,
		ID:        hex.EncodeToString(h[:]),
		Timestamp: p.End.Add(-time.Duration(p.Blocks()-1-b) * blockSpacing).UTC().Truncate(time.Millisecond),
	}
}

// The shares of the kinds, in percent, as a busy address sees them.
var kindMix = []struct {
	kind  event.Kind
	share int
}{
	{event.KindTRC20Transfer, 40},
	{event.KindTRXTransfer, 30},
	{event.KindContractCall, 10},
	{event.KindTRC20Approval, 5},
	{event.KindTRC10Transfer, 5},
	{event.KindVote, 5},
	{event.KindStake, 5},
}

var (
	six        = 6
	trxToken   = event.Token{Symbol: "TRX", Decimals: &six, Verified: true}
	usdtToken  = event.Token{Symbol: "USDT", Name: "Tether USD", Decimals: &six, Verified: true}
	usdt, _    = tron.ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	transferID = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
	approvalID = "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
)

// Event returns event seq (from 0) of subscription i as the ingest would
// deliver it: its cursor, its link to the one before, the subscription's
// watched address on one side.
func (p Plan) Event(i, seq int) *event.Event {
	h := p.hash("event", i, seq)
	b, _ := p.block(i, seq)
	watched := p.Watched(i)
	other := p.address("party", h[0]%64, h[1])
	txID := hex.EncodeToString(h[:])
	roll := int(binary.BigEndian.Uint16(h[2:4]) % 100)
	kind := kindMix[0].kind
	for _, m := range kindMix {
		if roll < m.share {
			kind = m.kind
			break
		}
		roll -= m.share
	}
	amount := binary.BigEndian.Uint64(h[4:12]) % 10_000_000_000
	ev := &event.Event{
		Type:           event.TypeEvent,
		Cursor:         p.Cursor(i, seq),
		ID:             txID + ":0",
		SubscriptionID: p.SubscriptionID(i),
		Kind:           kind,
		Network:        "mainnet",
		Block:          p.blockRef(b),
		TxID:           txID,
		TxIndex:        int(h[12]) % 200,
		Success:        true,
		Confirmations:  subscription.DefaultConfirmations,
		Watched:        watched,
		Solidified:     true,
	}
	if seq > 0 {
		ev.PrevCursor = p.Cursor(i, seq-1)
	}
	from, to := watched, other
	ev.Direction = event.DirectionOut
	if h[13]%2 == 0 {
		from, to = other, watched
		ev.Direction = event.DirectionIn
	}
	switch kind {
	case event.KindTRXTransfer:
		ev.From, ev.To = from, to
		ev.Amount = tron.AmountFromUint64(amount)
		ev.AmountDecimal = ev.Amount.Decimal(6)
		ev.Token = &trxToken
		ev.Flags = []event.Flag{}
		ev.Data = &event.Data{ContractType: "TransferContract"}
	case event.KindTRC10Transfer:
		ev.From, ev.To = from, to
		ev.Amount = tron.AmountFromUint64(amount)
		ev.AmountDecimal = ev.Amount.String()
		ev.Token = &event.Token{Symbol: "BTT", Verified: false}
		ev.Flags = []event.Flag{event.FlagUnverifiedToken}
		ev.Data = &event.Data{ContractType: "TransferAssetContract", AssetID: "1002000"}
	case event.KindTRC20Transfer, event.KindTRC20Approval:
		ev.From, ev.To = from, to
		ev.Contract = usdt
		ev.Amount = tron.AmountFromUint64(amount)
		ev.AmountDecimal = ev.Amount.Decimal(6)
		ev.Token = &usdtToken
		ev.Index = 1
		ev.ID = txID + ":1"
		topic := transferID
		if kind == event.KindTRC20Approval {
			topic = approvalID
		} else {
			ev.Flags = []event.Flag{}
		}
		word := func(a tron.Address) string { return "000000000000000000000000" + hex.EncodeToString(a.EVM()) }
		logIndex := 0
		ev.Data = &event.Data{
			Topics:   []string{topic, word(from), word(to)},
			Data:     fmt.Sprintf("%064x", amount),
			LogIndex: &logIndex,
		}
	case event.KindContractCall:
		ev.From, ev.To = watched, usdt
		ev.Direction = event.DirectionOut
		ev.Contract = usdt
		ev.Data = &event.Data{ContractType: "TriggerSmartContract", Method: "a9059cbb"}
	case event.KindVote:
		ev.From = watched
		ev.Direction = event.DirectionOut
		ev.Data = &event.Data{ContractType: "VoteWitnessContract", Votes: []event.Vote{
			{Address: p.address("witness", h[14]%27), Count: int64(amount%100_000) + 1},
		}}
	case event.KindStake:
		ev.From = watched
		ev.Direction = event.DirectionOut
		ev.Amount = tron.AmountFromUint64(amount)
		ev.AmountDecimal = ev.Amount.Decimal(6)
		ev.Token = &trxToken
		ev.Data = &event.Data{ContractType: "FreezeBalanceV2Contract", Resource: "ENERGY"}
	}
	return ev
}

// Doc returns the stored document of event seq of subscription i, stored
// when its block was made.
func (p Plan) Doc(i, seq int) (store.EventDoc, error) {
	ev := p.Event(i, seq)
	d, err := store.NewEventDoc(ev, ev.Block.Timestamp)
	if err != nil {
		return store.EventDoc{}, fmt.Errorf("seed: event %d of subscription %d: %w", seq, i, err)
	}
	return d, nil
}

// Subscription returns subscription i's document, shaped as the edge
// stores one created with {"label", "addresses": [watched],
// "confirmations": 19}, owned by tenant.
func (p Plan) Subscription(i int, tenant string, now time.Time) subscription.Subscription {
	now = now.UTC().Truncate(time.Millisecond)
	return subscription.Subscription{
		ID:            p.SubscriptionID(i),
		Tenant:        tenant,
		Label:         "seed " + strconv.Itoa(i),
		Contracts:     []string{},
		Kinds:         []string{},
		Direction:     subscription.DirectionAny,
		OnlySuccess:   true,
		Confirmations: subscription.DefaultConfirmations,
		Finality:      subscription.FinalityConfirmations,
		ExcludeFlags:  []string{},
		Metadata:      map[string]any{"seed": strconv.FormatUint(p.Seed, 10)},
		Status:        subscription.StatusActive,
		AddressCount:  1,
		CreatedAt:     now,
		UpdatedAt:     now,
		Version:       1,
	}
}

// Validate reports what makes the plan impossible.
func (p Plan) Validate() error {
	switch {
	case p.Subscriptions < 1:
		return fmt.Errorf("seed: %d subscriptions: want 1 at least", p.Subscriptions)
	case p.Events < p.Subscriptions:
		return fmt.Errorf("seed: %d events over %d subscriptions: want one each at least", p.Events, p.Subscriptions)
	case p.Subscriptions >= 1<<20:
		return fmt.Errorf("seed: %d subscriptions: want fewer than %d", p.Subscriptions, 1<<20)
	}
	return nil
}
