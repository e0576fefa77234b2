package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/internal/gen"
)

// The selectors of the views the simulated tokens answer, by signature, for
// calls that give function_selector rather than data.
var viewSelectors = map[string]string{
	"decimals()":         gen.SelectorDecimals,
	"symbol()":           gen.SelectorSymbol,
	"name()":             gen.SelectorName,
	"balanceOf(address)": gen.SelectorBalanceOf,
}

// callResult is java-tron's Return message.
type callResult struct {
	Result  bool   `json:"result,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// callTx is the transaction java-tron builds for a constant call and
// returns alongside the result.
type callTx struct {
	Ret        []tron.TxRet `json:"ret"`
	Visible    bool         `json:"visible"`
	TxID       string       `json:"txID"`
	RawData    tron.TxRaw   `json:"raw_data"`
	RawDataHex string       `json:"raw_data_hex"`
}

type callAnswer struct {
	Result         callResult `json:"result"`
	EnergyUsed     int64      `json:"energy_used,omitempty"`
	ConstantResult []string   `json:"constant_result,omitempty"`
	Transaction    *callTx    `json:"transaction,omitempty"`
}

// methodNames maps a selector to its signature, for the call counts.
var methodNames = func() map[string]string {
	m := make(map[string]string, len(viewSelectors))
	for name, sel := range viewSelectors {
		m[sel] = name
	}
	return m
}()

// triggerConstantContract answers the TRC20 views of the tokens the chain
// moves (decimals, symbol, name, balanceOf), except decimals() of the
// token that has none. Any other contract is not there, and any other
// method reverts, as a node would say. Every call with a valid contract
// address is counted.
func (s *Sim) triggerConstantContract(w http.ResponseWriter, p params, v view) {
	writeJSONValue(w, http.StatusOK, s.constantCall(p, v.maxNum))
}

// constantCall answers a constant call as of block maxNum.
func (s *Sim) constantCall(p params, maxNum int64) callAnswer {
	contract, err := tron.ParseAddress(p.ContractAddress)
	sel, args := "", p.Parameter
	method := strings.ReplaceAll(p.FunctionSelector, " ", "")
	if len(p.Data) >= 8 {
		sel, args = strings.ToLower(p.Data[:8]), p.Data[8:]
		method = sel
		if name, ok := methodNames[sel]; ok {
			method = name
		}
	} else {
		sel = viewSelectors[method]
	}
	if err == nil {
		s.countCall(contract, method)
	}
	tok, known := s.tokens[contract]
	if err != nil || !known {
		return callAnswer{Result: callResult{
			Code:    "CONTRACT_VALIDATE_ERROR",
			Message: hex.EncodeToString([]byte("No contract or not a valid smart contract")),
		}}
	}
	if tok.NoDecimals && sel == gen.SelectorDecimals {
		sel = "" // reverts below
	}
	var out string
	switch sel {
	case gen.SelectorDecimals:
		out = gen.EncodeUint(uint64(tok.Decimals))
	case gen.SelectorSymbol:
		out = gen.EncodeString(tok.Symbol)
	case gen.SelectorName:
		out = gen.EncodeString(tok.Name)
	case gen.SelectorBalanceOf:
		out = gen.EncodeUint(s.balanceOf(contract, args))
	default:
		return callAnswer{
			Result:         callResult{Code: "CONTRACT_EXE_ERROR", Message: hex.EncodeToString([]byte("REVERT opcode executed"))},
			EnergyUsed:     228,
			ConstantResult: []string{""},
		}
	}
	ans := callAnswer{Result: callResult{Result: true}, EnergyUsed: 300 + int64(len(out)), ConstantResult: []string{out}}
	if tx, err := s.callTx(p, contract, sel+args, maxNum); err == nil {
		ans.Transaction = tx
	}
	return ans
}

// balanceOf makes up a stable balance per holder: a hash of the seed, the
// token and the holder.
func (s *Sim) balanceOf(token tron.Address, arg string) uint64 {
	h := sha256.New()
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], s.cfg.Seed)
	h.Write(seed[:])
	h.Write(token[:])
	h.Write([]byte(strings.ToLower(strings.TrimLeft(arg, "0"))))
	sum := h.Sum(nil)
	return binary.BigEndian.Uint64(sum[:8]) % 1_000_000_000_000_000
}

// zeroOwner is the owner java-tron assumes for a constant call without one.
const zeroOwner = "410000000000000000000000000000000000000000"

func (s *Sim) callTx(p params, contract tron.Address, data string, maxNum int64) (*callTx, error) {
	owner := zeroOwner
	if p.OwnerAddress != "" {
		a, err := tron.ParseAddress(p.OwnerAddress)
		if err != nil {
			return nil, err
		}
		owner = a.Hex()
	}
	e, err := s.src.entry(maxNum)
	if err != nil {
		return nil, err
	}
	if len(e.block.BlockID) != 64 {
		return nil, fmt.Errorf("tronsim: block %d has no valid id to reference", e.number)
	}
	ts := e.block.BlockHeader.RawData.Timestamp
	var rb [2]byte
	binary.BigEndian.PutUint16(rb[:], uint16(e.number))
	raw := tron.TxRaw{
		Contract: []tron.Contract{{
			Type: "TriggerSmartContract",
			Parameter: tron.ContractParameter{
				Value:   tron.ContractValue{OwnerAddress: owner, ContractAddress: contract.Hex(), Data: data},
				TypeURL: gen.TypeURLPrefix + "TriggerSmartContract",
			},
		}},
		RefBlockBytes: hex.EncodeToString(rb[:]),
		RefBlockHash:  e.block.BlockID[16:32],
		Expiration:    ts + 60_000,
		Timestamp:     ts + 500,
	}
	b, err := gen.AppendTxRaw(nil, &raw)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	tx := &callTx{Ret: []tron.TxRet{{}}, Visible: p.Visible, TxID: hex.EncodeToString(sum[:]), RawData: raw, RawDataHex: hex.EncodeToString(b)}
	if p.Visible {
		v := visibleTx(&tron.Transaction{RawData: raw})
		tx.RawData = v.RawData
	}
	return tx, nil
}
