package match

import (
	"hash/maphash"
	"math/bits"
)

// keyShards is the number of shards of a keyTable: growing one rehashes
// 1/64 of the table, some 16,000 entries at a million, so an update never
// pauses matching for a whole-table rehash.
const keyShards = 64

// keyPresent marks a used slot of a keyTable: keys are below 2^48, and the
// zero key is a real one, so the stored word is the key with this bit.
const keyPresent = uint64(1) << 63

// keyTable is an open-addressing hash table from lookalike keys to uint32
// values, the lookTable's index: 12 bytes a slot (the key word, and the
// value in a parallel array, so that probing reads 8 keys per cache line),
// kept at most 3/4 full and grown by half, about 19 bytes an entry where a
// Go map of the same types took 37. A miss, the common case, reads some 8
// keys at the fullest. Keys are hashed with a per-table random seed.
// Deletion shifts back, as in flatTable.
type keyTable struct {
	seed   [2]uint64
	shards [keyShards]keyShard
}

type keyShard struct {
	keys []uint64 // key | keyPresent, 0 when empty
	vals []uint32 // same length
	n    int
}

func newKeyTable() *keyTable {
	t := &keyTable{}
	seed := maphash.MakeSeed()
	for i := range t.seed {
		t.seed[i] = maphash.Comparable(seed, i)
	}
	return t
}

func (t *keyTable) hash(k lookKey) uint64 {
	hi, lo := bits.Mul64(uint64(k)^t.seed[0], 0x9e3779b97f4a7c15^t.seed[1])
	return hi ^ lo
}

func (t *keyTable) shard(h uint64) *keyShard { return &t.shards[h>>(64-6)] }

// home returns the first slot to probe for hash h (multiply-shift of the
// low 32 bits; the top bits chose the shard).
func (s *keyShard) home(h uint64) int { return int((h & 0xffffffff) * uint64(len(s.keys)) >> 32) }

func (s *keyShard) next(i int) int {
	if i++; i == len(s.keys) {
		return 0
	}
	return i
}

// find returns the position of k, or -1.
func (s *keyShard) find(k lookKey, h uint64) int {
	if s.n == 0 {
		return -1
	}
	w := uint64(k) | keyPresent
	for i := s.home(h); ; i = s.next(i) {
		switch s.keys[i] {
		case 0:
			return -1
		case w:
			return i
		}
	}
}

// locate returns the shard of k and k's position in it, or -1.
func (t *keyTable) locate(k lookKey) (*keyShard, int) {
	h := t.hash(k)
	s := t.shard(h)
	return s, s.find(k, h)
}

func (t *keyTable) get(k lookKey) (uint32, bool) {
	if s, i := t.locate(k); i >= 0 {
		return s.vals[i], true
	}
	return 0, false
}

// set inserts or replaces k.
func (t *keyTable) set(k lookKey, v uint32) {
	p, _ := t.ref(k)
	*p = v
}

// ref returns where the value of k is kept, inserting k with value 0 when
// it is absent (found false), in one probe where get and set take two. p
// is valid until the next insertion.
func (t *keyTable) ref(k lookKey) (p *uint32, found bool) {
	h := t.hash(k)
	s := t.shard(h)
	if i := s.find(k, h); i >= 0 {
		return &s.vals[i], true
	}
	if (s.n+1)*4 > len(s.keys)*3 {
		t.grow(s)
	}
	return &s.vals[s.insert(uint64(k)|keyPresent, h, 0)], false
}

// insert places a word known to be absent and returns its position.
func (s *keyShard) insert(w, h uint64, v uint32) int {
	i := s.home(h)
	for s.keys[i] != 0 {
		i = s.next(i)
	}
	s.keys[i], s.vals[i] = w, v
	s.n++
	return i
}

func (t *keyTable) grow(s *keyShard) {
	oldKeys, oldVals := s.keys, s.vals
	size := max(16, len(oldKeys)+len(oldKeys)/2)
	s.keys, s.vals, s.n = make([]uint64, size), make([]uint32, size), 0
	for i, w := range oldKeys {
		if w != 0 {
			s.insert(w, t.hash(lookKey(w&^keyPresent)), oldVals[i])
		}
	}
}

// del removes k, reporting whether it was there.
func (t *keyTable) del(k lookKey) bool {
	s, i := t.locate(k)
	if i < 0 {
		return false
	}
	t.deleteAt(s, i)
	return true
}

// deleteAt empties slot i and shifts back the entries of its run that
// would otherwise become unreachable (see flatTable.deleteAt).
func (t *keyTable) deleteAt(s *keyShard, i int) {
	j := i
	for {
		j = s.next(j)
		if s.keys[j] == 0 {
			break
		}
		home := s.home(t.hash(lookKey(s.keys[j] &^ keyPresent)))
		if i <= j {
			if i < home && home <= j {
				continue
			}
		} else if i < home || home <= j {
			continue
		}
		s.keys[i], s.vals[i] = s.keys[j], s.vals[j]
		i = j
	}
	s.keys[i], s.vals[i] = 0, 0
	s.n--
}

// each calls fn for every entry; fn returns the new value (v, true), or
// false to delete the entry. As with flatTable.each, an entry shifted back
// across the array's end may be visited twice, so fn must be idempotent.
func (t *keyTable) each(fn func(k lookKey, v uint32) (uint32, bool)) {
	for si := range t.shards {
		s := &t.shards[si]
		for i := 0; i < len(s.keys); {
			if s.keys[i] == 0 {
				i++
				continue
			}
			v, keep := fn(lookKey(s.keys[i]&^keyPresent), s.vals[i])
			if keep {
				s.vals[i] = v
				i++
				continue
			}
			t.deleteAt(s, i) // look at i again: an entry may have moved in
		}
	}
}

// len returns the number of keys.
func (t *keyTable) len() int {
	n := 0
	for i := range t.shards {
		n += t.shards[i].n
	}
	return n
}
