package tron_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// TestBlockID_RealMainnetHeaders pins block id computation on 100 real
// consecutive mainnet headers: each raw header decodes, re-encodes to the
// same bytes, hashes to its recorded id, and names its predecessor's id as
// parent.
func TestBlockID_RealMainnetHeaders(t *testing.T) {
	t.Parallel()
	var f struct {
		StartingBlockID string   `json:"startingBlockId"`
		BlockNumbers    []string `json:"blockNumbers"`
		BlockIDs        []string `json:"blockIds"`
		RawHeaders      []string `json:"blockHeaderRawBytes"`
	}
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "headers-78000000-78000099.json"), &f))
	require.Len(t, f.RawHeaders, 100)
	parent := strings.TrimPrefix(f.StartingBlockID, "0x")
	for i, rawHex := range f.RawHeaders {
		raw, err := hex.DecodeString(strings.TrimPrefix(rawHex, "0x"))
		require.NoError(t, err)
		h, err := decodeHeaderRaw(raw)
		require.NoError(t, err, "header %d", i)
		num, err := strconv.ParseInt(f.BlockNumbers[i], 10, 64)
		require.NoError(t, err)
		require.Equal(t, num, h.Number)

		again, err := tron.EncodeHeaderRaw(&h)
		require.NoError(t, err)
		require.Equal(t, raw, again, "header %d re-encodes byte for byte", num)

		want := strings.TrimPrefix(f.BlockIDs[i], "0x")
		id, err := tron.ComputeBlockID(&h)
		require.NoError(t, err)
		require.Equal(t, want, id, "block %d", num)
		require.Equal(t, parent, h.ParentHash, "block %d links to its parent", num)

		b := tron.Block{BlockID: id, BlockHeader: tron.BlockHeader{RawData: h}}
		require.NoError(t, tron.VerifyBlockID(&b))
		b.BlockHeader.RawData.Timestamp++
		require.ErrorIs(t, tron.VerifyBlockID(&b), tron.ErrIntegrity, "a changed header no longer verifies")
		parent = id
	}
}

func TestVerifyTxID(t *testing.T) {
	t.Parallel()
	// The first transaction of mainnet block 43811922.
	tx := tron.Transaction{
		TxID:       "69dc653ea37256281569749f1688d784e999e859d13c78c8e826fff035191499",
		RawDataHex: "0a02843e2208783e73b808211b6d4080baa2beaf30525ce689b9e9878fe8bdace8b4a6efbc8ce993bee4b88ae5bc95e6b581efbc8ce59cb0e59d80e79b91e68ea7e5bc95e6b581efbc8c54524f4ee99d93e58fb7efbc8c4e4654e5ae9ae588b668747470733a2f2f74726f6e68656c702e696f5a65080112610a2d747970652e676f6f676c65617069732e636f6d2f70726f746f636f6c2e5472616e73666572436f6e747261637412300a1541e9da308e7813619eb0b1d2a217903f766ed73ba61215415f495edee28ec5f604ee23f23ab17aa88c5699b21801708dfb9ebeaf30",
	}
	require.NoError(t, tron.VerifyTxID(&tx))

	bad := []tron.Transaction{
		{TxID: tx.TxID, RawDataHex: tx.RawDataHex[:len(tx.RawDataHex)-2] + "31"},
		{TxID: tx.TxID, RawDataHex: tx.RawDataHex[:11]},
		{TxID: tx.TxID, RawDataHex: "zz"},
		{TxID: tx.TxID[:63], RawDataHex: tx.RawDataHex},
		{TxID: strings.Repeat("g", 64), RawDataHex: tx.RawDataHex},
	}
	for i, b := range bad {
		require.ErrorIs(t, tron.VerifyTxID(&b), tron.ErrIntegrity, "case %d", i)
	}
}

// decodeHeaderRaw parses protobuf header bytes with the generated type,
// for the round trip the real headers are checked with: unknown fields are
// an error, so the round trip is exact.
func decodeHeaderRaw(raw []byte) (tron.BlockHeaderRaw, error) {
	var pb tronpb.BlockHeaderRaw
	if err := proto.Unmarshal(raw, &pb); err != nil {
		return tron.BlockHeaderRaw{}, err
	}
	if u := pb.ProtoReflect().GetUnknown(); len(u) > 0 {
		return tron.BlockHeaderRaw{}, fmt.Errorf("tron: header: %d bytes of unknown fields", len(u))
	}
	b, err := tron.BlockFromPB(&tronpb.BlockExtention{BlockHeader: &tronpb.BlockHeader{RawData: &pb}})
	if err != nil {
		return tron.BlockHeaderRaw{}, err
	}
	return b.BlockHeader.RawData, nil
}
