package tron_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// realBlocks are the fixtures holding a whole node answer for one block.
var realBlocks = []string{"getblockbynum-43811922.json", "getblock-shasta-1000000.json"}

// realReceipts are the fixtures holding transaction infos keyed by id.
var realReceipts = []string{"gettransactioninfobyid-ledger.json", "gettransactioninfobyid-internal.json"}

// viaWire converts b to protobuf, sends it through the wire encoding as a
// node's gRPC answer would be, and converts it back.
func viaWire(tb testing.TB, b *tron.Block) *tron.Block {
	tb.Helper()
	pb, err := tron.BlockToPB(b)
	require.NoError(tb, err)
	wire, err := proto.Marshal(pb)
	require.NoError(tb, err)
	var got tronpb.BlockExtention
	require.NoError(tb, proto.Unmarshal(wire, &got))
	out, err := tron.BlockFromPB(&got)
	require.NoError(tb, err)
	return out
}

func infosViaWire(tb testing.TB, infos []tron.TxInfo) []tron.TxInfo {
	tb.Helper()
	pb, err := tron.TxInfosToPB(infos)
	require.NoError(tb, err)
	wire, err := proto.Marshal(&tronpb.TransactionInfoList{TransactionInfo: pb})
	require.NoError(tb, err)
	var got tronpb.TransactionInfoList
	require.NoError(tb, proto.Unmarshal(wire, &got))
	out, err := tron.TxInfosFromPB(got.GetTransactionInfo())
	require.NoError(tb, err)
	return out
}

// TestBlockFromPB_RealBlocksMatchHTTP pins the gRPC path to the HTTP one on
// real blocks: the JSON a node served, through protobuf and back, is the
// same Block field for field, and its ids still verify.
func TestBlockFromPB_RealBlocksMatchHTTP(t *testing.T) {
	t.Parallel()
	for _, name := range realBlocks {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var want tron.Block
			require.NoError(t, json.Unmarshal(fixtures.Read(t, name), &want))
			require.NotEmpty(t, want.Transactions)
			got := viaWire(t, &want)
			require.Equal(t, want, *got)
			require.NoError(t, tron.VerifyBlockID(got))
			for i := range got.Transactions {
				require.NoError(t, tron.VerifyTxID(&got.Transactions[i]), "transaction %d", i)
			}
		})
	}
}

// TestBlockFromPB_RealHeaders converts the 100 real mainnet headers (with
// their witness signatures) as empty blocks: each comes back equal, and
// its id verifies.
func TestBlockFromPB_RealHeaders(t *testing.T) {
	t.Parallel()
	var f struct {
		BlockIDs   []string `json:"blockIds"`
		RawHeaders []string `json:"blockHeaderRawBytes"`
		Signatures []string `json:"witnessSignatures"`
	}
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "headers-78000000-78000099.json"), &f))
	for i, rawHex := range f.RawHeaders {
		raw, err := hex.DecodeString(strings.TrimPrefix(rawHex, "0x"))
		require.NoError(t, err)
		var pbRaw tronpb.BlockHeaderRaw
		require.NoError(t, proto.Unmarshal(raw, &pbRaw))
		ext := &tronpb.BlockExtention{
			Blockid:     mustHex(t, strings.TrimPrefix(f.BlockIDs[i], "0x")),
			BlockHeader: &tronpb.BlockHeader{RawData: &pbRaw},
		}
		if i < len(f.Signatures) {
			ext.BlockHeader.WitnessSignature = mustHex(t, strings.TrimPrefix(f.Signatures[i], "0x"))
		}
		b, err := tron.BlockFromPB(ext)
		require.NoError(t, err)
		require.NoError(t, tron.VerifyBlockID(b), "header %d", i)
		require.Nil(t, b.Transactions, "an empty block has no transactions key in JSON")
		require.Equal(t, *b, *viaWire(t, b))
	}
}

// TestTxInfosFromPB_RealReceiptsMatchHTTP does for the real receipts what
// TestBlockFromPB_RealBlocksMatchHTTP does for blocks.
func TestTxInfosFromPB_RealReceiptsMatchHTTP(t *testing.T) {
	t.Parallel()
	for _, name := range realReceipts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var byID map[string]tron.TxInfo
			require.NoError(t, json.Unmarshal(fixtures.Read(t, name), &byID))
			want := make([]tron.TxInfo, 0, len(byID))
			for _, info := range byID {
				want = append(want, info)
			}
			require.Equal(t, want, infosViaWire(t, want))
		})
	}
}

func TestTxInfosFromPB_Enums(t *testing.T) {
	t.Parallel()
	id := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		json string
		pb   *tronpb.TransactionInfo
	}{
		{
			"success and default receipt are left out",
			`{"id":"` + id + `","receipt":{"net_usage":268}}`,
			&tronpb.TransactionInfo{Id: mustHex(t, id), Receipt: &tronpb.ResourceReceipt{NetUsage: 268}},
		},
		{
			"failure is named",
			`{"id":"` + id + `","receipt":{"result":"OUT_OF_ENERGY"},"result":"FAILED","resMessage":"6f7574"}`,
			&tronpb.TransactionInfo{
				Id: mustHex(t, id), Result: tronpb.TransactionInfo_FAILED, ResMessage: []byte("out"),
				Receipt: &tronpb.ResourceReceipt{Result: tronpb.Transaction_Result_OUT_OF_ENERGY},
			},
		},
		{
			"cancelled unfreezes keep the node's order",
			`{"id":"` + id + `","receipt":{},"cancel_unfreezeV2_amount":[{"key":"ENERGY","value":5},{"key":"BANDWIDTH","value":0},{"key":"TRON_POWER","value":7}]}`,
			&tronpb.TransactionInfo{Id: mustHex(t, id), Receipt: &tronpb.ResourceReceipt{}, CancelUnfreezeV2Amount: []*tronpb.CancelUnfreezeV2AmountEntry{
				{Key: "ENERGY", Value: 5}, {Key: "BANDWIDTH"}, {Key: "TRON_POWER", Value: 7},
			}},
		},
		{
			"an internal transaction that moved nothing",
			`{"id":"` + id + `","receipt":{},"internal_transactions":[{"hash":"01","caller_address":"41aa","transferTo_address":"41bb","callValueInfo":[{}],"note":"63616c6c","rejected":true}],"contractResult":[""],"log":[{"address":"cc","topics":["dd",""]}]}`,
			&tronpb.TransactionInfo{
				Id: mustHex(t, id), Receipt: &tronpb.ResourceReceipt{}, ContractResult: [][]byte{{}},
				Log: []*tronpb.TransactionInfo_Log{{Address: []byte{0xcc}, Topics: [][]byte{{0xdd}, {}}}},
				InternalTransactions: []*tronpb.InternalTransaction{{
					Hash: []byte{1}, CallerAddress: []byte{0x41, 0xaa}, TransferToAddress: []byte{0x41, 0xbb},
					CallValueInfo: []*tronpb.InternalTransaction_CallValueInfo{{}}, Note: []byte("call"), Rejected: true,
				}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var want tron.TxInfo
			require.NoError(t, json.Unmarshal([]byte(tt.json), &want))
			got, err := tron.TxInfosFromPB([]*tronpb.TransactionInfo{tt.pb})
			require.NoError(t, err)
			require.Equal(t, []tron.TxInfo{want}, got)
			pb, err := tron.TxInfosToPB(got)
			require.NoError(t, err)
			require.True(t, proto.Equal(tt.pb, pb[0]), "to protobuf: %v", pb[0])
		})
	}
}

// contractTx returns a transaction holding one contract of type t with
// value v, its ids as a node computes them.
func contractTx(tb testing.TB, t tronpb.Transaction_Contract_ContractType, v proto.Message) *tronpb.TransactionExtention {
	tb.Helper()
	var value []byte
	url := "type.googleapis.com/protocol.Unknown"
	if v != nil {
		var err error
		value, err = proto.Marshal(v)
		require.NoError(tb, err)
		url = "type.googleapis.com/" + string(v.ProtoReflect().Descriptor().FullName())
	}
	raw := &tronpb.TransactionRaw{
		RefBlockBytes: []byte{1, 2}, RefBlockNum: 7, RefBlockHash: []byte{3, 4, 5, 6, 7, 8, 9, 10},
		Expiration: 1_700_000_060_000, Timestamp: 1_700_000_000_000, FeeLimit: 15_000_000,
		Contract: []*tronpb.Transaction_Contract{{Type: t, Parameter: &tronpb.Any{TypeUrl: url, Value: value}, PermissionId: 2}},
	}
	enc, err := proto.Marshal(raw)
	require.NoError(tb, err)
	return &tronpb.TransactionExtention{
		Transaction: &tronpb.Transaction{RawData: raw, Signature: [][]byte{{0xee}}, Ret: []*tronpb.Transaction_Result{{ContractRet: tronpb.Transaction_Result_SUCCESS}}},
		Txid:        sha(enc),
	}
}

// TestBlockFromPB_Contracts checks each contract type's value against the
// JSON java-tron prints for it (visible=false), and that a type this
// package does not decode, or does not even name, still converts.
func TestBlockFromPB_Contracts(t *testing.T) {
	t.Parallel()
	owner, to := "41"+strings.Repeat("11", 20), "41"+strings.Repeat("22", 20)
	o, r := mustHex(t, owner), mustHex(t, to)
	tests := []struct {
		name  string
		typ   tronpb.Transaction_Contract_ContractType
		value proto.Message
		want  string // the JSON "value"
	}{
		{"transfer", tronpb.Transaction_Contract_TransferContract, &tronpb.TransferContract{OwnerAddress: o, ToAddress: r, Amount: 5},
			`{"owner_address":"` + owner + `","to_address":"` + to + `","amount":5}`},
		{"trc10 transfer", tronpb.Transaction_Contract_TransferAssetContract, &tronpb.TransferAssetContract{AssetName: []byte("1002000"), OwnerAddress: o, ToAddress: r, Amount: 9},
			`{"asset_name":"31303032303030","owner_address":"` + owner + `","to_address":"` + to + `","amount":9}`},
		{"trigger", tronpb.Transaction_Contract_TriggerSmartContract, &tronpb.TriggerSmartContract{OwnerAddress: o, ContractAddress: r, CallValue: 3, Data: []byte{0xa9, 0x05, 0x9c, 0xbb}, CallTokenValue: 4, TokenId: 1000001},
			`{"owner_address":"` + owner + `","contract_address":"` + to + `","call_value":3,"data":"a9059cbb","call_token_value":4,"token_id":1000001}`},
		{"create", tronpb.Transaction_Contract_CreateSmartContract, &tronpb.CreateSmartContract{OwnerAddress: o, NewContract: &tronpb.SmartContract{OriginAddress: o, Name: "Token", CallValue: 8, Bytecode: []byte{0x60}}},
			`{"owner_address":"` + owner + `","new_contract":{"origin_address":"` + owner + `","name":"Token","call_value":8,"bytecode":"60"}}`},
		{"create without fields the types keep", tronpb.Transaction_Contract_CreateSmartContract, &tronpb.CreateSmartContract{OwnerAddress: o, NewContract: &tronpb.SmartContract{Bytecode: []byte{0x60}}},
			`{"owner_address":"` + owner + `","new_contract":{"bytecode":"60"}}`},
		{"freeze v1 for energy", tronpb.Transaction_Contract_FreezeBalanceContract, &tronpb.FreezeBalanceContract{OwnerAddress: o, FrozenBalance: 10, FrozenDuration: 3, Resource: tronpb.ResourceCode_ENERGY, ReceiverAddress: r},
			`{"owner_address":"` + owner + `","frozen_balance":10,"frozen_duration":3,"resource":"ENERGY","receiver_address":"` + to + `"}`},
		{"freeze v2 for bandwidth", tronpb.Transaction_Contract_FreezeBalanceV2Contract, &tronpb.FreezeBalanceV2Contract{OwnerAddress: o, FrozenBalance: 10},
			`{"owner_address":"` + owner + `","frozen_balance":10}`},
		{"unfreeze v1", tronpb.Transaction_Contract_UnfreezeBalanceContract, &tronpb.UnfreezeBalanceContract{OwnerAddress: o, Resource: tronpb.ResourceCode_TRON_POWER},
			`{"owner_address":"` + owner + `","resource":"TRON_POWER"}`},
		{"unfreeze v2", tronpb.Transaction_Contract_UnfreezeBalanceV2Contract, &tronpb.UnfreezeBalanceV2Contract{OwnerAddress: o, UnfreezeBalance: 6, Resource: tronpb.ResourceCode_ENERGY},
			`{"owner_address":"` + owner + `","unfreeze_balance":6,"resource":"ENERGY"}`},
		{"delegate", tronpb.Transaction_Contract_DelegateResourceContract, &tronpb.DelegateResourceContract{OwnerAddress: o, Resource: tronpb.ResourceCode_ENERGY, Balance: 2, ReceiverAddress: r, Lock: true, LockPeriod: 86400},
			`{"owner_address":"` + owner + `","resource":"ENERGY","balance":2,"receiver_address":"` + to + `","lock":true,"lock_period":86400}`},
		{"undelegate", tronpb.Transaction_Contract_UnDelegateResourceContract, &tronpb.UnDelegateResourceContract{OwnerAddress: o, Balance: 2, ReceiverAddress: r},
			`{"owner_address":"` + owner + `","balance":2,"receiver_address":"` + to + `"}`},
		{"vote", tronpb.Transaction_Contract_VoteWitnessContract, &tronpb.VoteWitnessContract{OwnerAddress: o, Votes: []*tronpb.VoteWitnessContract_Vote{{VoteAddress: r, VoteCount: 4}, {VoteAddress: o}}},
			`{"owner_address":"` + owner + `","votes":[{"vote_address":"` + to + `","vote_count":4},{"vote_address":"` + owner + `"}]}`},
		{"account create", tronpb.Transaction_Contract_AccountCreateContract, &tronpb.AccountCreateContract{OwnerAddress: o, AccountAddress: r},
			`{"owner_address":"` + owner + `","account_address":"` + to + `"}`},
		{"withdraw", tronpb.Transaction_Contract_WithdrawBalanceContract, &tronpb.WithdrawBalanceContract{OwnerAddress: o},
			`{"owner_address":"` + owner + `"}`},
		{"permission update", tronpb.Transaction_Contract_AccountPermissionUpdateContract, &tronpb.AccountPermissionUpdateContract{OwnerAddress: o, Owner: []byte{0x08, 0x01}},
			`{"owner_address":"` + owner + `","owner":{"type":"Witness"}}`},
		// A type without a message here: only the fields ContractValue
		// shares by name, read by number (ParticipateAssetIssueContract is
		// owner 1, to 2, asset_name 3, amount 4).
		{"participate asset issue", tronpb.Transaction_Contract_ParticipateAssetIssueContract, &tronpb.TransferContract{OwnerAddress: o, ToAddress: r, Amount: 0},
			`{"owner_address":"` + owner + `","to_address":"` + to + `"}`},
		{"account update has its owner at 2", tronpb.Transaction_Contract_AccountUpdateContract, &tronpb.TransferContract{OwnerAddress: []byte("name"), ToAddress: o},
			`{"account_name":"6e616d65","owner_address":"` + owner + `"}`},
		{"custom contract stays empty", tronpb.Transaction_Contract_CustomContract, &tronpb.TransferContract{OwnerAddress: o}, `{}`},
		{"unnamed type", tronpb.Transaction_Contract_ContractType(99), nil, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			te := contractTx(t, tt.typ, tt.value)
			b, err := tron.BlockFromPB(&tronpb.BlockExtention{Transactions: []*tronpb.TransactionExtention{te}, BlockHeader: &tronpb.BlockHeader{RawData: &tronpb.BlockHeaderRaw{Number: 5}}})
			require.NoError(t, err)
			require.Len(t, b.Transactions, 1)
			tx := b.Transactions[0]
			require.NoError(t, tron.VerifyTxID(&tx))
			var want tron.ContractValue
			require.NoError(t, json.Unmarshal([]byte(tt.want), &want))
			c := tx.RawData.Contract[0]
			require.Equal(t, want, c.Parameter.Value)
			wantType := tronpb.Transaction_Contract_ContractType_name[int32(tt.typ)]
			if wantType == "" {
				wantType = strconv.Itoa(int(tt.typ))
			}
			require.Equal(t, wantType, c.Type)
			require.Equal(t, te.Transaction.RawData.Contract[0].Parameter.TypeUrl, c.Parameter.TypeURL)
			require.Equal(t, int32(2), c.PermissionID)
			require.Equal(t, []tron.TxRet{{ContractRet: "SUCCESS"}}, tx.Ret)
			require.Equal(t, *b, *viaWire(t, b))

			// A transaction made by hand, without raw_data_hex, is built
			// from its fields and comes back with the fields unchanged.
			hand := *b
			hand.Transactions = []tron.Transaction{tx}
			hand.Transactions[0].RawDataHex = ""
			again := viaWire(t, &hand)
			require.Equal(t, tx.RawData, again.Transactions[0].RawData)
			require.NotEmpty(t, again.Transactions[0].RawDataHex)
		})
	}
}

func TestBlockFromPB_Malformed(t *testing.T) {
	t.Parallel()
	bad := contractTx(t, tronpb.Transaction_Contract_TransferContract, nil)
	bad.Transaction.RawData.Contract[0].Parameter.Value = []byte{0x0a, 0x05, 0x41} // a length past the end
	tests := []struct {
		name string
		b    *tronpb.BlockExtention
	}{
		{"nil", nil},
		{"contract value not its type", &tronpb.BlockExtention{Transactions: []*tronpb.TransactionExtention{bad}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tron.BlockFromPB(tt.b)
			require.ErrorIs(t, err, tron.ErrBadProtobuf)
		})
	}
}

func TestBlockToPB_Malformed(t *testing.T) {
	t.Parallel()
	tx := tron.Transaction{TxID: strings.Repeat("0", 64), RawDataHex: "0a02"}
	tests := []struct {
		name string
		b    *tron.Block
	}{
		{"nil", nil},
		{"block id not hex", &tron.Block{BlockID: "zz"}},
		{"odd parent hash", &tron.Block{BlockHeader: tron.BlockHeader{RawData: tron.BlockHeaderRaw{ParentHash: "abc"}}}},
		{"txID not hex", &tron.Block{Transactions: []tron.Transaction{{TxID: "x", RawDataHex: "0a00"}}}},
		{"raw data not protobuf", &tron.Block{Transactions: []tron.Transaction{tx}}},
		{"unknown contract type name", &tron.Block{Transactions: []tron.Transaction{{RawData: tron.TxRaw{Contract: []tron.Contract{{Type: "NoSuchContract"}}}}}}},
		{"unknown resource", &tron.Block{Transactions: []tron.Transaction{{RawData: tron.TxRaw{Contract: []tron.Contract{{Type: "FreezeBalanceV2Contract", Parameter: tron.ContractParameter{Value: tron.ContractValue{Resource: "WATER"}}}}}}}}},
		{"unknown contractRet", &tron.Block{Transactions: []tron.Transaction{{Ret: []tron.TxRet{{ContractRet: "MAYBE"}}, RawDataHex: "0a00"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tron.BlockToPB(tt.b)
			require.ErrorIs(t, err, tron.ErrBadProtobuf)
		})
	}
	_, err := tron.TxInfosToPB([]tron.TxInfo{{ID: "no"}})
	require.ErrorIs(t, err, tron.ErrBadProtobuf)
	_, err = tron.TxInfosToPB([]tron.TxInfo{{Result: "PERHAPS"}})
	require.ErrorIs(t, err, tron.ErrBadProtobuf)
	_, err = tron.TxInfosFromPB([]*tronpb.TransactionInfo{nil})
	require.ErrorIs(t, err, tron.ErrBadProtobuf)
}

func TestNodeInfoFromPB(t *testing.T) {
	t.Parallel()
	pb := &tronpb.NodeInfo{
		BeginSyncNum: 5, Block: "Num:70,ID:0000", SolidityBlock: "Num:51,ID:0001", ActiveConnectCount: 3, CurrentConnectCount: 9,
		ConfigNodeInfo: &tronpb.NodeInfo_ConfigNodeInfo{CodeVersion: "4.7.6", P2PVersion: "11111", ListenPort: 18888},
	}
	var want tron.NodeInfo
	require.NoError(t, json.Unmarshal([]byte(`{"beginSyncNum":5,"block":"Num:70,ID:0000","solidityBlock":"Num:51,ID:0001","activeConnectCount":3,"configNodeInfo":{"codeVersion":"4.7.6","p2pVersion":"11111","listenPort":18888}}`), &want))
	got := tron.NodeInfoFromPB(pb)
	require.Equal(t, want, *got)
	n, ok := got.SolidityBlockNum()
	require.True(t, ok)
	require.Equal(t, int64(51), n)
	back := tron.NodeInfoToPB(got)
	pb.CurrentConnectCount = 0 // not kept
	require.True(t, proto.Equal(pb, back), "%v", back)
	require.Equal(t, tron.NodeInfo{}, *tron.NodeInfoFromPB(nil))
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(tb, err)
	return b
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
