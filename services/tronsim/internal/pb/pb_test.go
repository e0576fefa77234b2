package pb_test

import (
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/internal/pb"
)

// TestEncodeTxRaw_MainnetFixture re-encodes every transaction of a real
// mainnet block from its raw_data JSON and requires the exact raw_data_hex
// the node returned, which is what makes the simulator's txIDs real ones.
func TestEncodeTxRaw_MainnetFixture(t *testing.T) {
	t.Parallel()
	var b tron.Block
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "getblockbynum-43811922.json"), &b))
	require.Len(t, b.Transactions, 198)
	types := map[string]int{}
	for _, tx := range b.Transactions {
		got, err := pb.EncodeTxRaw(&tx.RawData)
		require.NoError(t, err, "tx %s", tx.TxID)
		require.Equal(t, tx.RawDataHex, hex.EncodeToString(got), "tx %s (%s)", tx.TxID, tx.RawData.Contract[0].Type)
		types[tx.RawData.Contract[0].Type]++
	}
	require.Equal(t, map[string]int{"TransferContract": 73, "TransferAssetContract": 62, "TriggerSmartContract": 63}, types)
}

func TestEncodeTxRaw_Contracts(t *testing.T) {
	t.Parallel()
	const owner = "4160bb513e91aa723a10a4020ae6fcce39bce7e240"
	const other = "41f3f1c189594e2642e5d42d7669b4ec60a69802a9"
	ownerB58 := "TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vx"
	tests := []struct {
		name  string
		typ   string
		value tron.ContractValue
		want  string // hex of the contract message
	}{
		{"freeze v2 energy", "FreezeBalanceV2Contract", tron.ContractValue{OwnerAddress: owner, FrozenBalance: 1000000, Resource: "ENERGY"},
			"0a15" + owner + "10c0843d1801"},
		{"freeze v2 bandwidth omits resource", "FreezeBalanceV2Contract", tron.ContractValue{OwnerAddress: owner, FrozenBalance: 1},
			"0a15" + owner + "1001"},
		{"unfreeze v2", "UnfreezeBalanceV2Contract", tron.ContractValue{OwnerAddress: owner, UnfreezeBalance: 5, Resource: "TRON_POWER"},
			"0a15" + owner + "10051802"},
		{"delegate locked", "DelegateResourceContract", tron.ContractValue{OwnerAddress: owner, Resource: "ENERGY", Balance: 7, ReceiverAddress: other, Lock: true, LockPeriod: 3},
			"0a15" + owner + "1001180722" + "15" + other + "28013003"},
		{"undelegate", "UnDelegateResourceContract", tron.ContractValue{OwnerAddress: owner, Balance: 7, ReceiverAddress: other},
			"0a15" + owner + "180722" + "15" + other},
		{"vote", "VoteWitnessContract", tron.ContractValue{OwnerAddress: owner, Votes: []tron.VoteWitness{{VoteAddress: other, VoteCount: 2}}},
			"0a15" + owner + "1219" + "0a15" + other + "1002"},
		{"withdraw", "WithdrawBalanceContract", tron.ContractValue{OwnerAddress: owner}, "0a15" + owner},
		{"account create", "AccountCreateContract", tron.ContractValue{OwnerAddress: owner, AccountAddress: other}, "0a15" + owner + "1215" + other},
		{"base58 owner", "WithdrawExpireUnfreezeContract", tron.ContractValue{OwnerAddress: ownerB58}, "0a15" + owner},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := tron.TxRaw{Contract: []tron.Contract{{Type: tc.typ, Parameter: tron.ContractParameter{Value: tc.value}}}}
			got, err := pb.EncodeTxRaw(&raw)
			require.NoError(t, err)
			url := pb.TypeURLPrefix + tc.typ
			value, err := hex.DecodeString(tc.want)
			require.NoError(t, err)
			// Contract{type, parameter: Any{type_url, value}} wrapped in raw field 11.
			anyMsg := append([]byte{0x0a, byte(len(url))}, url...)
			anyMsg = append(anyMsg, 0x12, byte(len(value)))
			anyMsg = append(anyMsg, value...)
			var contract []byte
			if n := pb.ContractTypes[tc.typ]; n != 0 {
				contract = append(contract, 0x08, byte(n))
			}
			contract = append(contract, 0x12, byte(len(anyMsg)))
			contract = append(contract, anyMsg...)
			want := append([]byte{0x5a, byte(len(contract))}, contract...)
			require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
		})
	}
}

func TestEncodeTxRaw_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  tron.TxRaw
	}{
		{"unknown type", tron.TxRaw{Contract: []tron.Contract{{Type: "NoSuchContract"}}}},
		{"bad address", tron.TxRaw{Contract: []tron.Contract{{Type: "TransferContract", Parameter: tron.ContractParameter{Value: tron.ContractValue{OwnerAddress: "zz"}}}}}},
		{"bad hex", tron.TxRaw{RefBlockHash: "xyz0"}},
		{"bad resource", tron.TxRaw{Contract: []tron.Contract{{Type: "FreezeBalanceV2Contract", Parameter: tron.ContractParameter{Value: tron.ContractValue{Resource: "GOLD"}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := pb.EncodeTxRaw(&tc.raw)
			require.Error(t, err)
		})
	}
}
