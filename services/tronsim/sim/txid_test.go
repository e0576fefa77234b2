package sim_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// TestSim_TxIDs_Pinned pins the synthetic transaction ids of a seed, so
// that a change of the raw data encoding (hand-written before the
// generated protobuf types replaced it) cannot move them unnoticed: the
// digest of every id of 50 blocks, and the id of a constant call's
// transaction.
func TestSim_TxIDs_Pinned(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 42, InitialBlocks: 50, TxsPerBlock: 300, Addresses: 10000, TrapRate: 0.2})
	h := sha256.New()
	n := 0
	for b := s.First(); b < s.First()+50; b++ {
		blk, _, err := s.Block(b)
		require.NoError(t, err)
		for _, tx := range blk.Transactions {
			h.Write([]byte(tx.TxID))
			n++
		}
	}
	require.Equal(t, 14924, n)
	require.Equal(t, "5a95a466b46abc4ce2af1fa6280ce58f9ef146beefbfffc97048efc400688677", hex.EncodeToString(h.Sum(nil)))

	_, body := call(t, base, "/wallet/triggerconstantcontract", map[string]any{
		"contract_address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "function_selector": "symbol()", "owner_address": "TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vx",
	})
	var ans struct {
		Transaction struct {
			TxID       string `json:"txID"`
			RawDataHex string `json:"raw_data_hex"`
		}
	}
	require.NoError(t, json.Unmarshal(body, &ans))
	require.Equal(t, "1afdd50558ca7eb38ab1f2ea8bc9a8a660cde717cda33a9b82a968620f83cf98", ans.Transaction.TxID)
	require.Equal(t, "0a0287312208b9f184f1c03947294098c9b2f9c1325a6d081f12690a31747970652e676f6f676c65617069732e636f6d2f70726f746f636f6c2e54726967676572536d617274436f6e747261637412340a154160bb513e91aa723a10a4020ae6fcce39bce7e240121541a614f803b6fd780986a42c78ec9c7f77e6ded13c220495d89b4170acf8aef9c132", ans.Transaction.RawDataHex)
}
