// Package event defines the normalised chain event of the public contract
// (docs/api.md): what the ingest stores and publishes, what the edge streams and
// pages through, and what `mongotron decode` prints.
package event

import (
	"time"

	"github.com/mongotron/mongotron/pkg/tron"
)

// Kind names what happened. Clients ignore kinds they do not know, so new
// ones may be added.
type Kind string

// The kinds of docs/api.md.
const (
	KindTRXTransfer        Kind = "trx_transfer"
	KindTRC10Transfer      Kind = "trc10_transfer"
	KindTRC20Transfer      Kind = "trc20_transfer"
	KindTRC20Approval      Kind = "trc20_approval"
	KindContractLog        Kind = "contract_log"
	KindContractCall       Kind = "contract_call"
	KindContractCreate     Kind = "contract_create"
	KindStake              Kind = "stake"
	KindUnstake            Kind = "unstake"
	KindWithdrawUnstake    Kind = "withdraw_unstake"
	KindDelegateResource   Kind = "delegate_resource"
	KindUndelegateResource Kind = "undelegate_resource"
	KindVote               Kind = "vote"
	KindRewardClaim        Kind = "reward_claim"
	KindPermissionUpdate   Kind = "permission_update"
	KindAccountCreate      Kind = "account_create"
	// KindTRXInternalTransfer is TRX a contract moved during a
	// transaction: one positive callValue, without tokenId, of an internal
	// transaction that moves value (a payout, a swap, a multisig wallet).
	// Rejected frames and failed transactions give none, and neither do
	// the frames of a contract staking, delegating or voting, whose
	// amounts never reach transferTo_address. Nodes record internal
	// transactions only with vm.saveInternalTx on.
	KindTRXInternalTransfer Kind = "trx_internal_transfer"
	// KindTRC10InternalTransfer is TRC10 a contract moved: one positive
	// callValue with a tokenId (Data.AssetID), with the same rules as
	// [KindTRXInternalTransfer].
	KindTRC10InternalTransfer Kind = "trc10_internal_transfer"
)

// Kinds lists every kind this version emits, in the order of docs/api.md.
func Kinds() []Kind {
	return []Kind{
		KindTRXTransfer, KindTRC10Transfer, KindTRC20Transfer, KindTRC20Approval,
		KindContractLog, KindContractCall, KindContractCreate, KindStake,
		KindUnstake, KindWithdrawUnstake, KindDelegateResource,
		KindUndelegateResource, KindVote, KindRewardClaim, KindPermissionUpdate,
		KindAccountCreate, KindTRXInternalTransfer, KindTRC10InternalTransfer,
	}
}

// IsTransfer reports whether k moves value from one account to another:
// the kinds that carry flags and, for TRX and TRC10, a memo.
func (k Kind) IsTransfer() bool {
	switch k {
	case KindTRXTransfer, KindTRC10Transfer, KindTRC20Transfer, KindTRXInternalTransfer, KindTRC10InternalTransfer:
		return true
	}
	return false
}

// Flag marks a transfer that looks like a known trap. A flag is a hint for
// a deposit pipeline, not a verdict: see each flag for what it does not
// prove.
type Flag string

// The flags of transfer events.
const (
	// FlagZeroAmount: the amount is zero. Address poisoning sends zero
	// (transferFrom(victim, lookalike, 0) succeeds on most tokens) so
	// that a lookalike address shows up in the victim's history. A zero
	// transfer credits nothing either way.
	FlagZeroAmount Flag = "zero_amount"
	// FlagUnverifiedToken: the token is not on the network's shipped list
	// of well-known tokens (matched by contract address, or TRC10 id,
	// never by symbol): anyone can deploy a token named "USDT". It does
	// not say the token is fake, only that Mongotron does not vouch for
	// it.
	FlagUnverifiedToken Flag = "unverified_token"
	// FlagThirdPartySpender: the transaction's signer is neither the
	// sender nor the receiver of a TRC20 transfer: a transferFrom by
	// someone else (poisoning uses it with zero amounts). Routers and
	// DEX pairs moving tokens they hold set it too, so it does not prove
	// abuse.
	FlagThirdPartySpender Flag = "third_party_spender"
	// FlagLookalike: the counterparty shares its first and last four
	// characters (base58) with one of the subscription's watched
	// addresses but is a different address, as addresses made to be
	// mistaken for yours are. Chance matches exist; it says nothing of
	// the counterparty's intent.
	FlagLookalike Flag = "lookalike"
)

// Flags lists every flag, in the order above.
func Flags() []Flag {
	return []Flag{FlagZeroAmount, FlagUnverifiedToken, FlagThirdPartySpender, FlagLookalike}
}

// Valid reports whether f is one of [Flags].
func (f Flag) Valid() bool {
	for _, x := range Flags() {
		if f == x {
			return true
		}
	}
	return false
}

// Valid reports whether k is one of [Kinds].
func (k Kind) Valid() bool {
	for _, x := range Kinds() {
		if k == x {
			return true
		}
	}
	return false
}

// Direction says how a matched event relates to the watched address.
type Direction string

// The directions of docs/api.md.
const (
	DirectionIn   Direction = "in"
	DirectionOut  Direction = "out"
	DirectionSelf Direction = "self"
	DirectionNone Direction = "none"
)

// BlockRef identifies the block an event belongs to.
type BlockRef struct {
	Number    int64     `json:"number"`
	ID        string    `json:"id"`
	Timestamp time.Time `json:"timestamp"`
}

// Token is what is known of a token. Decimals is a pointer because an
// unknown number of decimals must stay unknown, never become 0 or 18.
type Token struct {
	Symbol   string `json:"symbol,omitempty"`
	Name     string `json:"name,omitempty"`
	Decimals *int   `json:"decimals,omitempty"`
	// Verified is true when the token is on the network's shipped list of
	// well-known tokens, matched by contract address (TRC10: token id);
	// TRX is always verified. Symbol and name are what the contract says
	// of itself and prove nothing.
	Verified bool `json:"verified"`
}

// Vote is one line of a VoteWitnessContract.
type Vote struct {
	Address tron.Address `json:"address"`
	Count   int64        `json:"count"`
}

// Data holds the kind-specific extras of an event. Every field is optional.
type Data struct {
	// ContractType is the Tron contract type the event came from
	// ("TransferContract", …); absent for log events. For internal
	// transfers it is the type of the transaction's first contract, absent
	// when the event was decoded from a transaction info alone.
	ContractType string `json:"contract_type,omitempty"`
	// Topics and Data are the raw log, hex, for contract_log and the log
	// kinds.
	Topics []string `json:"topics,omitempty"`
	Data   string   `json:"data,omitempty"`
	// LogIndex is the position of the log in its transaction.
	LogIndex *int `json:"log_index,omitempty"`
	// Method is the 4-byte selector of a contract call, hex.
	Method string `json:"method,omitempty"`
	// CallTokenID and CallTokenValue are the TRC10 sent with a call.
	CallTokenID    string `json:"call_token_id,omitempty"`
	CallTokenValue string `json:"call_token_value,omitempty"`
	// AssetID is the TRC10 token id of a trc10_transfer or
	// trc10_internal_transfer (before mainnet block 5,537,806, the token's
	// name, which the node used then).
	AssetID string `json:"asset_id,omitempty"`
	// Resource is BANDWIDTH, ENERGY or TRON_POWER for stake and delegation
	// kinds.
	Resource string `json:"resource,omitempty"`
	// Lock and LockPeriod describe a locked delegation.
	Lock       bool  `json:"lock,omitempty"`
	LockPeriod int64 `json:"lock_period,omitempty"`
	// Votes are the votes of a vote event.
	Votes []Vote `json:"votes,omitempty"`
	// Receipt is the receipt result when it is not SUCCESS
	// ("REVERT", "OUT_OF_ENERGY", …), and Message the node's decoded
	// resMessage, so a failed event says why.
	Receipt string `json:"receipt,omitempty"`
	Message string `json:"message,omitempty"`
	// InternalIndex is the position (0-based) of an internal transfer's
	// frame in the receipt's internal_transactions, InternalHash the
	// frame's hash, and Note its note as text ("call", "create",
	// "suicide", …). The event's Index is not the frame's position: see
	// [Event.Index].
	InternalIndex *int   `json:"internal_index,omitempty"`
	InternalHash  string `json:"internal_hash,omitempty"`
	Note          string `json:"note,omitempty"`
}

// Event is one normalised chain event, in the shape of docs/api.md. Fields that
// belong to a subscription (Cursor, SubscriptionID, Watched, Direction) are
// empty until the ingest matches the event to one.
//
// ID is "<tx_id>:<index>", the same whenever and wherever the event is
// decoded. Index is the event's position in its transaction: 0 … C-1 for
// its C contracts, then C … C+L-1 for its L logs in receipt order, then
// C+L+k for the internal transfer of the k-th callValueInfo entry over all
// its internal transactions (entries that give no event are counted too),
// so that indexes never collide or shift.
type Event struct {
	Type   string `json:"type"`
	Cursor string `json:"cursor,omitempty"`
	// PrevCursor is the cursor of the previous event of the same
	// subscription, "" only for the subscription's very first event:
	// every event names its predecessor, so a client can check it holds
	// them all. It is exact across restarts of the ingest, a redo after a
	// crash, a leader change and a backfill's hand-over to live delivery.
	// A retraction (Removed) links like any other event. Events stored
	// before this field existed lack it in their JSON.
	PrevCursor     string       `json:"prev_cursor"`
	ID             string       `json:"id"`
	SubscriptionID string       `json:"subscription_id,omitempty"`
	Kind           Kind         `json:"kind"`
	Network        string       `json:"network"`
	Block          BlockRef     `json:"block"`
	TxID           string       `json:"tx_id"`
	TxIndex        int          `json:"tx_index"`
	Index          int          `json:"index"`
	Success        bool         `json:"success"`
	Confirmations  int          `json:"confirmations"`
	Removed        bool         `json:"removed"`
	Watched        tron.Address `json:"watched,omitzero"`
	Direction      Direction    `json:"direction,omitempty"`
	From           tron.Address `json:"from,omitzero"`
	To             tron.Address `json:"to,omitzero"`
	Contract       tron.Address `json:"contract,omitzero"`
	Token          *Token       `json:"token,omitempty"`
	Amount         tron.Amount  `json:"amount,omitzero"`
	AmountDecimal  string       `json:"amount_decimal,omitempty"`
	// Flags are set on every transfer kind ([Kind.IsTransfer]): empty
	// (not absent) when clean, absent on every other kind. The decoder
	// sets zero_amount, unverified_token and third_party_spender; the
	// ingest adds lookalike per subscription. The slice may be shared by
	// copies of an event: change it only through [Event.AddFlag].
	Flags []Flag `json:"flags,omitzero"`
	// Memo is the transaction's raw_data.data on TRX and TRC10 transfers,
	// absent when empty (internal transfers have none): free text the
	// sender chose, unauthenticated and unchecked (scam links, sometimes
	// hidden with zero-width characters, are common; escape it before
	// showing it). MemoEncoding is "utf8" when Memo is that text, "hex"
	// when the bytes were not valid UTF-8 and Memo is their lower-case
	// hex.
	Memo         string `json:"memo,omitempty"`
	MemoEncoding string `json:"memo_encoding,omitempty"`
	// Solidified is true when the event's block was irreversible
	// (solidified: 19 of the 27 producers built on it) when the event was
	// delivered. Events of a subscription with finality "solidified" are
	// always solidified; other events may be, deep enough.
	Solidified bool  `json:"solidified"`
	Data       *Data `json:"data,omitempty"`
}

// AddFlag adds f once.
func (e *Event) AddFlag(f Flag) {
	for _, x := range e.Flags {
		if x == f {
			return
		}
	}
	// Copies of an event share their Flags array: never append into it.
	e.Flags = append(e.Flags[:len(e.Flags):len(e.Flags)], f)
}

// HasFlag reports whether e carries f.
func (e *Event) HasFlag(f Flag) bool {
	for _, x := range e.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// TypeEvent is the value of Event.Type.
const TypeEvent = "event"

// Before reports whether e comes before o in chain order: block, then
// transaction, then index.
func (e *Event) Before(o *Event) bool {
	if e.Block.Number != o.Block.Number {
		return e.Block.Number < o.Block.Number
	}
	if e.TxIndex != o.TxIndex {
		return e.TxIndex < o.TxIndex
	}
	return e.Index < o.Index
}

// Parties returns the accounts an event involves, for address matching:
// from, to and vote targets, without zero ones. The contract is matched
// separately, by a subscription's contracts.
func (e *Event) Parties() []tron.Address {
	out := make([]tron.Address, 0, 3)
	for _, a := range [...]tron.Address{e.From, e.To} {
		if !a.IsZero() {
			out = append(out, a)
		}
	}
	if e.Data != nil {
		for _, v := range e.Data.Votes {
			out = append(out, v.Address)
		}
	}
	return out
}
