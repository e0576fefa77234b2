package sim

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/internal/gen"
)

// Trap is one trap of a synthetic block: a transaction, and for those that
// hold several, the internal transaction (Frame) or log (LogIndex) it is
// about. Its fields:
//
//   - Kind: one of the TrapKind constants below; TxID and TxIndex locate
//     the transaction in its block.
//   - Scenario: what the transaction does (swap_to_trx, swap_from_trx,
//     multisend, multisig, dapp_withdraw, airdrop, poisoning, transfer;
//     "ordinary" for the plain memos of the ordinary mix, listed as
//     memo_utf8 so that every memo is, even with no traps).
//   - Frame: the index in the info's internal_transactions; LogIndex: the
//     index in its log.
//   - Contract: the contract called, or whose log it is.
//   - From, To, Amount (sun or base units, exact), TokenID (TRC10): what
//     moved, or for a rejected or failed one, would have.
//   - Frames, FramesRejected: a failed transaction's internal transactions.
//   - Signer, Victim, Lookalike: a poisoning.
//   - Memo (text, or hex when not UTF-8) and HasURL: a memo.
//
// Addresses are base58 in JSON; fields that do not apply are left out.
type Trap = gen.Trap

// TrapKind says what a [Trap] is.
type TrapKind = gen.TrapKind

// The kinds of trap, and the events a correct pipeline makes of them.
const (
	// TrapInternalTRX: an internal transaction of a successful call
	// moving TRX (From a contract, To, Amount): one internal TRX transfer.
	TrapInternalTRX = gen.TrapInternalTRX
	// TrapInternalTRC10: the same for a TRC10 token (TokenID).
	TrapInternalTRC10 = gen.TrapInternalTRC10
	// TrapRejectedFrame: an internal transaction marked rejected in a
	// successful transaction; it moved nothing: no transfer.
	TrapRejectedFrame = gen.TrapRejectedFrame
	// TrapFailedWithFrames: a reverted call whose info still lists
	// internal transactions with values (marked rejected or not,
	// FramesRejected); nothing moved: no transfer.
	TrapFailedWithFrames = gen.TrapFailedWithFrames
	// TrapFakeUSDT: a Transfer log of a contract that answers "USDT",
	// "Tether USD" and 6 but is not USDT ([TrapContracts].FakeUSDT).
	TrapFakeUSDT = gen.TrapFakeUSDT
	// TrapPoisoning: a third party (Signer) called the real USDT's
	// transferFrom(Victim, Lookalike, 0): a zero Transfer from Victim to
	// an address with Victim's first and last four characters.
	TrapPoisoning = gen.TrapPoisoning
	// TrapNoDecimals: a Transfer log of the token whose decimals()
	// reverts ([TrapContracts].NoDecimals).
	TrapNoDecimals = gen.TrapNoDecimals
	// TrapMemoUTF8: a TRX or TRC10 transfer whose memo is UTF-8 text
	// (HasURL when it holds a link).
	TrapMemoUTF8 = gen.TrapMemoUTF8
	// TrapMemoHex: a TRX or TRC10 transfer whose memo is not UTF-8 (Memo
	// is its hex).
	TrapMemoHex = gen.TrapMemoHex
)

// TrapKinds lists every [TrapKind].
func TrapKinds() []TrapKind { return gen.TrapKinds() }

// Lookalike is a poisoning victim and the address made to look like it:
// same first four and last four base58 characters, both valid.
type Lookalike = gen.Lookalike

// BlockTraps is the traps of one block, in transaction order.
type BlockTraps struct {
	Number  int64  `json:"number"`
	BlockID string `json:"block_id"`
	Traps   []Trap `json:"traps"`
}

// TrapContracts are the token contracts the traps involve.
type TrapContracts struct {
	// USDT is the real one, whose transferFrom poisonings call.
	USDT tron.Address `json:"usdt"`
	// FakeUSDT answers symbol() "USDT", name() "Tether USD" and
	// decimals() 6 too, and shares USDT's first and last four characters.
	FakeUSDT tron.Address `json:"fake_usdt,omitzero"`
	// NoDecimals answers symbol() and name(); its decimals() reverts.
	NoDecimals tron.Address `json:"no_decimals,omitzero"`
}

// TrapReport is what [Sim.Traps] and GET /sim/traps answer.
type TrapReport struct {
	// From and To are the blocks looked at, inclusive, after clipping to
	// the chain; From > To when none was.
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// InternalTransactionsSaved is false when the node keeps no internal
	// transactions ([Config.NoInternalTxs]): the internal_trx,
	// internal_trc10, rejected_frame and failed_with_frames traps are
	// still listed, as the chain has them, but no info shows them.
	InternalTransactionsSaved bool          `json:"internal_transactions_saved"`
	Contracts                 TrapContracts `json:"contracts"`
	// Lookalikes are the victim/lookalike pairs poisonings use; empty in
	// replay mode.
	Lookalikes []Lookalike `json:"lookalikes"`
	// Blocks holds the blocks that have traps, oldest first.
	Blocks []BlockTraps `json:"blocks"`
}

// Count returns how many traps of kind k the report holds; an empty k
// counts them all.
func (r TrapReport) Count(k TrapKind) int {
	n := 0
	for _, b := range r.Blocks {
		for _, t := range b.Traps {
			if k == "" || t.Kind == k {
				n++
			}
		}
	}
	return n
}

// Only returns the report with only the traps of the given kinds, and
// only the blocks that still have one.
func (r TrapReport) Only(kinds ...TrapKind) TrapReport {
	out := r
	out.Blocks = nil
	for _, b := range r.Blocks {
		var keep []Trap
		for _, t := range b.Traps {
			if slices.Contains(kinds, t.Kind) {
				keep = append(keep, t)
			}
		}
		if len(keep) > 0 {
			out.Blocks = append(out.Blocks, BlockTraps{Number: b.Number, BlockID: b.BlockID, Traps: keep})
		}
	}
	if out.Blocks == nil {
		out.Blocks = []BlockTraps{}
	}
	return out
}

// MaxTrapBlocks bounds the blocks one [Sim.Traps] call looks at: each one
// not in the cache is generated again.
const MaxTrapBlocks = 1000

// ErrTrapRange is wrapped by the error of a [Sim.Traps] range longer than
// [MaxTrapBlocks].
var ErrTrapRange = errors.New("tronsim: trap range too long")

// Traps lists the traps of blocks from to to, inclusive, clipped to the
// chain (first block to head): what each trap transaction is, so that an
// end-to-end test can require a pipeline to flag each one exactly where
// it is, and nothing else. The list is deterministic by seed, as the
// blocks are; after a reorg it describes the new blocks. A replayed
// chain has no traps.
func (s *Sim) Traps(from, to int64) (TrapReport, error) {
	head, _ := s.src.head()
	from, to = max(from, s.src.first()), min(to, head)
	r := TrapReport{
		From: from, To: to,
		InternalTransactionsSaved: !s.cfg.NoInternalTxs,
		Contracts:                 s.TrapContracts(),
		Lookalikes:                s.Lookalikes(),
		Blocks:                    []BlockTraps{},
	}
	if to-from+1 > MaxTrapBlocks {
		return r, fmt.Errorf("%w: %d blocks from %d, at most %d", ErrTrapRange, to-from+1, from, MaxTrapBlocks)
	}
	for n := from; n <= to; n++ {
		e, err := s.src.entry(n)
		if errors.Is(err, ErrNoBlock) {
			continue
		}
		if err != nil {
			return r, err
		}
		if len(e.traps) > 0 {
			r.Blocks = append(r.Blocks, BlockTraps{Number: n, BlockID: e.block.BlockID, Traps: e.traps})
		}
	}
	return r, nil
}

// Lookalikes returns the victim/lookalike pairs the poisonings use: the
// victims are in the population, so tests can watch them from the start.
// Nil in replay mode.
func (s *Sim) Lookalikes() []Lookalike {
	if s.gen == nil {
		return nil
	}
	return s.gen.Lookalikes()
}

// TrapContracts returns the addresses of the tokens the traps involve.
func (s *Sim) TrapContracts() TrapContracts {
	c := TrapContracts{USDT: gen.MainnetTokens()[0].Address}
	if s.gen != nil {
		t := s.gen.TrapTokens()
		c.FakeUSDT, c.NoDecimals = t[0].Address, t[1].Address
	}
	return c
}

// handleTraps answers GET /sim/traps?from=&to=&kind=: the traps of blocks
// from..to (default: the last 100 up to the head), of the given kinds
// (comma separated; default all).
func (s *Sim) handleTraps(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeJSONValue(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET"})
		return
	}
	q := r.URL.Query()
	head, _ := s.src.head()
	to, err := queryInt(q.Get("to"), head)
	if err != nil {
		writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": "to: " + err.Error()})
		return
	}
	from, err := queryInt(q.Get("from"), max(s.src.first(), min(to, head)-99))
	if err != nil {
		writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": "from: " + err.Error()})
		return
	}
	var kinds []TrapKind
	if k := q.Get("kind"); k != "" {
		for _, name := range strings.Split(k, ",") {
			kind := TrapKind(strings.TrimSpace(name))
			if !slices.Contains(TrapKinds(), kind) {
				writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("kind %q: want one of %v", kind, TrapKinds())})
				return
			}
			kinds = append(kinds, kind)
		}
	}
	rep, err := s.Traps(from, to)
	if errors.Is(err, ErrTrapRange) {
		writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		s.log.Error("listing traps", "err", err)
		writeJSONValue(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if kinds != nil {
		rep = rep.Only(kinds...)
	}
	writeJSONValue(w, http.StatusOK, rep)
}

func queryInt(v string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	return strconv.ParseInt(v, 10, 64)
}
