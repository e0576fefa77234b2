// Package tron holds everything Mongotron knows about the Tron chain:
// addresses, amounts, the full node's HTTP API shapes and client, block and
// transaction decoding into events, and token metadata. It has no opinion on
// storage or delivery; the services decide that.
package tron

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// AddressPrefix is the first byte of every mainnet, Nile and Shasta address.
const AddressPrefix = 0x41

// AddressLen is the length in bytes of an address with its prefix.
const AddressLen = 21

// Address is a Tron account or contract address: the 0x41 prefix followed by
// the 20 bytes an EVM word or log topic carries. The zero value is "no
// address"; it marshals to nothing under omitzero and to "" otherwise.
type Address [AddressLen]byte

// ErrInvalidAddress is wrapped by every address parsing error.
var ErrInvalidAddress = errors.New("tron: invalid address")

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var base58Index = func() (idx [256]int8) {
	for i := range idx {
		idx[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		idx[base58Alphabet[i]] = int8(i)
	}
	return idx
}()

// ParseAddress accepts a base58check address ("T…"), a 21-byte hex address
// ("41…", with or without 0x) or a 20-byte hex EVM-style address, and says
// exactly what is wrong with anything else: length, alphabet, checksum or
// prefix.
func ParseAddress(s string) (Address, error) {
	if s == "" {
		return Address{}, fmt.Errorf("%w: empty", ErrInvalidAddress)
	}
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s[0] != 'T' && (len(h) != len(s) || isHex(h)) {
		return ParseHex(s)
	}
	return ParseBase58(s)
}

// ParseBase58 decodes a base58check address and verifies its checksum and
// prefix.
func ParseBase58(s string) (Address, error) {
	var a Address
	raw, err := base58Decode(s)
	if err != nil {
		return a, err
	}
	if len(raw) != AddressLen+4 {
		return a, fmt.Errorf("%w: %q decodes to %d bytes, want 25 (21 address + 4 checksum)", ErrInvalidAddress, clip(s), len(raw))
	}
	sum := checksum(raw[:AddressLen])
	if [4]byte(raw[AddressLen:]) != sum {
		return a, fmt.Errorf("%w: %q has a bad checksum", ErrInvalidAddress, clip(s))
	}
	if raw[0] != AddressPrefix {
		return a, fmt.Errorf("%w: %q has prefix 0x%02x, want 0x41", ErrInvalidAddress, clip(s), raw[0])
	}
	copy(a[:], raw)
	return a, nil
}

// ParseHex decodes a 21-byte hex address starting with 41, or a 20-byte one
// to which the prefix is added. A leading 0x is allowed.
func ParseHex(s string) (Address, error) {
	var a Address
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	switch len(h) {
	case 2 * AddressLen:
		if _, err := hex.Decode(a[:], []byte(h)); err != nil {
			return Address{}, fmt.Errorf("%w: %q is not hex: %w", ErrInvalidAddress, clip(s), err)
		}
		if a[0] != AddressPrefix {
			return Address{}, fmt.Errorf("%w: %q has prefix 0x%02x, want 0x41", ErrInvalidAddress, clip(s), a[0])
		}
	case 40:
		a[0] = AddressPrefix
		if _, err := hex.Decode(a[1:], []byte(h)); err != nil {
			return Address{}, fmt.Errorf("%w: %q is not hex: %w", ErrInvalidAddress, clip(s), err)
		}
	default:
		return Address{}, fmt.Errorf("%w: hex address %q has %d digits, want 42 (41 + 20 bytes) or 40", ErrInvalidAddress, clip(s), len(h))
	}
	return a, nil
}

// AddressFromEVM returns the address of a 20-byte EVM address, as found in
// logs. It panics if b is not 20 bytes long.
func AddressFromEVM(b []byte) Address {
	if len(b) != 20 {
		panic("tron: AddressFromEVM needs 20 bytes")
	}
	var a Address
	a[0] = AddressPrefix
	copy(a[1:], b)
	return a
}

// AddressFromWord returns the address held in the low 20 bytes of a 32-byte
// ABI word (a log topic or an argument). ok is false when the word is not 32
// bytes or its upper 12 bytes are not zero, which no valid address encodes.
func AddressFromWord(w []byte) (a Address, ok bool) {
	if len(w) != 32 {
		return a, false
	}
	for _, c := range w[:12] {
		if c != 0 {
			return a, false
		}
	}
	return AddressFromEVM(w[12:]), true
}

// IsZero reports whether a is the zero value (no address).
func (a Address) IsZero() bool { return a == Address{} }

// EVM returns the 20 bytes that logs and ABI words carry.
func (a Address) EVM() []byte { return a[1:] }

// Hex returns the 42-digit hex form, starting with 41.
func (a Address) Hex() string { return hex.EncodeToString(a[:]) }

// String returns the base58check form ("T…"), or "" for the zero address.
func (a Address) String() string {
	if a.IsZero() {
		return ""
	}
	var buf [34]byte
	return string(a.appendBase58(buf[:0]))
}

// MarshalText encodes the address as base58check, as everywhere on the wire.
func (a Address) MarshalText() ([]byte, error) {
	if a.IsZero() {
		return []byte{}, nil
	}
	return a.appendBase58(make([]byte, 0, 34)), nil
}

// UnmarshalText accepts what ParseAddress accepts; "" gives the zero address.
func (a *Address) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*a = Address{}
		return nil
	}
	p, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

func checksum(b []byte) [4]byte {
	h1 := sha256.Sum256(b)
	h2 := sha256.Sum256(h1[:])
	return [4]byte(h2[:4])
}

// appendBase58 encodes the 25 bytes address‖checksum. The payload is split
// into 32-bit limbs and divided by 58^5 at a time, which is several times
// faster than the textbook byte-at-a-time loop; the decoder and the matcher
// never need this, only JSON output does.
func (a Address) appendBase58(dst []byte) []byte {
	var in [25]byte
	copy(in[:], a[:])
	sum := checksum(a[:])
	copy(in[21:], sum[:])
	return base58Encode(dst, in[:])
}

func base58Encode(dst, in []byte) []byte {
	zeros := 0
	for zeros < len(in) && in[zeros] == 0 {
		zeros++
	}
	// Big-endian base-2^32 limbs of the payload.
	var limbs [8]uint32
	n := (len(in) + 3) / 4
	if n > len(limbs) {
		panic("tron: base58Encode input too long")
	}
	for i, c := range in {
		pos := len(in) - 1 - i
		limbs[n-1-pos/4] |= uint32(c) << (8 * (pos % 4))
	}
	var out [48]byte
	o := len(out)
	const big = 58 * 58 * 58 * 58 * 58 // 656356768 < 2^32
	start := 0
	for start < n {
		var rem uint64
		for i := start; i < n; i++ {
			cur := rem<<32 | uint64(limbs[i])
			limbs[i] = uint32(cur / big)
			rem = cur % big
		}
		for start < n && limbs[start] == 0 {
			start++
		}
		r := uint32(rem)
		for k := 0; k < 5; k++ {
			o--
			out[o] = base58Alphabet[r%58]
			r /= 58
		}
	}
	for o < len(out) && out[o] == '1' {
		o++
	}
	for i := 0; i < zeros; i++ {
		dst = append(dst, '1')
	}
	return append(dst, out[o:]...)
}

func base58Decode(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidAddress)
	}
	if len(s) > 48 {
		return nil, fmt.Errorf("%w: %q is %d characters, too long for base58check", ErrInvalidAddress, clip(s), len(s))
	}
	var out [40]byte // big-endian accumulator
	for i := 0; i < len(s); i++ {
		d := base58Index[s[i]]
		if d < 0 {
			return nil, fmt.Errorf("%w: %q has %q at position %d, not in the base58 alphabet", ErrInvalidAddress, clip(s), s[i], i)
		}
		carry := uint32(d)
		for j := len(out) - 1; j >= 0; j-- {
			carry += uint32(out[j]) * 58
			out[j] = byte(carry)
			carry >>= 8
		}
		if carry != 0 {
			return nil, fmt.Errorf("%w: %q is too long for base58check", ErrInvalidAddress, clip(s))
		}
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	first := 0
	for first < len(out) && out[first] == 0 {
		first++
	}
	res := make([]byte, zeros+len(out)-first)
	copy(res[zeros:], out[first:])
	return res, nil
}

func isHex(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdefABCDEF") == ""
}

// clip keeps error messages short when the input is huge.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
