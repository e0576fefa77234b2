package tron

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrIntegrity is wrapped when a block id or transaction id does not match
// the data it claims to identify.
var ErrIntegrity = errors.New("tron: integrity check failed")

// TxID returns the id of a transaction: sha256 of its raw_data protobuf
// bytes, hex.
func TxID(rawDataHex string) (string, error) {
	raw, err := hex.DecodeString(rawDataHex)
	if err != nil {
		return "", fmt.Errorf("tron: raw_data_hex: %w", err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

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
// (protocol.BlockHeader.raw), fields in number order and defaults omitted,
// as java-tron serialises it.
func EncodeHeaderRaw(r *BlockHeaderRaw) ([]byte, error) {
	var b []byte
	b = pbVarint(b, 1, uint64(r.Timestamp))
	var err error
	if b, err = pbHexBytes(b, 2, r.TxTrieRoot, "txTrieRoot"); err != nil {
		return nil, err
	}
	if b, err = pbHexBytes(b, 3, r.ParentHash, "parentHash"); err != nil {
		return nil, err
	}
	b = pbVarint(b, 7, uint64(r.Number))
	b = pbVarint(b, 8, uint64(r.WitnessID))
	if b, err = pbHexBytes(b, 9, r.WitnessAddress, "witness_address"); err != nil {
		return nil, err
	}
	// int32 fields are sign-extended to 64 bits on the wire.
	b = pbVarint(b, 10, uint64(int64(r.Version)))
	if b, err = pbHexBytes(b, 11, r.AccountStateRoot, "accountStateRoot"); err != nil {
		return nil, err
	}
	return b, nil
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
		return fmt.Errorf("%w: block %d: %v", ErrIntegrity, b.BlockHeader.RawData.Number, err)
	}
	if id != b.BlockID {
		return fmt.Errorf("%w: block %d: blockID %q, header hashes to %s", ErrIntegrity, b.BlockHeader.RawData.Number, clip(b.BlockID), id)
	}
	return nil
}

// BlockNumberFromID returns the number a block id starts with.
func BlockNumberFromID(id string) (int64, error) {
	if len(id) != 64 {
		return 0, fmt.Errorf("tron: block id %q: want 64 hex digits", clip(id))
	}
	var b [8]byte
	if _, err := hex.Decode(b[:], []byte(id[:16])); err != nil {
		return 0, fmt.Errorf("tron: block id %q: %w", clip(id), err)
	}
	return int64(binary.BigEndian.Uint64(b[:])), nil
}

// DecodeHeaderRaw parses protobuf header bytes, the inverse of
// [EncodeHeaderRaw]. Unknown fields are an error, so a round trip is exact.
func DecodeHeaderRaw(raw []byte) (BlockHeaderRaw, error) {
	var r BlockHeaderRaw
	for len(raw) > 0 {
		key, n := binary.Uvarint(raw)
		if n <= 0 {
			return r, errors.New("tron: header: bad field key")
		}
		raw = raw[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0:
			v, n := binary.Uvarint(raw)
			if n <= 0 {
				return r, fmt.Errorf("tron: header: bad varint in field %d", field)
			}
			raw = raw[n:]
			switch field {
			case 1:
				r.Timestamp = int64(v)
			case 7:
				r.Number = int64(v)
			case 8:
				r.WitnessID = int64(v)
			case 10:
				r.Version = int32(v)
			default:
				return r, fmt.Errorf("tron: header: unknown varint field %d", field)
			}
		case 2:
			l, n := binary.Uvarint(raw)
			if n <= 0 || l > uint64(len(raw)-n) {
				return r, fmt.Errorf("tron: header: bad length in field %d", field)
			}
			v := hex.EncodeToString(raw[n : n+int(l)])
			raw = raw[n+int(l):]
			switch field {
			case 2:
				r.TxTrieRoot = v
			case 3:
				r.ParentHash = v
			case 9:
				r.WitnessAddress = v
			case 11:
				r.AccountStateRoot = v
			default:
				return r, fmt.Errorf("tron: header: unknown bytes field %d", field)
			}
		default:
			return r, fmt.Errorf("tron: header: unsupported wire type %d in field %d", wire, field)
		}
	}
	return r, nil
}

func pbVarint(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func pbHexBytes(b []byte, field int, h, name string) ([]byte, error) {
	if h == "" {
		return b, nil
	}
	v, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%s is not hex: %w", name, err)
	}
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...), nil
}
