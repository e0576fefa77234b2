package tron

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// The conversions below turn a node's gRPC messages into the types of this
// package, which mirror its HTTP JSON, and back. The target is that a block
// or receipt list read over gRPC equals, field for field, what
// json.Unmarshal makes of the node's HTTP answer for the same block, so that
// both decode to the same events. java-tron prints its HTTP answers with
// its JsonFormat (visible=false): bytes as lowercase hex, enums by name,
// fields holding their default value left out, and a transaction's contract
// parameter printed from the typed contract message its Any holds.

// ErrBadProtobuf is wrapped when a protobuf message does not convert: bytes
// that are not the message, a contract value that is not its contract type,
// or, the other way, a field that is not hex.
var ErrBadProtobuf = errors.New("tron: bad protobuf")

// BlockFromPB converts a node's gRPC block (GetBlockByNum2, GetNowBlock2)
// to the [Block] its HTTP API gives for the same block. The ids are taken
// from the message as the node sent them, not recomputed: [VerifyBlockID]
// and [VerifyTxID] check them. A contract of a type this package does not
// decode keeps its type and type URL; the fields of its value that
// [ContractValue] has are filled where the type is known, else none.
func BlockFromPB(b *tronpb.BlockExtention) (*Block, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: no block", ErrBadProtobuf)
	}
	var h hexer
	out := &Block{}
	h.add(&out.BlockID, b.GetBlockid())
	headerFromPB(&h, &out.BlockHeader, b.GetBlockHeader())
	h.flush()
	if n := len(b.GetTransactions()); n > 0 {
		out.Transactions = make([]Transaction, n)
		for i, te := range b.GetTransactions() {
			if err := txFromPB(&h, &out.Transactions[i], te.GetTransaction(), te.GetTxid()); err != nil {
				return nil, fmt.Errorf("%w: block %d: transaction %d: %w", ErrBadProtobuf, out.BlockHeader.RawData.Number, i, err)
			}
		}
	}
	return out, nil
}

// BlockToPB converts b to the message a node answers GetBlockByNum2 with:
// the header, and each transaction with its txid, from BlockID and TxID as
// they are. A transaction's raw data is its RawDataHex, which holds what
// the typed fields leave out; only a transaction without RawDataHex has its
// raw data built from the typed fields.
func BlockToPB(b *Block) (*tronpb.BlockExtention, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: no block", ErrBadProtobuf)
	}
	var u unhexer
	out := &tronpb.BlockExtention{
		Blockid:     u.bytes("blockID", b.BlockID),
		BlockHeader: headerToPB(&u, &b.BlockHeader),
	}
	if u.err != nil {
		return nil, fmt.Errorf("%w: block %d: %w", ErrBadProtobuf, b.BlockHeader.RawData.Number, u.err)
	}
	if len(b.Transactions) > 0 {
		out.Transactions = make([]*tronpb.TransactionExtention, len(b.Transactions))
		for i := range b.Transactions {
			tx := &b.Transactions[i]
			pb, err := txToPB(tx)
			if err != nil {
				return nil, fmt.Errorf("%w: block %d: transaction %d: %w", ErrBadProtobuf, b.BlockHeader.RawData.Number, i, err)
			}
			txid, err := unhex("txID", tx.TxID)
			if err != nil {
				return nil, fmt.Errorf("%w: block %d: transaction %d: %w", ErrBadProtobuf, b.BlockHeader.RawData.Number, i, err)
			}
			// java-tron's block2Extention marks every transaction of a
			// block as a successful lookup.
			out.Transactions[i] = &tronpb.TransactionExtention{Transaction: pb, Txid: txid, Result: &tronpb.Return{Result: true}}
		}
	}
	return out, nil
}

// HeaderRawToPB converts a header's raw data to its protobuf message, whose
// encoding hashes to the block id.
func HeaderRawToPB(r *BlockHeaderRaw) (*tronpb.BlockHeaderRaw, error) {
	var u unhexer
	pb := headerRawToPB(&u, r)
	if u.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadProtobuf, u.err)
	}
	return pb, nil
}

func headerFromPB(h *hexer, out *BlockHeader, in *tronpb.BlockHeader) {
	r := in.GetRawData()
	*out = BlockHeader{RawData: BlockHeaderRaw{
		Number:    r.GetNumber(),
		Version:   r.GetVersion(),
		Timestamp: r.GetTimestamp(),
		WitnessID: r.GetWitnessId(),
	}}
	h.add(&out.RawData.TxTrieRoot, r.GetTxTrieRoot())
	h.add(&out.RawData.WitnessAddress, r.GetWitnessAddress())
	h.add(&out.RawData.ParentHash, r.GetParentHash())
	h.add(&out.RawData.AccountStateRoot, r.GetAccountStateRoot())
	h.add(&out.WitnessSignature, in.GetWitnessSignature())
}

func headerToPB(u *unhexer, h *BlockHeader) *tronpb.BlockHeader {
	return &tronpb.BlockHeader{
		RawData:          headerRawToPB(u, &h.RawData),
		WitnessSignature: u.bytes("witness_signature", h.WitnessSignature),
	}
}

func headerRawToPB(u *unhexer, r *BlockHeaderRaw) *tronpb.BlockHeaderRaw {
	return &tronpb.BlockHeaderRaw{
		Timestamp:        r.Timestamp,
		TxTrieRoot:       u.bytes("txTrieRoot", r.TxTrieRoot),
		ParentHash:       u.bytes("parentHash", r.ParentHash),
		Number:           r.Number,
		WitnessId:        r.WitnessID,
		WitnessAddress:   u.bytes("witness_address", r.WitnessAddress),
		Version:          r.Version,
		AccountStateRoot: u.bytes("accountStateRoot", r.AccountStateRoot),
	}
}

// txFromPB fills out from a transaction and its id. raw_data_hex is the
// re-encoding of the raw data: protobuf encodes a message's fields in
// number order, as java-tron does, and every field of Transaction.raw is
// declared, so the bytes are the node's and hash to the txid.
func txFromPB(h *hexer, out *Transaction, tx *tronpb.Transaction, txid []byte) error {
	h.reset()
	raw := tx.GetRawData()
	var err error
	if h.scratch, err = marshalAppend(h.scratch[:0], raw); err != nil {
		return fmt.Errorf("encoding raw_data: %w", err)
	}
	h.add(&out.TxID, txid)
	h.add(&out.RawDataHex, h.scratch)
	out.Signature = h.list(tx.GetSignature())
	if n := len(tx.GetRet()); n > 0 {
		out.Ret = make([]TxRet, n)
		for i, r := range tx.GetRet() {
			out.Ret[i] = TxRet{ContractRet: enumString(r.GetContractRet(), true), Fee: r.GetFee()}
		}
	}
	out.RawData = TxRaw{
		Expiration: raw.GetExpiration(),
		FeeLimit:   raw.GetFeeLimit(),
		Timestamp:  raw.GetTimestamp(),
		// java-tron always prints "contract", as [] when there is none.
		Contract: make([]Contract, len(raw.GetContract())),
	}
	h.add(&out.RawData.RefBlockBytes, raw.GetRefBlockBytes())
	h.add(&out.RawData.RefBlockHash, raw.GetRefBlockHash())
	h.add(&out.RawData.Data, raw.GetData())
	for i, c := range raw.GetContract() {
		oc := &out.RawData.Contract[i]
		oc.Type = enumString(c.GetType(), false)
		oc.Parameter.TypeURL = c.GetParameter().GetTypeUrl()
		oc.PermissionID = c.GetPermissionId()
		if err := contractValueFromPB(h, &oc.Parameter.Value, c.GetType(), c.GetParameter().GetValue()); err != nil {
			return fmt.Errorf("contract %d (%s): %w", i, oc.Type, err)
		}
	}
	h.flush()
	return nil
}

// marshalAppend encodes m after b, reusing b's room.
func marshalAppend(b []byte, m proto.Message) ([]byte, error) {
	return proto.MarshalOptions{}.MarshalAppend(b, m)
}

func txToPB(tx *Transaction) (*tronpb.Transaction, error) {
	out := &tronpb.Transaction{}
	var err error
	if tx.RawDataHex != "" {
		enc, err := unhex("raw_data_hex", tx.RawDataHex)
		if err != nil {
			return nil, err
		}
		out.RawData = &tronpb.TransactionRaw{}
		if err := proto.Unmarshal(enc, out.RawData); err != nil {
			return nil, fmt.Errorf("raw_data_hex: %w", err)
		}
	} else if out.RawData, err = txRawToPB(&tx.RawData); err != nil {
		return nil, err
	}
	var u unhexer
	out.Signature = u.list("signature", tx.Signature)
	if len(tx.Ret) > 0 {
		out.Ret = make([]*tronpb.Transaction_Result, len(tx.Ret))
		for i, r := range tx.Ret {
			cr, err := enumValue[tronpb.Transaction_ResultContractResult]("contractRet", r.ContractRet)
			if err != nil {
				return nil, err
			}
			out.Ret[i] = &tronpb.Transaction_Result{Fee: r.Fee, ContractRet: cr}
		}
	}
	return out, u.err
}

// txRawToPB builds raw data from the typed fields, for a transaction made
// by hand: what the fields leave out (ref_block_num, a contract's ABI, …)
// is missing, so the encoding does not hash to a real transaction's id.
func txRawToPB(r *TxRaw) (*tronpb.TransactionRaw, error) {
	var u unhexer
	out := &tronpb.TransactionRaw{
		RefBlockBytes: u.bytes("ref_block_bytes", r.RefBlockBytes),
		RefBlockHash:  u.bytes("ref_block_hash", r.RefBlockHash),
		Expiration:    r.Expiration,
		Data:          u.bytes("data", r.Data),
		Timestamp:     r.Timestamp,
		FeeLimit:      r.FeeLimit,
	}
	if u.err != nil {
		return nil, u.err
	}
	if len(r.Contract) > 0 {
		out.Contract = make([]*tronpb.Transaction_Contract, len(r.Contract))
	}
	for i := range r.Contract {
		c := &r.Contract[i]
		t, err := enumValue[tronpb.Transaction_Contract_ContractType]("type", c.Type)
		if err != nil {
			return nil, fmt.Errorf("contract %d: %w", i, err)
		}
		value, err := contractValueToPB(t, &c.Parameter.Value)
		if err != nil {
			return nil, fmt.Errorf("contract %d (%s): %w", i, c.Type, err)
		}
		out.Contract[i] = &tronpb.Transaction_Contract{
			Type:         t,
			Parameter:    &tronpb.Any{TypeUrl: c.Parameter.TypeURL, Value: value},
			PermissionId: c.PermissionID,
		}
	}
	return out, nil
}

// TxInfosFromPB converts a node's gRPC transaction infos
// (GetTransactionInfoByBlockNum) to what its HTTP API gives for the same
// block. The slice is nil when l is empty.
func TxInfosFromPB(l []*tronpb.TransactionInfo) ([]TxInfo, error) {
	if len(l) == 0 {
		return nil, nil
	}
	out := make([]TxInfo, len(l))
	var h hexer
	for i, in := range l {
		if in == nil {
			return nil, fmt.Errorf("%w: transaction info %d: missing", ErrBadProtobuf, i)
		}
		txInfoFromPB(&h, &out[i], in)
	}
	return out, nil
}

func txInfoFromPB(h *hexer, out *TxInfo, in *tronpb.TransactionInfo) {
	h.reset()
	rc := in.GetReceipt()
	*out = TxInfo{
		Fee:            in.GetFee(),
		BlockNumber:    in.GetBlockNumber(),
		BlockTimeStamp: in.GetBlockTimeStamp(),
		Receipt: Receipt{
			EnergyUsage:        rc.GetEnergyUsage(),
			EnergyFee:          rc.GetEnergyFee(),
			OriginEnergyUsage:  rc.GetOriginEnergyUsage(),
			EnergyUsageTotal:   rc.GetEnergyUsageTotal(),
			NetUsage:           rc.GetNetUsage(),
			NetFee:             rc.GetNetFee(),
			Result:             enumString(rc.GetResult(), true),
			EnergyPenaltyTotal: rc.GetEnergyPenaltyTotal(),
		},
		Result:               enumString(in.GetResult(), true),
		WithdrawAmount:       in.GetWithdrawAmount(),
		UnfreezeAmount:       in.GetUnfreezeAmount(),
		WithdrawExpireAmount: in.GetWithdrawExpireAmount(),
	}
	h.add(&out.ID, in.GetId())
	out.ContractResult = h.list(in.GetContractResult())
	h.add(&out.ContractAddress, in.GetContractAddress())
	h.add(&out.ResMessage, in.GetResMessage())
	if n := len(in.GetLog()); n > 0 {
		out.Log = make([]Log, n)
		for i, l := range in.GetLog() {
			h.add(&out.Log[i].Address, l.GetAddress())
			out.Log[i].Topics = h.list(l.GetTopics())
			h.add(&out.Log[i].Data, l.GetData())
		}
	}
	if n := len(in.GetInternalTransactions()); n > 0 {
		out.InternalTransactions = make([]InternalTx, n)
		for i, it := range in.GetInternalTransactions() {
			itx := &out.InternalTransactions[i]
			itx.Rejected = it.GetRejected()
			h.add(&itx.Hash, it.GetHash())
			h.add(&itx.CallerAddress, it.GetCallerAddress())
			h.add(&itx.TransferToAddress, it.GetTransferToAddress())
			h.add(&itx.Note, it.GetNote())
			if m := len(it.GetCallValueInfo()); m > 0 {
				itx.CallValueInfo = make([]CallValueInfo, m)
				for j, cv := range it.GetCallValueInfo() {
					itx.CallValueInfo[j] = CallValueInfo{CallValue: cv.GetCallValue(), TokenID: cv.GetTokenId()}
				}
			}
		}
	}
	if n := len(in.GetCancelUnfreezeV2Amount()); n > 0 {
		out.CancelUnfreezeV2 = make([]CancelAmount, n)
		for i, e := range in.GetCancelUnfreezeV2Amount() {
			out.CancelUnfreezeV2[i] = CancelAmount{Key: e.GetKey(), Value: e.GetValue()}
		}
	}
	h.flush()
}

// TxInfosToPB converts transaction infos to the messages of a node's
// GetTransactionInfoByBlockNum answer. Every info gets a receipt, as
// java-tron's do.
func TxInfosToPB(infos []TxInfo) ([]*tronpb.TransactionInfo, error) {
	if len(infos) == 0 {
		return nil, nil
	}
	out := make([]*tronpb.TransactionInfo, len(infos))
	for i := range infos {
		pb, err := txInfoToPB(&infos[i])
		if err != nil {
			return nil, fmt.Errorf("%w: transaction info %d (%s): %w", ErrBadProtobuf, i, clip(infos[i].ID), err)
		}
		out[i] = pb
	}
	return out, nil
}

func txInfoToPB(in *TxInfo) (*tronpb.TransactionInfo, error) {
	var u unhexer
	rr, err := enumValue[tronpb.Transaction_ResultContractResult]("receipt.result", in.Receipt.Result)
	if err != nil {
		return nil, err
	}
	res, err := enumValue[tronpb.TransactionInfoCode]("result", in.Result)
	if err != nil {
		return nil, err
	}
	out := &tronpb.TransactionInfo{
		Id:              u.bytes("id", in.ID),
		Fee:             in.Fee,
		BlockNumber:     in.BlockNumber,
		BlockTimeStamp:  in.BlockTimeStamp,
		ContractResult:  u.list("contractResult", in.ContractResult),
		ContractAddress: u.bytes("contract_address", in.ContractAddress),
		Receipt: &tronpb.ResourceReceipt{
			EnergyUsage:        in.Receipt.EnergyUsage,
			EnergyFee:          in.Receipt.EnergyFee,
			OriginEnergyUsage:  in.Receipt.OriginEnergyUsage,
			EnergyUsageTotal:   in.Receipt.EnergyUsageTotal,
			NetUsage:           in.Receipt.NetUsage,
			NetFee:             in.Receipt.NetFee,
			Result:             rr,
			EnergyPenaltyTotal: in.Receipt.EnergyPenaltyTotal,
		},
		Result:               res,
		ResMessage:           u.bytes("resMessage", in.ResMessage),
		WithdrawAmount:       in.WithdrawAmount,
		UnfreezeAmount:       in.UnfreezeAmount,
		WithdrawExpireAmount: in.WithdrawExpireAmount,
	}
	for _, l := range in.Log {
		out.Log = append(out.Log, &tronpb.TransactionInfo_Log{
			Address: u.bytes("log.address", l.Address),
			Topics:  u.list("log.topics", l.Topics),
			Data:    u.bytes("log.data", l.Data),
		})
	}
	for _, it := range in.InternalTransactions {
		pb := &tronpb.InternalTransaction{
			Hash:              u.bytes("internal_transactions.hash", it.Hash),
			CallerAddress:     u.bytes("internal_transactions.caller_address", it.CallerAddress),
			TransferToAddress: u.bytes("internal_transactions.transferTo_address", it.TransferToAddress),
			Note:              u.bytes("internal_transactions.note", it.Note),
			Rejected:          it.Rejected,
		}
		for _, cv := range it.CallValueInfo {
			pb.CallValueInfo = append(pb.CallValueInfo, &tronpb.InternalTransaction_CallValueInfo{CallValue: cv.CallValue, TokenId: cv.TokenID})
		}
		out.InternalTransactions = append(out.InternalTransactions, pb)
	}
	for _, c := range in.CancelUnfreezeV2 {
		out.CancelUnfreezeV2Amount = append(out.CancelUnfreezeV2Amount, &tronpb.CancelUnfreezeV2AmountEntry{Key: c.Key, Value: c.Value})
	}
	return out, u.err
}

// NodeInfoFromPB converts a node's gRPC GetNodeInfo answer. The
// configuration keeps the keys and value types /wallet/getnodeinfo's JSON
// decodes to (numbers are float64).
func NodeInfoFromPB(n *tronpb.NodeInfo) *NodeInfo {
	out := &NodeInfo{
		BeginSyncNum:       n.GetBeginSyncNum(),
		Block:              n.GetBlock(),
		SolidityBlock:      n.GetSolidityBlock(),
		ActiveConnectCount: int(n.GetActiveConnectCount()),
	}
	if c := n.GetConfigNodeInfo(); c != nil {
		out.ConfigNodeInfo = map[string]any{}
		if c.GetCodeVersion() != "" {
			out.ConfigNodeInfo["codeVersion"] = c.GetCodeVersion()
		}
		if c.GetP2PVersion() != "" {
			out.ConfigNodeInfo["p2pVersion"] = c.GetP2PVersion()
		}
		if c.GetListenPort() != 0 {
			out.ConfigNodeInfo["listenPort"] = float64(c.GetListenPort())
		}
	}
	return out
}

// NodeInfoToPB converts n to a GetNodeInfo answer. Of the configuration it
// keeps codeVersion, p2pVersion and listenPort.
func NodeInfoToPB(n *NodeInfo) *tronpb.NodeInfo {
	out := &tronpb.NodeInfo{
		BeginSyncNum:       n.BeginSyncNum,
		Block:              n.Block,
		SolidityBlock:      n.SolidityBlock,
		ActiveConnectCount: int32(min(max(n.ActiveConnectCount, 0), math.MaxInt32)),
	}
	if n.ConfigNodeInfo != nil {
		c := &tronpb.NodeInfo_ConfigNodeInfo{}
		c.CodeVersion, _ = n.ConfigNodeInfo["codeVersion"].(string)
		c.P2PVersion, _ = n.ConfigNodeInfo["p2pVersion"].(string)
		switch p := n.ConfigNodeInfo["listenPort"].(type) {
		case float64:
			c.ListenPort = int32(p)
		case int:
			c.ListenPort = int32(p)
		}
		out.ConfigNodeInfo = c
	}
	return out
}

// hexer prints byte fields as java-tron does, lowercase hex with ""
// for none, into one string per batch (a transaction, an info) rather than
// one per field: a block has thousands of such fields, and an allocation
// each made decoding protobuf slower than decoding the node's JSON. Each
// field's string is a slice of the batch's; they live and die together.
type hexer struct {
	buf  []byte
	dsts []*string
	ends []int
	// scratch is room for a transaction's re-encoded raw data.
	scratch []byte
}

// add sets *dst to the hex of b at the next flush. dst must stay where it
// is until then.
func (h *hexer) add(dst *string, b []byte) {
	if len(b) == 0 {
		return
	}
	h.buf = hex.AppendEncode(h.buf, b)
	h.dsts = append(h.dsts, dst)
	h.ends = append(h.ends, len(h.buf))
}

// list prints repeated bytes; an empty element stays, as "".
func (h *hexer) list(l [][]byte) []string {
	if len(l) == 0 {
		return nil
	}
	out := make([]string, len(l))
	for i, b := range l {
		h.add(&out[i], b)
	}
	return out
}

// flush sets the strings of the batch and starts a new one.
func (h *hexer) flush() {
	if len(h.dsts) > 0 {
		s := string(h.buf)
		start := 0
		for i, dst := range h.dsts {
			*dst = s[start:h.ends[i]]
			start = h.ends[i]
		}
	}
	h.reset()
}

// reset drops the batch without setting its strings.
func (h *hexer) reset() {
	h.buf, h.dsts, h.ends = h.buf[:0], h.dsts[:0], h.ends[:0]
}

func unhex(name, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not hex: %w", name, err)
	}
	return b, nil
}

// unhexer decodes hex fields and keeps the first error, so that a message
// can be filled in one composite literal and checked once.
type unhexer struct{ err error }

func (u *unhexer) bytes(name, s string) []byte {
	if u.err != nil {
		return nil
	}
	b, err := unhex(name, s)
	u.err = err
	return b
}

func (u *unhexer) list(name string, l []string) [][]byte {
	if len(l) == 0 {
		return nil
	}
	out := make([][]byte, len(l))
	for i, s := range l {
		out[i] = u.bytes(name, s)
		if out[i] == nil {
			out[i] = []byte{}
		}
	}
	return out
}

// enumString prints an enum as java-tron does, by name; a number the
// definitions here do not name prints as the number. omitZero leaves the
// zero value out, as the node does for every enum field but a contract's
// type.
func enumString(e protoreflect.Enum, omitZero bool) string {
	n := e.Number()
	if n == 0 && omitZero {
		return ""
	}
	if v := e.Descriptor().Values().ByNumber(n); v != nil {
		return string(v.Name())
	}
	return strconv.Itoa(int(n))
}

// enumValue parses what [enumString] prints; "" is the zero value.
func enumValue[E interface {
	~int32
	protoreflect.Enum
}](field, s string) (E, error) {
	var zero E
	if s == "" {
		return zero, nil
	}
	if v := zero.Descriptor().Values().ByName(protoreflect.Name(s)); v != nil {
		return E(v.Number()), nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return zero, fmt.Errorf("%s: unknown %s %q", field, zero.Descriptor().Name(), clip(s))
	}
	return E(n), nil
}
