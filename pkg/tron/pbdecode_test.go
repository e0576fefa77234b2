package tron_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// rawGRPCBlock is a mainnet block as a node's GetBlockByNum2 returned it,
// hex with 0x (see pkg/fixtures/testdata/tron/README.md).
const rawGRPCBlock = "getblockbynum2-79072107.hex"

// TestDecodeBlockExtention_RealGRPCBlock decodes a real raw gRPC answer:
// the block is the one its id says (the id is the hash of its header),
// and every transaction is the one its txid says.
func TestDecodeBlockExtention_RealGRPCBlock(t *testing.T) {
	t.Parallel()
	text := fixtures.Read(t, rawGRPCBlock)
	b, err := tron.DecodeBlockExtention(text)
	require.NoError(t, err)
	require.Equal(t, int64(79072107), b.BlockHeader.RawData.Number)
	require.NoError(t, tron.VerifyBlockID(b))
	require.Len(t, b.Transactions, 619)
	kinds := map[string]int{}
	for i := range b.Transactions {
		tx := &b.Transactions[i]
		require.NoError(t, tron.VerifyTxID(tx), "transaction %d", i)
		require.Len(t, tx.RawData.Contract, 1)
		kinds[tx.RawData.Contract[0].Type]++
	}
	require.Equal(t, "860981c986ef3c0313916283483e6e0f8614686b2c011c31d68d42e8efff6601", b.Transactions[296].TxID)
	require.Positive(t, kinds["TriggerSmartContract"])
	require.Positive(t, kinds["TransferAssetContract"])
	require.Positive(t, kinds["DelegateResourceContract"])

	// A TRC10 transfer of the block, as java-tron's HTTP API prints it.
	var trc10 *tron.Contract
	for i := range b.Transactions {
		if c := &b.Transactions[i].RawData.Contract[0]; c.Type == "TransferAssetContract" {
			trc10 = c
			break
		}
	}
	require.Equal(t, "31303035313134", trc10.Parameter.Value.AssetName, "asset 1005114, hex of its bytes")
	require.Equal(t, "type.googleapis.com/protocol.TransferAssetContract", trc10.Parameter.TypeURL)

	// Through protobuf again, as the simulator serves it: unchanged.
	pb, err := tron.BlockToPB(b)
	require.NoError(t, err)
	again, err := tron.BlockFromPB(pb)
	require.NoError(t, err)
	require.Equal(t, b, again)
}

func TestDecodeBlockExtention_Forms(t *testing.T) {
	t.Parallel()
	text := bytes.TrimSpace(fixtures.Read(t, rawGRPCBlock))
	bin, err := hex.DecodeString(strings.TrimPrefix(string(text), "0x"))
	require.NoError(t, err)
	want, err := tron.DecodeBlockExtention(bin)
	require.NoError(t, err)

	// The same block as a plain Block, without ids: they are computed.
	var ext tronpb.BlockExtention
	require.NoError(t, proto.Unmarshal(bin, &ext))
	plain := &tronpb.Block{BlockHeader: ext.GetBlockHeader()}
	for _, te := range ext.GetTransactions() {
		plain.Transactions = append(plain.Transactions, te.GetTransaction())
	}
	plainBin, err := proto.Marshal(plain)
	require.NoError(t, err)

	upper := "0X" + strings.ToUpper(string(text[2:]))
	tests := []struct {
		name string
		in   []byte
	}{
		{"binary", bin},
		{"hex with 0x", text},
		{"hex without 0x", text[2:]},
		{"upper-case hex", []byte(upper)},
		{"hex with surrounding whitespace", append(append([]byte(" \n\t"), text...), "\r\n\n"...)},
		{"a plain Block", plainBin},
		{"a plain Block as hex", []byte(hex.EncodeToString(plainBin))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tron.DecodeBlockExtention(tt.in)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestDecodeBlockExtention_Malformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"whitespace", " \n"},
		{"0x alone", "0x"},
		{"odd hex", "0x0a0"},
		{"not hex after 0x", "0xzz"},
		{"JSON", `{"blockID":"00"}`},
		{"truncated protobuf", "\x0a\x50\x0a"},
		{"no header", "\x1a\x02\x00\x01"},
		{"an empty answer", "\x12\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tron.DecodeBlockExtention([]byte(tt.in))
			require.ErrorIs(t, err, tron.ErrBadProtobuf)
		})
	}
}
