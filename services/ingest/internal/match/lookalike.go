package match

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/mongotron/mongotron/pkg/tron"
)

// lookKey is the lookalike key of an address: its first four and last four
// base58check characters, the part of an address people compare by eye.
// Each character is stored as its base58 digit (0..57) in 6 bits, the first
// character highest, so keys are equal exactly when the eight characters
// are.
type lookKey uint64

// keyOf returns the lookalike key of a, what a.String() would give without
// building the string. The checksum (two SHA-256) is most of the cost; of
// the base58 digits only the eight of the key are worked out.
func keyOf(a *tron.Address) lookKey {
	var in [tron.AddressLen + 4]byte
	copy(in[:], a[:])
	h1 := sha256.Sum256(a[:])
	h2 := sha256.Sum256(h1[:])
	copy(in[tron.AddressLen:], h2[:4])
	if a[0] != tron.AddressPrefix {
		return keyOfText(&in)
	}
	// in is the number N; every N with the 0x41 prefix lies in
	// [58^33, 58^34), so its text has 34 digits: the first four are
	// N / 58^30, the last four N mod 58^4.
	n := [4]uint64{
		uint64(in[0]),
		binary.BigEndian.Uint64(in[1:9]),
		binary.BigEndian.Uint64(in[9:17]),
		binary.BigEndian.Uint64(in[17:25]),
	}
	q := quo58p30(&n)
	if q < 58*58*58 || q >= 58*58*58*58 {
		return keyOfText(&in) // cannot happen; keeps the function total
	}
	var low uint64
	for i := 0; i < len(in); i += 4 {
		var limb uint64
		for _, c := range in[i:min(i+4, len(in))] {
			limb = limb<<8 | uint64(c)
		}
		w := uint(8 * min(4, len(in)-i))
		low = (low<<w | limb) % (58 * 58 * 58 * 58)
	}
	return packDigits(q)<<24 | packDigits(low)
}

// packDigits packs the four base58 digits of v < 58^4, most significant
// first, 6 bits each.
func packDigits(v uint64) lookKey {
	// Constant divisors, which compile to multiplications.
	return lookKey(v/(58*58*58)%58)<<18 | lookKey(v/(58*58)%58)<<12 | lookKey(v/58%58)<<6 | lookKey(v%58)
}

// pow58p30 is 58^30 in 64-bit limbs, most significant first.
var pow58p30 = func() [3]uint64 {
	d := [3]uint64{0, 0, 1}
	for range 30 {
		var carry uint64
		for i := 2; i >= 0; i-- {
			hi, lo := bits.Mul64(d[i], 58)
			var c uint64
			d[i], c = bits.Add64(lo, carry, 0)
			carry = hi + c
		}
	}
	return d
}()

// quo58p30 returns n / 58^30 for n below 2^200 (limbs most significant
// first). It divides n>>112 by 58^30>>112 (58^30 has 176 bits, so that is
// a normalised 64-bit divisor, and the quotient fits), an estimate never
// below the true q (n >= q·58^30 gives n>>112 >= q·(58^30>>112)) and above
// it by less than 2^-39 before rounding down, so at most by one, which the
// exact product corrects.
func quo58p30(n *[4]uint64) uint64 {
	d := &pow58p30
	dTop := d[0]<<16 | d[1]>>48
	q, _ := bits.Div64(n[0]<<16|n[1]>>48, n[1]<<16|n[2]>>48, dTop)
	if q > 0 && mulCmp(q, n) > 0 {
		q--
	}
	return q
}

// mulCmp compares q·58^30 with n.
func mulCmp(q uint64, n *[4]uint64) int {
	d := &pow58p30
	var p [4]uint64
	var carry uint64
	for i := 2; i >= 0; i-- {
		hi, lo := bits.Mul64(d[i], q)
		var c uint64
		p[i+1], c = bits.Add64(lo, carry, 0)
		carry = hi + c
	}
	p[0] = carry
	for i := range p {
		if p[i] != n[i] {
			if p[i] < n[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// keyOfText returns the key of any 25-byte address‖checksum by encoding
// it whole, as tron.Address.String does: the slow path, for addresses
// without the 0x41 prefix, which ParseAddress never yields.
func keyOfText(in *[tron.AddressLen + 4]byte) lookKey {
	// Big-endian base-2^32 limbs; the top one holds the first byte.
	var limbs [7]uint32
	for i, c := range in {
		pos := len(in) - 1 - i
		limbs[len(limbs)-1-pos/4] |= uint32(c) << (8 * (pos % 4))
	}
	// Digits, least significant first, five per division by 58^5.
	var digits [40]uint8
	n := 0
	const big = 58 * 58 * 58 * 58 * 58
	for start := 0; start < len(limbs); {
		var rem uint64
		for i := start; i < len(limbs); i++ {
			cur := rem<<32 | uint64(limbs[i])
			limbs[i] = uint32(cur / big)
			rem = cur % big
		}
		for start < len(limbs) && limbs[start] == 0 {
			start++
		}
		r := uint32(rem)
		for range 5 {
			digits[n] = uint8(r % 58)
			r /= 58
			n++
		}
	}
	for n > 0 && digits[n-1] == 0 {
		n-- // the padding of the last group
	}
	// Each leading zero byte is one leading '1' (digit 0). The text of 25
	// bytes has at least 25 characters, so n ends above 8.
	for i := 0; i < len(in) && in[i] == 0; i++ {
		digits[n] = 0
		n++
	}
	var k lookKey
	for _, d := range [8]uint8{digits[n-1], digits[n-2], digits[n-3], digits[n-4], digits[3], digits[2], digits[1], digits[0]} {
		k = k<<6 | lookKey(d)
	}
	return k
}

// keysPerWorker is the least number of addresses worth a goroutine of
// keysOf: about a millisecond of work.
const keysPerWorker = 4096

// keysOf returns the lookalike keys of addrs, zero for zero addresses. The
// index computes them before taking its write lock, so that their cost
// (BenchmarkKeyOf: about 0.25 µs an address) does not pause matching; a
// large set is split over GOMAXPROCS goroutines, which all end before it
// returns.
func keysOf(addrs []tron.Address) []lookKey {
	keys := make([]lookKey, len(addrs))
	fill := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if !addrs[i].IsZero() {
				keys[i] = keyOf(&addrs[i])
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(addrs)/keysPerWorker)
	if workers <= 1 {
		fill(0, len(addrs))
		return keys
	}
	var wg sync.WaitGroup
	per := (len(addrs) + workers - 1) / workers
	for lo := per; lo < len(addrs); lo += per {
		wg.Go(func() { fill(lo, min(lo+per, len(addrs))) })
	}
	fill(0, per)
	wg.Wait()
	return keys
}

// lookTable maps the lookalike key of every watched address to the slots
// watching an address with that key, once per (slot, address) pair: a slot
// watching two addresses of one key appears twice, so that removing one of
// them leaves the other counted. It holds slots rather than addresses
// because that answers the only question matching asks (does this
// subscription watch something with this key?) in one lookup, needs no key
// recomputed when a sweep drops a dead slot's entries, and costs a 12-byte
// slot of a keyTable rather than a 21-byte address and its key.
//
// Keys rarely collide (58^7 keys for T addresses against at most a few
// million watched), so almost every value is an inline slot, as in
// addrTable; a hot address watched by several subscriptions gets a list.
// Entries of a dead slot stay until the sweep that frees the slot, as in
// addrTable, and are harmless meanwhile: matching only asks about live
// slots, and no slot is reused before the sweep.
type lookTable struct {
	keys *keyTable
	slotLists
}

func newLookTable() lookTable { return lookTable{keys: newKeyTable()} }

// has reports whether slot watches an address of key k.
func (t *lookTable) has(k lookKey, slot int32) bool {
	v, ok := t.keys.get(k)
	switch {
	case !ok:
		return false
	case v&multi == 0:
		return int32(v) == slot
	default:
		return slices.Contains(t.lists[v&^multi], slot)
	}
}

// add records one more address of key k watched by slot.
func (t *lookTable) add(k lookKey, slot int32) {
	p, ok := t.keys.ref(k)
	switch v := *p; {
	case !ok:
		*p = uint32(slot)
	case v&multi == 0:
		*p = t.newList(int32(v), slot)
	default:
		i := v &^ multi
		t.lists[i] = append(t.lists[i], slot)
	}
}

// remove records one address of key k fewer watched by slot.
func (t *lookTable) remove(k lookKey, slot int32) {
	s, at := t.keys.locate(k)
	if at < 0 {
		return
	}
	v := s.vals[at]
	if v&multi == 0 {
		if int32(v) == slot {
			t.keys.deleteAt(s, at)
		}
		return
	}
	i := v &^ multi
	l := t.lists[i]
	j := slices.Index(l, slot)
	if j < 0 {
		return
	}
	t.lists[i] = slices.Delete(l, j, j+1)
	if nv, keep := t.settle(i); !keep {
		t.keys.deleteAt(s, at)
	} else {
		s.vals[at] = nv
	}
}

// sweep drops every entry whose slot is dead.
func (t *lookTable) sweep(dead func(int32) bool) {
	t.keys.each(func(_ lookKey, v uint32) (uint32, bool) {
		if v&multi == 0 {
			return v, !dead(int32(v))
		}
		i := v &^ multi
		t.lists[i] = slices.DeleteFunc(t.lists[i], dead)
		return t.settle(i)
	})
}

// pairs counts the (slot, address) entries, dead ones included; for tests.
func (t *lookTable) pairs() int {
	n := 0
	t.keys.each(func(_ lookKey, v uint32) (uint32, bool) {
		if v&multi == 0 {
			n++
		} else {
			n += len(t.lists[v&^multi])
		}
		return v, true
	})
	return n
}
