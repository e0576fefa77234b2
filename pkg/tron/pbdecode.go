package tron

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// DecodeBlockExtention decodes a block saved as a node's gRPC API returns
// it: a protobuf BlockExtention (GetBlockByNum2, GetNowBlock2), as binary
// or as hex text with or without 0x (surrounding whitespace ignored). The
// ids are the node's, to be checked with [VerifyBlockID] and [VerifyTxID].
//
// A plain protobuf Block (GetBlockByNum, without the "2") is taken too:
// it carries no ids, so they are computed from the header and each
// transaction's raw data, and check by construction.
func DecodeBlockExtention(data []byte) (*Block, error) {
	raw, err := unhexText(data)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrBadProtobuf)
	}
	hasID, err := hasTopLevelField(raw, 3)
	if err != nil {
		return nil, fmt.Errorf("%w: not a protobuf block: %w", ErrBadProtobuf, err)
	}
	var ext *tronpb.BlockExtention
	if hasID {
		ext = &tronpb.BlockExtention{}
		if err := proto.Unmarshal(raw, ext); err != nil {
			return nil, fmt.Errorf("%w: not a BlockExtention: %w", ErrBadProtobuf, err)
		}
	} else {
		if ext, err = blockToExtention(raw); err != nil {
			return nil, err
		}
	}
	if ext.GetBlockHeader().GetRawData() == nil {
		return nil, fmt.Errorf("%w: no block header", ErrBadProtobuf)
	}
	return BlockFromPB(ext)
}

// unhexText returns the bytes hex text spells, or data itself when it is
// not hex text. Binary protobuf is never all hex digits in practice: a
// block's first byte is a field key, 0x0a or 0x12, not an ASCII digit.
func unhexText(data []byte) ([]byte, error) {
	t := bytes.TrimSpace(data)
	if len(t) >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		t = t[2:]
	} else if !isHexDigits(t) {
		return data, nil
	}
	if !isHexDigits(t) || len(t)%2 != 0 {
		return nil, fmt.Errorf("%w: hex text with an odd length or a character that is not a hex digit", ErrBadProtobuf)
	}
	out := make([]byte, len(t)/2)
	if _, err := hex.Decode(out, t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadProtobuf, err)
	}
	return out, nil
}

func isHexDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// hasTopLevelField reports whether the message b has field num, checking
// that its top level is well-formed protobuf.
func hasTopLevelField(b []byte, num protowire.Number) (bool, error) {
	found := false
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return false, protowire.ParseError(l)
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return false, protowire.ParseError(l)
		}
		b = b[l:]
		found = found || n == num
	}
	return found, nil
}

// blockToExtention reads a protobuf Block and gives it the ids a node's
// GetBlockByNum2 would: the block id from the header, each txid from the
// transaction's raw data.
func blockToExtention(raw []byte) (*tronpb.BlockExtention, error) {
	var b tronpb.Block
	if err := proto.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("%w: not a Block or BlockExtention: %w", ErrBadProtobuf, err)
	}
	hr := b.GetBlockHeader().GetRawData()
	if hr == nil {
		return nil, fmt.Errorf("%w: no block header", ErrBadProtobuf)
	}
	enc, err := proto.Marshal(hr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadProtobuf, err)
	}
	id, err := hex.DecodeString(BlockIDFromRaw(hr.GetNumber(), enc))
	if err != nil {
		return nil, errors.Join(ErrBadProtobuf, err)
	}
	ext := &tronpb.BlockExtention{BlockHeader: b.GetBlockHeader(), Blockid: id}
	for _, tx := range b.GetTransactions() {
		rawTx, err := proto.Marshal(tx.GetRawData())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadProtobuf, err)
		}
		sum := sha256.Sum256(rawTx)
		ext.Transactions = append(ext.Transactions, &tronpb.TransactionExtention{Transaction: tx, Txid: sum[:]})
	}
	return ext, nil
}
