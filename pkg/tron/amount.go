package tron

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/holiman/uint256"
)

// ErrInvalidAmount is wrapped by every amount parsing error.
var ErrInvalidAmount = errors.New("tron: invalid amount")

// Amount is an exact unsigned integer of up to 256 bits: sun for TRX, base
// units for tokens. It is never a float. The zero value is "no amount" (as
// opposed to an amount of 0), which omitzero leaves out of JSON.
type Amount struct {
	v   uint256.Int
	set bool
}

// AmountFromUint64 returns the amount n.
func AmountFromUint64(n uint64) Amount {
	var a Amount
	a.v.SetUint64(n)
	a.set = true
	return a
}

// AmountFromInt64 returns n, or no amount when n is negative (the node never
// sends negative amounts; one that does is malformed, not a refund).
func AmountFromInt64(n int64) Amount {
	if n < 0 {
		return Amount{}
	}
	return AmountFromUint64(uint64(n))
}

// AmountFromWord returns the amount held in a 32-byte big-endian ABI word.
func AmountFromWord(w []byte) Amount {
	var a Amount
	a.v.SetBytes32(w)
	a.set = true
	return a
}

// ParseAmount parses a base-10 integer string with no sign, no exponent and
// no fraction, up to 2^256-1.
func ParseAmount(s string) (Amount, error) {
	if s == "" {
		return Amount{}, fmt.Errorf("%w: empty", ErrInvalidAmount)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return Amount{}, fmt.Errorf("%w: %q must be a base-10 integer string (digits only)", ErrInvalidAmount, clip(s))
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return Amount{}, fmt.Errorf("%w: %q has leading zeros", ErrInvalidAmount, clip(s))
	}
	var a Amount
	if err := a.v.SetFromDecimal(s); err != nil {
		return Amount{}, fmt.Errorf("%w: %q does not fit in 256 bits", ErrInvalidAmount, clip(s))
	}
	a.set = true
	return a, nil
}

// IsZero reports whether a is "no amount". An amount of 0 is not zero in
// this sense.
func (a Amount) IsZero() bool { return !a.set }

// Cmp compares two amounts: -1, 0 or +1. No amount sorts below 0.
func (a Amount) Cmp(b Amount) int {
	switch {
	case !a.set && !b.set:
		return 0
	case !a.set:
		return -1
	case !b.set:
		return 1
	}
	return a.v.Cmp(&b.v)
}

// Uint64 returns the amount and whether it fits in 64 bits.
func (a Amount) Uint64() (uint64, bool) { return a.v.Uint64(), a.set && a.v.IsUint64() }

// String returns the base-10 digits, or "" for no amount.
func (a Amount) String() string {
	if !a.set {
		return ""
	}
	return a.v.Dec()
}

// Decimal renders the amount with the given number of decimals, trimming
// trailing zeros of the fraction: 1500000 with 6 decimals is "1.5". It is on
// the decoder's hot path, so digits are formatted on the stack and the
// result is the only allocation.
func (a Amount) Decimal(decimals int) string {
	if !a.set {
		return ""
	}
	var digitsBuf [80]byte
	var digits []byte
	if a.v.IsUint64() {
		digits = strconv.AppendUint(digitsBuf[:0], a.v.Uint64(), 10)
	} else {
		digits = append(digitsBuf[:0], a.v.Dec()...)
	}
	if decimals <= 0 {
		return string(digits)
	}
	var out [160]byte
	b := out[:0]
	if len(digits) <= decimals {
		b = append(b, '0')
	} else {
		b = append(b, digits[:len(digits)-decimals]...)
	}
	frac := digits[max(0, len(digits)-decimals):]
	pad := decimals - len(frac)
	end := len(frac)
	for end > 0 && frac[end-1] == '0' {
		end--
	}
	if end == 0 {
		return string(b)
	}
	b = append(b, '.')
	for range pad {
		b = append(b, '0')
	}
	return string(append(b, frac[:end]...))
}

// MarshalText writes the base-10 digits.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText accepts what ParseAmount accepts; "" is no amount.
func (a *Amount) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*a = Amount{}
		return nil
	}
	p, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}
