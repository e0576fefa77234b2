package match

import (
	"slices"

	"github.com/mongotron/mongotron/pkg/tron"
)

// multi marks an addrTable value that indexes lists instead of holding a
// single slot. Slots are below 2^31, so the bit is free.
const multi = uint32(1) << 31

// addrTable maps a watched address to the slots of the subscriptions
// watching it, in as few bytes as a Go map allows: almost every address is
// watched by one subscription, so the value is a uint32 holding that slot
// inline, and only an address watched by several points into lists. Keys
// drop the 0x41 prefix every parsed address has (20 bytes + 4 of value = a
// 24-byte slot, against 48 for a [21]byte key and a slice value).
type addrTable struct {
	flat *flatTable
	// other holds addresses without the 0x41 prefix, which ParseAddress
	// never yields; kept so that a caller's odd value is matched, not lost.
	other map[tron.Address]uint32
	slotLists
}

// slotLists holds the slot lists of multi values, for addrTable and
// lookTable: lists by index, and freeLists the indices of lists no longer
// used.
type slotLists struct {
	lists     [][]int32
	freeLists []uint32
}

func newAddrTable() addrTable {
	return addrTable{flat: newFlatTable(), other: make(map[tron.Address]uint32)}
}

func (t *addrTable) get(a tron.Address) (uint32, bool) {
	if a[0] == tron.AddressPrefix {
		return t.flat.get((*[20]byte)(a.EVM()))
	}
	v, ok := t.other[a]
	return v, ok
}

func (t *addrTable) set(a tron.Address, v uint32) {
	if a[0] == tron.AddressPrefix {
		t.flat.set((*[20]byte)(a.EVM()), v)
		return
	}
	t.other[a] = v
}

func (t *addrTable) del(a tron.Address) {
	if a[0] == tron.AddressPrefix {
		t.flat.del((*[20]byte)(a.EVM()))
		return
	}
	delete(t.other, a)
}

// lookup returns the slots watching a: one inline (many nil), or many. ok
// is false when nobody watches a.
func (t *addrTable) lookup(a tron.Address) (one int32, many []int32, ok bool) {
	v, ok := t.get(a)
	if !ok {
		return 0, nil, false
	}
	if v&multi == 0 {
		return int32(v), nil, true
	}
	return 0, t.lists[v&^multi], true
}

// has reports whether slot watches a.
func (t *addrTable) has(a tron.Address, slot int32) bool {
	one, many, ok := t.lookup(a)
	switch {
	case !ok:
		return false
	case many == nil:
		return one == slot
	default:
		return slices.Contains(many, slot)
	}
}

// add records that slot watches a, and reports whether it did not already.
func (t *addrTable) add(a tron.Address, slot int32) bool {
	v, ok := t.get(a)
	switch {
	case !ok:
		if a[0] == tron.AddressPrefix {
			t.flat.setNew((*[20]byte)(a[1:]), uint32(slot))
		} else {
			t.other[a] = uint32(slot)
		}
		return true
	case v&multi == 0:
		if int32(v) == slot {
			return false
		}
		t.set(a, t.newList(int32(v), slot))
		return true
	default:
		i := v &^ multi
		if slices.Contains(t.lists[i], slot) {
			return false
		}
		t.lists[i] = append(t.lists[i], slot)
		return true
	}
}

// remove records that slot no longer watches a, and reports whether it did.
func (t *addrTable) remove(a tron.Address, slot int32) bool {
	v, ok := t.get(a)
	switch {
	case !ok:
		return false
	case v&multi == 0:
		if int32(v) != slot {
			return false
		}
		t.del(a)
		return true
	default:
		i := v &^ multi
		l := t.lists[i]
		j := slices.Index(l, slot)
		if j < 0 {
			return false
		}
		t.lists[i] = slices.Delete(l, j, j+1)
		t.shrink(a, i)
		return true
	}
}

// shrink turns list i of address a back into an inline value, or removes
// a, when the list has one slot or none left.
func (t *addrTable) shrink(a tron.Address, i uint32) {
	switch v, keep := t.settle(i); {
	case !keep:
		t.del(a)
	case v&multi == 0:
		t.set(a, v)
	}
}

// settle returns the value a key with list i should hold: the list
// itself, the inline slot when one is left (freeing the list), or keep
// false when none is.
func (t *slotLists) settle(i uint32) (v uint32, keep bool) {
	l := t.lists[i]
	if len(l) > 1 {
		return i | multi, true
	}
	t.lists[i] = nil
	t.freeLists = append(t.freeLists, i)
	if len(l) == 0 {
		return 0, false
	}
	return uint32(l[0]), true
}

// newList stores a new list of slots and returns its multi value.
func (t *slotLists) newList(slots ...int32) uint32 {
	l := make([]int32, len(slots), 4)
	copy(l, slots)
	if n := len(t.freeLists); n > 0 {
		i := t.freeLists[n-1]
		t.freeLists = t.freeLists[:n-1]
		t.lists[i] = l
		return i | multi
	}
	t.lists = append(t.lists, l)
	return uint32(len(t.lists)-1) | multi
}

// sweep drops every entry whose slot is dead.
func (t *addrTable) sweep(dead func(int32) bool) {
	keep := func(v uint32) (uint32, bool) {
		if v&multi == 0 {
			return v, !dead(int32(v))
		}
		i := v &^ multi
		t.lists[i] = slices.DeleteFunc(t.lists[i], dead)
		return t.settle(i)
	}
	t.flat.each(func(_ *[20]byte, v uint32) (uint32, bool) { return keep(v) })
	for a, v := range t.other {
		if nv, ok := keep(v); !ok {
			delete(t.other, a)
		} else {
			t.other[a] = nv
		}
	}
}

// pairs counts the (slot, address) entries, dead ones included; for tests.
func (t *addrTable) pairs() int {
	n := 0
	count := func(v uint32) {
		if v&multi == 0 {
			n++
		} else {
			n += len(t.lists[v&^multi])
		}
	}
	t.flat.each(func(_ *[20]byte, v uint32) (uint32, bool) {
		count(v)
		return v, true
	})
	for _, v := range t.other {
		count(v)
	}
	return n
}
