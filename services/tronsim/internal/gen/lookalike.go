package gen

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/holiman/uint256"

	"github.com/mongotron/mongotron/pkg/tron"
)

// Lookalike is a victim of address poisoning and the address made to be
// mistaken for it: both are valid base58check addresses with the same
// first four and last four characters, and different ones in between.
type Lookalike struct {
	Victim    tron.Address `json:"victim"`
	Lookalike tron.Address `json:"lookalike"`
}

// lookalikeCount is how many victim/lookalike pairs a generator makes.
const lookalikeCount = 4

// suffixModulus is 58^4: the last four base58 characters of an address
// are the digits of its 25 bytes (address and checksum) modulo this.
const suffixModulus = 58 * 58 * 58 * 58

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// suffixValue returns the number the last four base58 characters of a
// stand for, without encoding the whole address.
func suffixValue(a *tron.Address) uint64 {
	first := sha256.Sum256(a[:])
	sum := sha256.Sum256(first[:])
	var r uint64
	for _, b := range a {
		r = (r<<8 | uint64(b)) % suffixModulus
	}
	for _, b := range sum[:4] {
		r = (r<<8 | uint64(b)) % suffixModulus
	}
	return r
}

// prefixRange holds the addresses whose base58 form starts with a given
// four characters, whatever their checksum: P from lo to lo+span-1, where
// the 25 encoded bytes are P·2^32 plus the checksum.
type prefixRange struct {
	lo, span uint256.Int
	// mask keeps the bits a number below span can have.
	mask uint256.Int
}

// newPrefixRange returns the range of a four-character prefix, which must
// be one a 0x41 address can have (the prefix of an address, say).
func newPrefixRange(prefix string) (prefixRange, error) {
	var pr prefixRange
	if len(prefix) != 4 {
		return pr, fmt.Errorf("gen: prefix %q: want 4 characters", prefix)
	}
	// A 25-byte address is 34 base58 digits: the prefix is the top 4,
	// so it spans 58^30 numbers.
	var unit, v uint256.Int
	unit.Exp(uint256.NewInt(58), uint256.NewInt(30))
	for _, c := range []byte(prefix) {
		d := strings.IndexByte(base58Alphabet, c)
		if d < 0 {
			return pr, fmt.Errorf("gen: prefix %q: %q is not base58", prefix, c)
		}
		v.Mul(&v, uint256.NewInt(58))
		v.Add(&v, uint256.NewInt(uint64(d)))
	}
	var lo, hi uint256.Int
	lo.Mul(&v, &unit)
	hi.Add(&lo, &unit)
	hi.SubUint64(&hi, 1)
	// Whatever the checksum, P·2^32 + checksum stays in [lo, hi].
	pmin := new(uint256.Int).AddUint64(&lo, 1<<32-1)
	pmin.Rsh(pmin, 32)
	pmax := new(uint256.Int).Rsh(&hi, 32)
	pmax.SubUint64(pmax, 1)
	// And P is an address: 0x41 and 20 bytes.
	first := new(uint256.Int).Lsh(uint256.NewInt(tron.AddressPrefix), 160)
	last := new(uint256.Int).Lsh(uint256.NewInt(tron.AddressPrefix+1), 160)
	last.SubUint64(last, 1)
	if pmin.Lt(first) {
		pmin.Set(first)
	}
	if pmax.Gt(last) {
		pmax.Set(last)
	}
	if pmax.Lt(pmin) {
		return pr, fmt.Errorf("gen: no address starts with %q", prefix)
	}
	pr.lo.Set(pmin)
	pr.span.Sub(pmax, pmin)
	pr.span.AddUint64(&pr.span, 1)
	pr.mask.Lsh(uint256.NewInt(1), uint(pr.span.BitLen()))
	pr.mask.SubUint64(&pr.mask, 1)
	return pr, nil
}

// address returns the address of the range that the random words pick,
// or false for words that pick none (fewer than half do): masking and
// rejecting costs far less than a division.
func (pr *prefixRange) address(words [4]uint64) (tron.Address, bool) {
	var a tron.Address
	p := uint256.Int(words)
	p.And(&p, &pr.mask)
	if !p.Lt(&pr.span) {
		return a, false
	}
	p.Add(&p, &pr.lo)
	b := p.Bytes32()
	copy(a[:], b[32-tron.AddressLen:])
	return a, true
}

// grindLookalike returns the i-th victim/lookalike pair of a seed.
//
// Grinding a lookalike of a given address means about 58^4 (11 million)
// checksums, seconds of work, because the checksum decides the last
// characters. A pair costs far less when neither end is given: every
// candidate is a random address with the first four characters of a
// seed-derived one (picked in the range of numbers those characters stand
// for, so the first four are free), and the first two candidates with the
// same last four characters are a pair: a birthday search, about 4000
// checksums. The earlier one is the victim.
func grindLookalike(seed uint64, i int) Lookalike {
	prefix := derive(seed, "victim", uint64(i)).String()[:4]
	pr, err := newPrefixRange(prefix)
	if err != nil {
		panic(err) // the prefix is a real address's
	}
	seen := make(map[uint64]tron.Address, 8192)
	for k := uint64(0); ; k++ {
		a, ok := pr.address([4]uint64{
			mix(seed, uint64(i), k, 0x100c0), mix(seed, uint64(i), k, 0x100c1),
			mix(seed, uint64(i), k, 0x100c2), mix(seed, uint64(i), k, 0x100c3),
		})
		if !ok {
			continue
		}
		v := suffixValue(&a)
		prev, ok := seen[v]
		seen[v] = a
		if ok && prev != a && shareEnds(prev.String(), a.String()) {
			return Lookalike{Victim: prev, Lookalike: a}
		}
	}
}

// shareEnds reports whether two base58 addresses have the same first four
// and last four characters.
func shareEnds(a, b string) bool {
	return len(a) == len(b) && len(a) >= 8 && a[:4] == b[:4] && a[len(a)-4:] == b[len(b)-4:]
}
