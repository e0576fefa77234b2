// Package pb encodes a transaction's raw data (protocol.Transaction.raw) as
// java-tron serialises it, so that the simulator's txIDs are sha256 of the
// same bytes a real node would hash. It covers the contract types the
// simulator produces and the ones found in the recorded mainnet fixtures;
// anything else is an error rather than a silently wrong id.
package pb

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/mongotron/mongotron/pkg/tron"
)

// ContractTypes maps a contract type name to its Tron.proto ContractType
// enum number. The caller must not modify it.
var ContractTypes = map[string]int{
	"AccountCreateContract":           0,
	"TransferContract":                1,
	"TransferAssetContract":           2,
	"VoteWitnessContract":             4,
	"FreezeBalanceContract":           11,
	"UnfreezeBalanceContract":         12,
	"WithdrawBalanceContract":         13,
	"TriggerSmartContract":            31,
	"FreezeBalanceV2Contract":         54,
	"UnfreezeBalanceV2Contract":       55,
	"WithdrawExpireUnfreezeContract":  56,
	"DelegateResourceContract":        57,
	"UnDelegateResourceContract":      58,
	"CancelAllUnfreezeV2Contract":     59,
	"AccountPermissionUpdateContract": 46,
}

// TypeURLPrefix prefixes every contract's google.protobuf.Any type URL.
const TypeURLPrefix = "type.googleapis.com/protocol."

// Protobuf wire types.
const (
	wireVarint = 0
	wireBytes  = 2
)

// EncodeTxRaw returns the protobuf bytes of a transaction's raw data, fields
// in number order and defaults omitted. Addresses may be hex or base58, so
// both visible and hex JSON encode to the same bytes.
func EncodeTxRaw(r *tron.TxRaw) ([]byte, error) {
	return AppendTxRaw(make([]byte, 0, 256), r)
}

// AppendTxRaw appends the encoding of r to dst, as [EncodeTxRaw].
func AppendTxRaw(dst []byte, r *tron.TxRaw) ([]byte, error) {
	var err error
	if dst, err = appendHex(dst, 1, r.RefBlockBytes, "ref_block_bytes"); err != nil {
		return nil, err
	}
	if dst, err = appendHex(dst, 4, r.RefBlockHash, "ref_block_hash"); err != nil {
		return nil, err
	}
	dst = appendVarint(dst, 8, uint64(r.Expiration))
	if dst, err = appendHex(dst, 10, r.Data, "data"); err != nil {
		return nil, err
	}
	var scratch []byte
	for i := range r.Contract {
		scratch, err = appendContract(scratch[:0], &r.Contract[i])
		if err != nil {
			return nil, fmt.Errorf("pb: contract %d: %w", i, err)
		}
		dst = appendBytes(dst, 11, scratch)
	}
	dst = appendVarint(dst, 14, uint64(r.Timestamp))
	dst = appendVarint(dst, 18, uint64(r.FeeLimit))
	return dst, nil
}

// appendContract encodes protocol.Transaction.Contract: type=1,
// parameter=2 (google.protobuf.Any), Permission_id=5.
func appendContract(dst []byte, c *tron.Contract) ([]byte, error) {
	num, ok := ContractTypes[c.Type]
	if !ok {
		return nil, fmt.Errorf("pb: unsupported contract type %q", c.Type)
	}
	value, err := appendValue(make([]byte, 0, 128), c.Type, &c.Parameter.Value)
	if err != nil {
		return nil, fmt.Errorf("pb: %s: %w", c.Type, err)
	}
	typeURL := c.Parameter.TypeURL
	if typeURL == "" {
		typeURL = TypeURLPrefix + c.Type
	}
	anyLen := 1 + uvarintLen(uint64(len(typeURL))) + len(typeURL)
	if len(value) > 0 {
		anyLen += 1 + uvarintLen(uint64(len(value))) + len(value)
	}
	dst = appendVarint(dst, 1, uint64(num))
	dst = appendKey(dst, 2, wireBytes)
	dst = binary.AppendUvarint(dst, uint64(anyLen))
	dst = appendString(dst, 1, typeURL)
	dst = appendBytes(dst, 2, value)
	dst = appendVarint(dst, 5, uint64(int64(c.PermissionID)))
	return dst, nil
}

// appendValue encodes the contract message itself, per the field numbers
// of java-tron's protocol/core/contract/*.proto.
func appendValue(dst []byte, typ string, v *tron.ContractValue) ([]byte, error) {
	a := addrAppender{}
	switch typ {
	case "AccountCreateContract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
		dst = a.add(dst, 2, v.AccountAddress, "account_address")
		dst = appendVarint(dst, 3, uint64(int64(v.Type)))
	case "TransferContract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
		dst = a.add(dst, 2, v.ToAddress, "to_address")
		dst = appendVarint(dst, 3, uint64(v.Amount))
	case "TransferAssetContract":
		var err error
		if dst, err = appendHex(dst, 1, v.AssetName, "asset_name"); err != nil {
			return nil, err
		}
		dst = a.add(dst, 2, v.OwnerAddress, "owner_address")
		dst = a.add(dst, 3, v.ToAddress, "to_address")
		dst = appendVarint(dst, 4, uint64(v.Amount))
	case "VoteWitnessContract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
		var vote []byte
		for _, vw := range v.Votes {
			vote = a.add(vote[:0], 1, vw.VoteAddress, "vote_address")
			vote = appendVarint(vote, 2, uint64(vw.VoteCount))
			dst = appendBytes(dst, 2, vote)
		}
	case "FreezeBalanceContract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
		dst = appendVarint(dst, 2, uint64(v.FrozenBalance))
		dst = appendVarint(dst, 3, uint64(v.FrozenDuration))
		dst = a.resource(dst, 10, v.Resource)
		dst = a.add(dst, 15, v.ReceiverAddress, "receiver_address")
	case "UnfreezeBalanceContract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
		dst = a.resource(dst, 10, v.Resource)
		dst = a.add(dst, 15, v.ReceiverAddress, "receiver_address")
	case "WithdrawBalanceContract", "WithdrawExpireUnfreezeContract", "CancelAllUnfreezeV2Contract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
	case "TriggerSmartContract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
		dst = a.add(dst, 2, v.ContractAddress, "contract_address")
		dst = appendVarint(dst, 3, uint64(v.CallValue))
		var err error
		if dst, err = appendHex(dst, 4, v.Data, "data"); err != nil {
			return nil, err
		}
		dst = appendVarint(dst, 5, uint64(v.CallTokenValue))
		dst = appendVarint(dst, 6, uint64(v.TokenID))
	case "FreezeBalanceV2Contract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
		dst = appendVarint(dst, 2, uint64(v.FrozenBalance))
		dst = a.resource(dst, 3, v.Resource)
	case "UnfreezeBalanceV2Contract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
		dst = appendVarint(dst, 2, uint64(v.UnfreezeBalance))
		dst = a.resource(dst, 3, v.Resource)
	case "DelegateResourceContract", "UnDelegateResourceContract":
		dst = a.add(dst, 1, v.OwnerAddress, "owner_address")
		dst = a.resource(dst, 2, v.Resource)
		dst = appendVarint(dst, 3, uint64(v.Balance))
		dst = a.add(dst, 4, v.ReceiverAddress, "receiver_address")
		if typ == "DelegateResourceContract" {
			if v.Lock {
				dst = appendVarint(dst, 5, 1)
			}
			dst = appendVarint(dst, 6, uint64(v.LockPeriod))
		}
	default:
		// AccountPermissionUpdateContract's permissions are not carried by
		// tron.ContractValue, so its bytes cannot be rebuilt from JSON.
		return nil, fmt.Errorf("pb: cannot encode the value of %q", typ)
	}
	return dst, a.err
}

// addrAppender keeps the first error so that the per-type encoders above
// read as a flat list of fields.
type addrAppender struct{ err error }

func (a *addrAppender) add(dst []byte, field int, s, name string) []byte {
	if s == "" || a.err != nil {
		return dst
	}
	var addr tron.Address
	if len(s) == 2*tron.AddressLen {
		if _, err := hex.Decode(addr[:], []byte(s)); err == nil {
			return appendBytes(dst, field, addr[:])
		}
	}
	addr, err := tron.ParseAddress(s)
	if err != nil {
		a.err = fmt.Errorf("%s: %w", name, err)
		return dst
	}
	return appendBytes(dst, field, addr[:])
}

func (a *addrAppender) resource(dst []byte, field int, r string) []byte {
	if a.err != nil {
		return dst
	}
	code, ok := ResourceCode(r)
	if !ok {
		a.err = fmt.Errorf("unknown resource %q", r)
		return dst
	}
	return appendVarint(dst, field, uint64(code))
}

// ResourceCode returns the protocol.ResourceCode number of a resource name;
// "" is the default, BANDWIDTH.
func ResourceCode(name string) (int, bool) {
	switch name {
	case "", "BANDWIDTH":
		return 0, true
	case "ENERGY":
		return 1, true
	case "TRON_POWER":
		return 2, true
	}
	return 0, false
}

func appendKey(dst []byte, field, wire int) []byte {
	return binary.AppendUvarint(dst, uint64(field)<<3|uint64(wire))
}

// appendVarint writes a varint field unless it holds the default 0, as
// proto3 does; negative int64 values are sign-extended to ten bytes.
func appendVarint(dst []byte, field int, v uint64) []byte {
	if v == 0 {
		return dst
	}
	dst = appendKey(dst, field, wireVarint)
	return binary.AppendUvarint(dst, v)
}

func appendBytes(dst []byte, field int, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	dst = appendKey(dst, field, wireBytes)
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, field int, s string) []byte {
	if s == "" {
		return dst
	}
	dst = appendKey(dst, field, wireBytes)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendHex writes a bytes field given as hex, decoding it straight into
// dst to avoid a temporary slice per field.
func appendHex(dst []byte, field int, h, name string) ([]byte, error) {
	if h == "" {
		return dst, nil
	}
	if len(h)%2 != 0 {
		return nil, fmt.Errorf("pb: %s: odd number of hex digits", name)
	}
	n := len(h) / 2
	dst = appendKey(dst, field, wireBytes)
	dst = binary.AppendUvarint(dst, uint64(n))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := hex.Decode(dst[start:], []byte(h)); err != nil {
		return nil, fmt.Errorf("pb: %s is not hex: %w", name, err)
	}
	return dst, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
