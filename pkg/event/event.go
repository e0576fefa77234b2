// Package event defines the normalised chain event of the public contract
// (API.md): what the ingest stores and publishes, what the edge streams and
// pages through, and what `mongotron decode` prints.
package event

import (
	"time"

	"github.com/mongotron/mongotron/pkg/tron"
)

// Kind names what happened. Clients ignore kinds they do not know, so new
// ones may be added.
type Kind string

// The kinds of API.md.
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
)

// Kinds lists every kind this version emits, in the order of API.md.
func Kinds() []Kind {
	return []Kind{
		KindTRXTransfer, KindTRC10Transfer, KindTRC20Transfer, KindTRC20Approval,
		KindContractLog, KindContractCall, KindContractCreate, KindStake,
		KindUnstake, KindWithdrawUnstake, KindDelegateResource,
		KindUndelegateResource, KindVote, KindRewardClaim, KindPermissionUpdate,
		KindAccountCreate,
	}
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

// The directions of API.md.
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
}

// Vote is one line of a VoteWitnessContract.
type Vote struct {
	Address tron.Address `json:"address"`
	Count   int64        `json:"count"`
}

// Data holds the kind-specific extras of an event. Every field is optional.
type Data struct {
	// ContractType is the Tron contract type the event came from
	// ("TransferContract", …); absent for log events.
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
	// AssetID is the TRC10 token id of a trc10_transfer.
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
}

// Event is one normalised chain event, in the shape of API.md. Fields that
// belong to a subscription (Cursor, SubscriptionID, Watched, Direction) are
// empty until the ingest matches the event to one.
type Event struct {
	Type           string       `json:"type"`
	Cursor         string       `json:"cursor,omitempty"`
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
	Data           *Data        `json:"data,omitempty"`
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
