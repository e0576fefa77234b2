// Package decode turns Tron blocks and transaction infos, as the full node
// returns them, into the events of the public contract.
//
// # Event ids
//
// An event's id is "<tx_id>:<index>". Within a transaction the index runs
// over three consecutive ranges, so that ids never collide and never shift:
//
//   - 0 … C-1: the transaction's contracts (C = len(raw_data.contract)),
//     one index per contract whether or not it yields an event;
//   - C … C+L-1: its logs, in receipt order (L = len(log));
//   - C+L+k: the internal transfer of the k-th callValueInfo entry, counted
//     over every frame of internal_transactions in receipt order. Entries
//     that yield no event (zero values, rejected frames, frames that move
//     no value, failed transactions) are counted too, so an id does not
//     depend on what is emitted, and a log's id does not depend on the
//     internal transactions a node saves.
//
// [Decoder.DecodeTxInfo], which has no contract to count, assumes C = 1,
// the single contract every mainnet transaction has.
//
// # Internal transfers
//
// A contract moves TRX and TRC10 inside a transaction through the frames
// of internal_transactions (present only on nodes run with
// vm.saveInternalTx; see [InternalStats]). Each positive callValueInfo
// entry of a frame that moved value from caller_address to
// transferTo_address is one trx_internal_transfer (no tokenId) or
// trc10_internal_transfer (tokenId, the TRC10 id) event. Frames with
// rejected set moved nothing, and no frame of a failed transaction did.
// Only the frames noted "call", "create", "suicide" and
// "withdrawExpireUnfreezeWhileSuiciding" move value from one account to
// another: the stake 2.0 frames a contract makes (freezeBalanceV2For…,
// unfreezeBalanceV2For…, delegateResourceOf…, unDelegateResourceOf…,
// withdrawReward, voteWitness, …) carry amounts too, but no TRX reaches
// transferTo_address (a delegation lends resources, the TRX stays frozen
// with the owner), so they yield no transfer event; a frame with any other
// or no note yields none either, so that nothing is ever credited on a
// guess.
//
// # Flags and memos
//
// Every transfer kind ([event.Kind.IsTransfer]) carries Flags, empty when
// clean: zero_amount, unverified_token (TRC20 contract or TRC10 id not on
// the network's built-in list; never TRX) and third_party_spender (TRC20
// transfers whose transaction signer, the owner_address of its first
// contract, is neither the sender nor the receiver; [Decoder.DecodeTxInfo]
// knows no signer and never sets it). trx_transfer and trc10_transfer carry
// the transaction's raw_data.data as Memo: text the sender chose, which
// nobody checked.
//
// Tokens of events (event.Token) are shared between events (all TRX
// events, the transfers of one token in a block) and must not be modified.
package decode

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Event signatures (topic0) the decoder recognises.
const (
	TopicTransfer = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
	TopicApproval = "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
)

// ErrMalformed is wrapped when a block or transaction info cannot be
// decoded: bad hex, a missing field, an info that belongs to no transaction.
var ErrMalformed = errors.New("tron: malformed data")

// DecoderConfig configures a [Decoder].
type DecoderConfig struct {
	// Network is written into every event. Empty means "mainnet".
	Network string
	// Tokens resolves TRC20 symbols and decimals, and says which tokens
	// are verified (TokenInfo.Verified; only built-in table entries are).
	// Nil means the built-in table of Network. TRC10 tokens are always
	// looked up in the built-in [tron.WellKnownTRC10] table of Network.
	Tokens tron.TokenLookup
	// SkipVerify turns off the block id and txID checks. They are on by
	// default because a node or proxy that corrupts data must not make us
	// publish wrong events; only decoding of partial, offline data needs
	// this.
	SkipVerify bool
	// PartialInfos lets a block decode when some of its transactions have
	// no info (a recorded block, a pruned node): those decode from the
	// block alone, without logs or receipt amounts. It is off by default
	// because at the head a missing info means the node is not done with
	// the block, and decoding then would lose the transaction's logs for
	// good.
	PartialInfos bool
}

// Decoder turns blocks and transaction infos into events. It holds no
// mutable state and is safe for concurrent use.
type Decoder struct {
	network string
	tokens  tron.TokenLookup
	trc10   tron.StaticTRC10
	verify  bool
	partial bool
}

// NewDecoder returns a decoder for cfg.
func NewDecoder(cfg DecoderConfig) *Decoder {
	d := &Decoder{network: cfg.Network, tokens: cfg.Tokens, verify: !cfg.SkipVerify, partial: cfg.PartialInfos}
	if d.network == "" {
		d.network = tron.NetworkMainnet
	}
	if d.tokens == nil {
		d.tokens = tron.WellKnownTokens(d.network)
	}
	d.trc10 = tron.WellKnownTRC10(d.network)
	return d
}

// Network returns the network name the decoder writes into events.
func (d *Decoder) Network() string { return d.network }

var (
	sixDecimals = 6
	trxToken    = &event.Token{Symbol: "TRX", Decimals: &sixDecimals, Verified: true}
)

// BlockRef returns the reference events of b carry.
func BlockRef(b *tron.Block) event.BlockRef {
	return event.BlockRef{
		Number:    b.BlockHeader.RawData.Number,
		ID:        b.BlockID,
		Timestamp: time.UnixMilli(b.BlockHeader.RawData.Timestamp).UTC(),
	}
}

// DecodeBlock returns the events of a block in chain order (transaction,
// then index). infos are the block's transaction infos
// (gettransactioninfobyblocknum); nil means none are available, and then
// only what the block alone tells is decoded (no logs, no receipt amounts).
// A non-nil infos must hold one info per transaction.
func (d *Decoder) DecodeBlock(b *tron.Block, infos []tron.TxInfo) ([]event.Event, error) {
	if d.verify {
		if err := tron.VerifyBlockID(b); err != nil {
			return nil, err
		}
	}
	ref := BlockRef(b)
	var tokens tokenCache
	byID, err := matchInfos(b, infos, d.partial)
	if err != nil {
		return nil, err
	}
	out := make([]event.Event, 0, eventsCap(b, infos))
	for i := range b.Transactions {
		tx := &b.Transactions[i]
		if d.verify {
			if err := tron.VerifyTxID(tx); err != nil {
				return nil, fmt.Errorf("block %d: %w", ref.Number, err)
			}
		}
		var info *tron.TxInfo
		if infos != nil {
			info = byID(i, tx.TxID)
			if info == nil && !d.partial {
				return nil, fmt.Errorf("%w: block %d: no transaction info for %s", ErrMalformed, ref.Number, tx.TxID)
			}
		}
		out, err = d.appendTx(out, ref, i, tx, info, &tokens)
		if err != nil {
			return nil, fmt.Errorf("block %d tx %s: %w", ref.Number, tx.TxID, err)
		}
	}
	return out, nil
}

// eventsCap bounds the events of a block from above, so that the result
// is allocated once: one per contract, log and positive internal value.
func eventsCap(b *tron.Block, infos []tron.TxInfo) int {
	n := 0
	for i := range b.Transactions {
		n += len(b.Transactions[i].RawData.Contract)
	}
	for i := range infos {
		n += len(infos[i].Log)
		for _, f := range infos[i].InternalTransactions {
			if f.Rejected {
				continue
			}
			for _, v := range f.CallValueInfo {
				if v.CallValue > 0 {
					n++
				}
			}
		}
	}
	return n
}

// matchInfos pairs infos with transactions. The node returns them in
// transaction order, so the positional guess nearly always hits; the map is
// built only when it does not. An info that belongs to no transaction is
// always an error: it means the node answered for another block.
func matchInfos(b *tron.Block, infos []tron.TxInfo, partial bool) (func(int, string) *tron.TxInfo, error) {
	if infos == nil {
		return nil, nil
	}
	n := b.BlockHeader.RawData.Number
	if len(infos) != len(b.Transactions) && !partial || len(infos) > len(b.Transactions) {
		return nil, fmt.Errorf("%w: block %d has %d transactions but %d transaction infos", ErrMalformed, n, len(b.Transactions), len(infos))
	}
	var m map[string]*tron.TxInfo
	if len(infos) != len(b.Transactions) {
		m = make(map[string]*tron.TxInfo, len(infos))
		for j := range infos {
			m[infos[j].ID] = &infos[j]
		}
		for i := range b.Transactions {
			delete(m, b.Transactions[i].TxID)
		}
		for id := range m {
			return nil, fmt.Errorf("%w: block %d: transaction info %.80q belongs to no transaction of the block", ErrMalformed, n, id)
		}
		m = nil
	}
	return func(i int, id string) *tron.TxInfo {
		if i < len(infos) && infos[i].ID == id {
			return &infos[i]
		}
		if m == nil {
			m = make(map[string]*tron.TxInfo, len(infos))
			for j := range infos {
				m[infos[j].ID] = &infos[j]
			}
		}
		return m[id]
	}, nil
}

// DecodeTxInfo decodes what a transaction info alone tells: its logs (TRC20
// transfers, approvals and other logs), then its internal transfers, and,
// with no contract to read, no contract event. Indexes assume the single
// contract every mainnet transaction has, so ids match those of
// [Decoder.DecodeBlock]. Without the transaction there is no signer, so
// third_party_spender is never set, and internal transfers have no
// Data.ContractType. txIndex is the transaction's position in its block, or
// -1 when unknown.
func (d *Decoder) DecodeTxInfo(info *tron.TxInfo, txIndex int) ([]event.Event, error) {
	if len(info.ID) != 64 {
		return nil, fmt.Errorf("%w: transaction info id %.80q: want 64 hex digits", ErrMalformed, info.ID)
	}
	if _, err := hex.DecodeString(info.ID); err != nil {
		return nil, fmt.Errorf("%w: transaction info id %.80q is not hex", ErrMalformed, info.ID)
	}
	ref := event.BlockRef{Number: info.BlockNumber}
	if info.BlockTimeStamp != 0 {
		ref.Timestamp = time.UnixMilli(info.BlockTimeStamp).UTC()
	}
	ok, receipt, msg := txResult(nil, info)
	var tokens tokenCache
	out, err := d.appendLogs(nil, ref, txIndex, info.ID, 1, info, ok, receipt, msg, tron.Address{}, &tokens)
	if err != nil || !ok {
		return out, err
	}
	return d.appendInternal(out, ref, txIndex, info.ID, 1+len(info.Log), info, "")
}

func (d *Decoder) appendTx(out []event.Event, ref event.BlockRef, txIndex int, tx *tron.Transaction, info *tron.TxInfo, tokens *tokenCache) ([]event.Event, error) {
	ok, receipt, msg := txResult(tx, info)
	contracts := tx.RawData.Contract
	// signer is the owner of the first contract, the account that signed
	// the transaction; zero when unknown.
	var signer tron.Address
	for ci := range contracts {
		c := &contracts[ci]
		// ret holds one result per contract; the first is the
		// transaction's own for the single-contract case.
		cok := ok
		if ci < len(tx.Ret) && tx.Ret[ci].ContractRet != "" && tx.Ret[ci].ContractRet != "SUCCESS" {
			cok = false
		}
		e := event.Event{
			Type:    event.TypeEvent,
			ID:      eventID(tx.TxID, ci),
			Network: d.network,
			Block:   ref,
			TxID:    tx.TxID,
			TxIndex: txIndex,
			Index:   ci,
			Success: cok,
		}
		keep, err := d.fillContract(&e, c, info, tx.RawData.Data, ref.Number)
		if err != nil {
			return out, fmt.Errorf("contract %d (%s): %w", ci, c.Type, err)
		}
		if ci == 0 {
			signer = e.From
		}
		if !keep {
			continue
		}
		if !cok && (receipt != "" || msg != "") {
			if e.Data == nil {
				e.Data = &event.Data{}
			}
			e.Data.Receipt, e.Data.Message = receipt, msg
		}
		out = append(out, e)
	}
	if info == nil {
		return out, nil
	}
	out, err := d.appendLogs(out, ref, txIndex, tx.TxID, len(contracts), info, ok, receipt, msg, signer, tokens)
	if err != nil || !ok {
		return out, err
	}
	contractType := ""
	if len(contracts) > 0 {
		contractType = contracts[0].Type
	}
	return d.appendInternal(out, ref, txIndex, tx.TxID, len(contracts)+len(info.Log), info, contractType)
}

// txResult says whether a transaction succeeded, from the block's
// contractRet and the receipt, and if not, why.
func txResult(tx *tron.Transaction, info *tron.TxInfo) (ok bool, receipt, msg string) {
	ok = true
	if tx != nil && len(tx.Ret) > 0 && tx.Ret[0].ContractRet != "" && tx.Ret[0].ContractRet != "SUCCESS" {
		ok, receipt = false, tx.Ret[0].ContractRet
	}
	if info != nil {
		if info.Result != "" && info.Result != "SUCCESS" {
			ok = false
		}
		if r := info.Receipt.Result; r != "" && r != "SUCCESS" {
			ok, receipt = false, r
		}
		if !ok && info.ResMessage != "" {
			msg = decodeMessage(info.ResMessage)
		}
	}
	return ok, receipt, msg
}

// decodeMessage turns the hex resMessage into text when it is valid UTF-8,
// and keeps the hex otherwise.
func decodeMessage(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil || !utf8.Valid(b) {
		return h
	}
	return string(b)
}

func eventID(txID string, index int) string {
	// One allocation: strconv.Itoa returns interned strings for small
	// indexes, and the concatenation sizes its result once.
	return txID + ":" + strconv.Itoa(index)
}

// fillContract fills e from contract c. memo is the transaction's
// raw_data.data (hex) and block its block number.
func (d *Decoder) fillContract(e *event.Event, c *tron.Contract, info *tron.TxInfo, memo string, block int64) (bool, error) {
	v := &c.Parameter.Value
	owner, err := optAddress(v.OwnerAddress, "owner_address")
	if err != nil {
		return false, err
	}
	e.From = owner
	switch c.Type {
	case "TransferContract":
		e.Kind = event.KindTRXTransfer
		if e.To, err = optAddress(v.ToAddress, "to_address"); err != nil {
			return false, err
		}
		setTRX(e, v.Amount, true)
		if err := setMemo(e, memo); err != nil {
			return false, err
		}
		setFlags(e, false, false)
	case "TransferAssetContract":
		e.Kind = event.KindTRC10Transfer
		if e.To, err = optAddress(v.ToAddress, "to_address"); err != nil {
			return false, err
		}
		e.Amount = tron.AmountFromInt64(v.Amount)
		name, err := hex.DecodeString(v.AssetName)
		if err != nil {
			return false, fmt.Errorf("%w: asset_name is not hex", ErrMalformed)
		}
		id := string(name)
		e.Data = &event.Data{AssetID: id}
		if err := setMemo(e, memo); err != nil {
			return false, err
		}
		setFlags(e, !d.setTRC10(e, id, block), false)
	case "TriggerSmartContract":
		e.Kind = event.KindContractCall
		if e.Contract, err = optAddress(v.ContractAddress, "contract_address"); err != nil {
			return false, err
		}
		setTRX(e, v.CallValue, false)
		data := &event.Data{}
		if len(v.Data) >= 8 {
			data.Method = v.Data[:8]
		}
		if v.CallTokenValue > 0 {
			data.CallTokenID = strconv.FormatInt(v.TokenID, 10)
			data.CallTokenValue = strconv.FormatInt(v.CallTokenValue, 10)
		}
		if data.Method != "" || data.CallTokenID != "" {
			e.Data = data
		}
	case "CreateSmartContract":
		e.Kind = event.KindContractCreate
		addr := ""
		if info != nil {
			addr = info.ContractAddress
		}
		if addr == "" && v.NewContract != nil {
			addr = v.NewContract.ContractAddress
		}
		if e.Contract, err = optAddress(addr, "contract_address"); err != nil {
			return false, err
		}
		if v.NewContract != nil {
			setTRX(e, v.NewContract.CallValue, false)
		}
	case "FreezeBalanceContract", "FreezeBalanceV2Contract":
		e.Kind = event.KindStake
		if e.To, err = optAddress(v.ReceiverAddress, "receiver_address"); err != nil {
			return false, err
		}
		setTRX(e, v.FrozenBalance, true)
		e.Data = &event.Data{Resource: resource(v.Resource)}
	case "UnfreezeBalanceContract":
		e.Kind = event.KindUnstake
		if e.To, err = optAddress(v.ReceiverAddress, "receiver_address"); err != nil {
			return false, err
		}
		if info != nil {
			setTRX(e, info.UnfreezeAmount, true)
		}
		e.Data = &event.Data{Resource: resource(v.Resource)}
	case "UnfreezeBalanceV2Contract":
		e.Kind = event.KindUnstake
		setTRX(e, v.UnfreezeBalance, true)
		e.Data = &event.Data{Resource: resource(v.Resource)}
	case "WithdrawExpireUnfreezeContract":
		e.Kind = event.KindWithdrawUnstake
		if info != nil {
			setTRX(e, info.WithdrawExpireAmount, true)
		}
	case "DelegateResourceContract", "UnDelegateResourceContract":
		e.Kind = event.KindDelegateResource
		if c.Type == "UnDelegateResourceContract" {
			e.Kind = event.KindUndelegateResource
		}
		if e.To, err = optAddress(v.ReceiverAddress, "receiver_address"); err != nil {
			return false, err
		}
		setTRX(e, v.Balance, true)
		e.Data = &event.Data{Resource: resource(v.Resource), Lock: v.Lock, LockPeriod: v.LockPeriod}
	case "VoteWitnessContract":
		e.Kind = event.KindVote
		votes := make([]event.Vote, 0, len(v.Votes))
		for _, vw := range v.Votes {
			a, err := optAddress(vw.VoteAddress, "vote_address")
			if err != nil {
				return false, err
			}
			votes = append(votes, event.Vote{Address: a, Count: vw.VoteCount})
		}
		e.Data = &event.Data{Votes: votes}
	case "WithdrawBalanceContract":
		e.Kind = event.KindRewardClaim
		if info != nil {
			setTRX(e, info.WithdrawAmount, true)
		}
	case "AccountPermissionUpdateContract":
		e.Kind = event.KindPermissionUpdate
	case "AccountCreateContract":
		e.Kind = event.KindAccountCreate
		if e.To, err = optAddress(v.AccountAddress, "account_address"); err != nil {
			return false, err
		}
	default:
		// Other contract types (witness, proposal, exchange, asset
		// issue, …) have no kind in docs/api.md yet; their logs still decode.
		return false, nil
	}
	if e.Data != nil {
		e.Data.ContractType = c.Type
	} else {
		e.Data = &event.Data{ContractType: c.Type}
	}
	return true, nil
}

// setTRX sets a TRX amount in sun; a zero amount is kept only when the kind
// always has one (a transfer of 0 is still a transfer).
func setTRX(e *event.Event, sun int64, always bool) {
	if sun == 0 && !always {
		return
	}
	e.Amount = tron.AmountFromInt64(sun)
	e.Token = trxToken
	e.AmountDecimal = e.Amount.Decimal(6)
}

func resource(r string) string {
	if r == "" {
		return "BANDWIDTH" // the enum's default, which the node omits
	}
	return r
}

func optAddress(h, field string) (tron.Address, error) {
	if h == "" {
		return tron.Address{}, nil
	}
	a, err := tron.ParseHex(h)
	if err != nil {
		return tron.Address{}, fmt.Errorf("%w: %s: %w", ErrMalformed, field, err)
	}
	return a, nil
}

// appendLogs appends the events of info's logs, indexed from base. signer
// is the transaction's signer, zero when unknown.
func (d *Decoder) appendLogs(out []event.Event, ref event.BlockRef, txIndex int, txID string, base int, info *tron.TxInfo, ok bool, receipt, msg string, signer tron.Address, tokens *tokenCache) ([]event.Event, error) {
	for li := range info.Log {
		l := &info.Log[li]
		contract, err := logAddress(l.Address)
		if err != nil {
			return out, err
		}
		e := event.Event{
			Type:     event.TypeEvent,
			ID:       eventID(txID, base+li),
			Network:  d.network,
			Block:    ref,
			TxID:     txID,
			TxIndex:  txIndex,
			Index:    base + li,
			Success:  ok,
			Contract: contract,
		}
		if !d.fillTokenLog(&e, l, tokens) {
			e.Kind = event.KindContractLog
			li := li
			e.Data = &event.Data{Topics: l.Topics, Data: l.Data, LogIndex: &li}
		} else if e.Kind == event.KindTRC20Transfer {
			thirdParty := !signer.IsZero() && signer != e.From && signer != e.To
			setFlags(&e, !e.Token.Verified, thirdParty)
		}
		if !ok {
			if e.Data == nil {
				e.Data = &event.Data{}
			}
			e.Data.Receipt, e.Data.Message = receipt, msg
		}
		out = append(out, e)
	}
	return out, nil
}

// fillTokenLog recognises TRC20 Transfer and Approval: topic0, two indexed
// addresses and one 32-byte value in data. A Transfer with the value
// indexed too is a TRC721 transfer of a token id, not an amount, so it stays
// a contract_log.
func (d *Decoder) fillTokenLog(e *event.Event, l *tron.Log, tokens *tokenCache) bool {
	if len(l.Topics) != 3 || len(l.Data) != 64 {
		return false
	}
	switch l.Topics[0] {
	case TopicTransfer:
		e.Kind = event.KindTRC20Transfer
	case TopicApproval:
		e.Kind = event.KindTRC20Approval
	default:
		return false
	}
	var w [32]byte
	if !wordAddress(l.Topics[1], &w, &e.From) || !wordAddress(l.Topics[2], &w, &e.To) {
		e.From, e.To = tron.Address{}, tron.Address{}
		return false
	}
	if _, err := hex.Decode(w[:], []byte(l.Data)); err != nil {
		e.From, e.To = tron.Address{}, tron.Address{}
		return false
	}
	e.Amount = tron.AmountFromWord(w[:])
	if t, ok := d.tokens.Token(e.Contract); ok {
		e.Token = tokens.get(e.Contract, t)
		if t.Decimals >= 0 {
			e.AmountDecimal = e.Amount.Decimal(t.Decimals)
		}
	} else {
		// Unknown, and so unverified: the contract's own symbol() would
		// prove nothing.
		e.Token = &event.Token{}
	}
	return true
}

// tokenCache shares one event.Token per token contract among the events
// of one decode call: most logs of a block are of a few tokens, and a
// token per event would be an allocation per event. An entry serves only
// for the same answer of the lookup, which may learn during the call.
type tokenCache struct {
	n     int
	addrs [8]tron.Address
	infos [8]tron.TokenInfo
	toks  [8]*event.Token
}

func (c *tokenCache) get(a tron.Address, t tron.TokenInfo) *event.Token {
	for i := 0; i < c.n; i++ {
		if c.addrs[i] == a && c.infos[i] == t {
			return c.toks[i]
		}
	}
	tok := &event.Token{Symbol: t.Symbol, Name: t.Name, Verified: t.Verified}
	if t.Decimals >= 0 {
		dec := t.Decimals
		tok.Decimals = &dec
	}
	if c.n < len(c.toks) {
		c.addrs[c.n], c.infos[c.n], c.toks[c.n] = a, t, tok
		c.n++
	}
	return tok
}

func wordAddress(topic string, w *[32]byte, dst *tron.Address) bool {
	if len(topic) != 64 {
		return false
	}
	if _, err := hex.Decode(w[:], []byte(topic)); err != nil {
		return false
	}
	a, ok := tron.AddressFromWord(w[:])
	*dst = a
	return ok
}

// logAddress reads a log's contract address: 20 bytes hex as the node sends
// it, or 21 with the 41 prefix as some proxies rewrite it.
func logAddress(h string) (tron.Address, error) {
	if h == "" {
		return tron.Address{}, nil
	}
	a, err := tron.ParseHex(h)
	if err != nil {
		return tron.Address{}, fmt.Errorf("%w: log address: %w", ErrMalformed, err)
	}
	return a, nil
}
