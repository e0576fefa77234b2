package gen_test

import (
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/internal/gen"
)

// TestAppendTxRaw_MainnetFixture re-encodes every transaction of a real
// mainnet block from its raw_data JSON and requires the exact raw_data_hex
// the node returned, which is what makes the simulator's txIDs real ones.
func TestAppendTxRaw_MainnetFixture(t *testing.T) {
	t.Parallel()
	var b tron.Block
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "getblockbynum-43811922.json"), &b))
	require.Len(t, b.Transactions, 198)
	types := map[string]int{}
	for _, tx := range b.Transactions {
		got, err := gen.AppendTxRaw(nil, &tx.RawData)
		require.NoError(t, err, "tx %s", tx.TxID)
		require.Equal(t, tx.RawDataHex, hex.EncodeToString(got), "tx %s (%s)", tx.TxID, tx.RawData.Contract[0].Type)
		types[tx.RawData.Contract[0].Type]++
	}
	require.Equal(t, map[string]int{"TransferContract": 73, "TransferAssetContract": 62, "TriggerSmartContract": 63}, types)
}

func TestAppendTxRaw_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  tron.TxRaw
	}{
		{"unknown contract type", tron.TxRaw{Contract: []tron.Contract{{Type: "NoSuchContract"}}}},
		{"address not hex", tron.TxRaw{Contract: []tron.Contract{{Type: "TransferContract", Parameter: tron.ContractParameter{Value: tron.ContractValue{OwnerAddress: "zz"}}}}}},
		{"ref block hash not hex", tron.TxRaw{RefBlockHash: "xyz"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := gen.AppendTxRaw(nil, &tc.raw)
			require.Error(t, err)
		})
	}
}
