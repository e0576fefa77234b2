package decode

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// valueNotes are the notes of the internal frames whose callValueInfo
// moved from caller_address to transferTo_address (java-tron Program:
// callToAddress "call", createContract "create", suicide "suicide" and,
// for the expired unfrozen TRX a suicided contract leaves to its heir,
// "withdrawExpireUnfreezeWhileSuiciding").
var valueNotes = [...]string{"call", "create", "suicide", "withdrawExpireUnfreezeWhileSuiciding"}

// valueNotesHex are valueNotes as the node sends them, hex.
var valueNotesHex = func() (h [len(valueNotes)]string) {
	for i, n := range valueNotes {
		h[i] = hex.EncodeToString([]byte(n))
	}
	return h
}()

// valueNote returns the text of note, hex, when an internal frame with it
// moved its callValueInfo from caller to transferTo.
func valueNote(note string) (string, bool) {
	for i, n := range valueNotesHex {
		if note == n {
			return valueNotes[i], true
		}
	}
	if strings.ContainsAny(note, "ABCDEF") {
		return valueNote(strings.ToLower(note))
	}
	return "", false
}

// appendInternal appends the internal transfers of a successful
// transaction's info, indexed from base (see the package doc for the id
// scheme). contractType is the transaction's contract type, "" when
// unknown.
func (d *Decoder) appendInternal(out []event.Event, ref event.BlockRef, txIndex int, txID string, base int, info *tron.TxInfo, contractType string) ([]event.Event, error) {
	pos := base
	for fi := range info.InternalTransactions {
		f := &info.InternalTransactions[fi]
		note, moves := valueNote(f.Note)
		if f.Rejected || !moves {
			pos += len(f.CallValueInfo)
			continue
		}
		for vi := range f.CallValueInfo {
			cv := &f.CallValueInfo[vi]
			index := pos
			pos++
			if cv.CallValue <= 0 {
				continue
			}
			e, err := d.internalTransfer(ref, txIndex, txID, index, fi, f, cv, note, contractType)
			if err != nil {
				return out, fmt.Errorf("internal transaction %d: %w", fi, err)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func (d *Decoder) internalTransfer(ref event.BlockRef, txIndex int, txID string, index, frame int, f *tron.InternalTx, cv *tron.CallValueInfo, note, contractType string) (event.Event, error) {
	if f.CallerAddress == "" || f.TransferToAddress == "" {
		return event.Event{}, fmt.Errorf("%w: a value transfer without caller_address or transferTo_address", ErrMalformed)
	}
	from, err := optAddress(f.CallerAddress, "caller_address")
	if err != nil {
		return event.Event{}, err
	}
	to, err := optAddress(f.TransferToAddress, "transferTo_address")
	if err != nil {
		return event.Event{}, err
	}
	e := event.Event{
		Type:    event.TypeEvent,
		ID:      eventID(txID, index),
		Network: d.network,
		Block:   ref,
		TxID:    txID,
		TxIndex: txIndex,
		Index:   index,
		Success: true,
		From:    from,
		To:      to,
		Amount:  tron.AmountFromInt64(cv.CallValue),
	}
	fi := frame
	data := &event.Data{ContractType: contractType, InternalIndex: &fi, InternalHash: f.Hash, Note: note}
	e.Data = data
	// TRX has no tokenId; "_" is how Tron names TRX where a token id is
	// expected (exchanges, TronGrid), so it is TRX too.
	if cv.TokenID == "" || cv.TokenID == "_" {
		e.Kind = event.KindTRXInternalTransfer
		e.Token = trxToken
		e.AmountDecimal = e.Amount.Decimal(6)
		setFlags(&e, false, false)
		return e, nil
	}
	e.Kind = event.KindTRC10InternalTransfer
	data.AssetID = cv.TokenID
	setFlags(&e, !d.setTRC10(&e, cv.TokenID, ref.Number), false)
	return e, nil
}

// InternalStats returns, for one block and its transaction infos, the
// successful TriggerSmartContract transactions that sent value
// (call_value > 0 or call_token_value > 0) and the number of internal
// transaction frames the infos hold. The ingest uses them to notice a node
// run without vm.saveInternalTx, whose infos never have frames.
//
// It is a heuristic with limits: a call with value need not make any
// internal call (a plain payable function keeps the TRX), so a block can
// rightly have value calls and no frames; contracts call each other
// without value, so frames without value calls are normal. Only many value
// calls over many blocks with no frame at all point to a node that saves
// no internal transactions; one block proves nothing. A node saves frames
// only from the block it was configured at, so an old range can lack them
// on a node that saves them now. [MissingInternalFrames] is the sharper
// per-transaction test. Infos are paired with transactions by id (nil
// infos give zero frames and count no call as successful).
func InternalStats(b *tron.Block, infos []tron.TxInfo) (callsWithValue, frames int) {
	for i := range infos {
		frames += len(infos[i].InternalTransactions)
	}
	if infos == nil {
		return 0, frames
	}
	pair := pairInfos(infos)
	for i := range b.Transactions {
		tx := &b.Transactions[i]
		c, ok := valueCall(tx)
		if !ok || c.Parameter.Value.CallValue <= 0 && c.Parameter.Value.CallTokenValue <= 0 {
			continue
		}
		info := pair(i, tx.TxID)
		if info == nil {
			continue
		}
		if ok, _, _ := txResult(tx, info); ok {
			callsWithValue++
		}
	}
	return callsWithValue, frames
}

// MissingInternalFrames counts the successful TriggerSmartContract
// transactions of a block whose logs come from a contract other than the
// one called, yet whose info has no internal frame. A contract emits a log
// only while it runs, and another contract runs only through an internal
// call (CALL, DELEGATECALL, CREATE…), which a node saving internal
// transactions always records as a frame, rejected or not. So any count
// above zero means the node is not saving internal transactions for this
// block (vm.saveInternalTx off, or a proxy that strips them), and its
// internal transfers cannot be trusted to be complete.
func MissingInternalFrames(b *tron.Block, infos []tron.TxInfo) int {
	if infos == nil {
		return 0
	}
	pair := pairInfos(infos)
	missing := 0
	for i := range b.Transactions {
		tx := &b.Transactions[i]
		c, ok := valueCall(tx)
		if !ok {
			continue
		}
		info := pair(i, tx.TxID)
		if info == nil || len(info.InternalTransactions) > 0 || len(info.Log) == 0 {
			continue
		}
		if ok, _, _ := txResult(tx, info); !ok {
			continue
		}
		called, err := tron.ParseHex(c.Parameter.Value.ContractAddress)
		if err != nil {
			continue
		}
		for li := range info.Log {
			a, err := tron.ParseHex(info.Log[li].Address)
			if err == nil && a != called {
				missing++
				break
			}
		}
	}
	return missing
}

// valueCall returns the transaction's contract when it is a single
// TriggerSmartContract.
func valueCall(tx *tron.Transaction) (*tron.Contract, bool) {
	if len(tx.RawData.Contract) != 1 || tx.RawData.Contract[0].Type != "TriggerSmartContract" {
		return nil, false
	}
	return &tx.RawData.Contract[0], true
}

// pairInfos pairs infos with a block's transactions by id, trying the
// transaction's position first (the node answers in transaction order).
func pairInfos(infos []tron.TxInfo) func(int, string) *tron.TxInfo {
	var m map[string]*tron.TxInfo
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
	}
}
