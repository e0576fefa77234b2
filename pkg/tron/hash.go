package tron

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// ErrIntegrity is wrapped when a block id or transaction id does not match
// the data it claims to identify.
var ErrIntegrity = errors.New("tron: integrity check failed")

// VerifyTxID checks that tx.TxID is sha256(raw_data_hex). Comparing the
// digest bytes avoids formatting a string per transaction.
func VerifyTxID(tx *Transaction) error {
	if len(tx.RawDataHex)%2 != 0 || len(tx.TxID) != 64 {
		return fmt.Errorf("%w: transaction %q: malformed txID or raw_data_hex", ErrIntegrity, clip(tx.TxID))
	}
	var want [32]byte
	if _, err := hex.Decode(want[:], []byte(tx.TxID)); err != nil {
		return fmt.Errorf("%w: transaction %q: txID is not hex", ErrIntegrity, clip(tx.TxID))
	}
	h := sha256.New()
	var buf [512]byte
	s := tx.RawDataHex
	for len(s) > 0 {
		n := min(len(s), 2*len(buf))
		if _, err := hex.Decode(buf[:n/2], []byte(s[:n])); err != nil {
			return fmt.Errorf("%w: transaction %s: raw_data_hex is not hex", ErrIntegrity, tx.TxID)
		}
		h.Write(buf[:n/2])
		s = s[n:]
	}
	var got [32]byte
	h.Sum(got[:0])
	if got != want {
		return fmt.Errorf("%w: transaction %s: sha256(raw_data_hex) is %x", ErrIntegrity, tx.TxID, got)
	}
	return nil
}

// EncodeHeaderRaw returns the protobuf encoding of a header's raw data
// (protocol.BlockHeader.raw) as java-tron serialises it: fields in number
// order, defaults left out, which is what proto.Marshal gives.
func EncodeHeaderRaw(r *BlockHeaderRaw) ([]byte, error) {
	pb, err := HeaderRawToPB(r)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(pb)
}

// BlockIDFromRaw returns the id of a block from its number and raw header
// bytes: the 8-byte big-endian number followed by bytes 8..32 of
// sha256(raw).
func BlockIDFromRaw(number int64, raw []byte) string {
	sum := sha256.Sum256(raw)
	binary.BigEndian.PutUint64(sum[:8], uint64(number))
	return hex.EncodeToString(sum[:])
}

// ComputeBlockID returns the id a header hashes to.
func ComputeBlockID(h *BlockHeaderRaw) (string, error) {
	raw, err := EncodeHeaderRaw(h)
	if err != nil {
		return "", err
	}
	return BlockIDFromRaw(h.Number, raw), nil
}

// VerifyBlockID checks that b.BlockID is what its header hashes to.
func VerifyBlockID(b *Block) error {
	id, err := ComputeBlockID(&b.BlockHeader.RawData)
	if err != nil {
		return fmt.Errorf("%w: block %d: %w", ErrIntegrity, b.BlockHeader.RawData.Number, err)
	}
	if id != b.BlockID {
		return fmt.Errorf("%w: block %d: blockID %q, header hashes to %s", ErrIntegrity, b.BlockHeader.RawData.Number, clip(b.BlockID), id)
	}
	return nil
}
