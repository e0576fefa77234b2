package match

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

// flatShards is the number of shards of a flatTable: growing one shard
// rehashes 1/256 of the table, a few thousand entries at a million
// addresses, so no update ever pauses matching for a whole-table rehash.
const flatShards = 256

// flatEntry is one slot: an address without its 0x41 prefix, and the value
// plus one (0 marks an empty slot, since the all-zero key is the real
// black-hole address 41000…0).
type flatEntry struct {
	key [20]byte
	val uint32
}

// flatTable is an open-addressing hash table from 20-byte keys to uint32
// values, built for lookups that mostly miss: a lookup scans a run of
// one-byte tags (about 2 MB for a million addresses, so mostly in cache)
// and reads a 24-byte slot only on a tag hit, where a Go map touches its
// directory, table header, control word and slot in a 40 MB table; that
// took BenchmarkMatch from about 1.5 µs to 0.25 µs an event. Shards grow by
// half at 7/8 load (about 35 bytes an address in all). Keys are
// hashed with a per-table random seed, so addresses chosen to collide (a
// vanity prefix) do not degrade it. Deletion shifts back (no tombstones).
type flatTable struct {
	seed   [4]uint64
	shards [flatShards]flatShard
}

type flatShard struct {
	// tags holds one byte of each slot's hash (0 for an empty slot), so
	// that a lookup that misses, the common case, scans this small array,
	// 1/24th of entries and mostly in cache, without touching entries.
	tags    []uint8
	entries []flatEntry // same length, or nil
	n       int
}

// home returns the first slot to probe for hash h: the low 32 bits scaled
// to the slot count (multiply-shift), the top bits being the shard and tag.
func (s *flatShard) home(h uint64) int {
	return int((h & 0xffffffff) * uint64(len(s.tags)) >> 32)
}

// next returns the slot after i, wrapping around.
func (s *flatShard) next(i int) int {
	if i++; i == len(s.tags) {
		return 0
	}
	return i
}

// tagOf returns the tag of hash h: never 0, which marks an empty slot.
func tagOf(h uint64) uint8 { return max(1, uint8(h>>48)) }

func newFlatTable() *flatTable {
	t := &flatTable{}
	seed := maphash.MakeSeed() // random per table, unknown to whoever picks addresses
	for i := range t.seed {
		t.seed[i] = maphash.Comparable(seed, i)
	}
	return t
}

// hash mixes the key with the table's seed, wyhash style (two 64×64→128
// multiplications folded). maphash.Comparable does the same job through a
// generic, variable-length path at several times the cost, which showed in
// Upsert profiles (every grow rehashes its shard).
func (t *flatTable) hash(k *[20]byte) uint64 {
	a := binary.LittleEndian.Uint64(k[0:8]) ^ t.seed[0]
	b := binary.LittleEndian.Uint64(k[8:16]) ^ t.seed[1]
	c := uint64(binary.LittleEndian.Uint32(k[16:20])) ^ t.seed[2]
	hi, lo := bits.Mul64(a, b)
	x := hi ^ lo ^ t.seed[3]
	hi, lo = bits.Mul64(x^c, 0x9e3779b97f4a7c15^t.seed[2])
	return hi ^ lo
}

// len returns the number of keys.
func (t *flatTable) len() int {
	n := 0
	for i := range t.shards {
		n += t.shards[i].n
	}
	return n
}

// find returns the position of k in its shard, or -1.
func (s *flatShard) find(k *[20]byte, h uint64) int {
	if s.n == 0 {
		return -1
	}
	tag := tagOf(h)
	for i := s.home(h); ; i = s.next(i) {
		switch s.tags[i] {
		case 0:
			return -1
		case tag:
			if s.entries[i].key == *k {
				return int(i)
			}
		}
	}
}

func (t *flatTable) get(k *[20]byte) (uint32, bool) {
	h := t.hash(k)
	s := &t.shards[h>>56]
	if i := s.find(k, h); i >= 0 {
		return s.entries[i].val - 1, true
	}
	return 0, false
}

// set inserts or replaces k. v must be below 2^32-1.
func (t *flatTable) set(k *[20]byte, v uint32) {
	h := t.hash(k)
	s := &t.shards[h>>56]
	if i := s.find(k, h); i >= 0 {
		s.entries[i].val = v + 1
		return
	}
	t.add(s, k, h, v)
}

// setNew inserts k, which the caller knows is absent (it just missed a
// get), sparing set's search.
func (t *flatTable) setNew(k *[20]byte, v uint32) {
	h := t.hash(k)
	t.add(&t.shards[h>>56], k, h, v)
}

func (t *flatTable) add(s *flatShard, k *[20]byte, h uint64, v uint32) {
	if (s.n+1)*8 > len(s.entries)*7 {
		t.grow(s)
	}
	s.insert(k, h, v+1)
}

// insert places a key known to be absent; raw is the stored value (v+1).
func (s *flatShard) insert(k *[20]byte, h uint64, raw uint32) {
	i := s.home(h)
	for s.tags[i] != 0 {
		i = s.next(i)
	}
	s.tags[i] = tagOf(h)
	s.entries[i] = flatEntry{key: *k, val: raw}
	s.n++
}

// grow enlarges one shard by half: slots need not be a power of two
// ([flatShard.home]), and a finer step keeps the average load higher.
func (t *flatTable) grow(s *flatShard) {
	old := s.entries
	s.entries = make([]flatEntry, max(16, len(old)+len(old)/2))
	s.tags = make([]uint8, len(s.entries))
	s.n = 0
	for i := range old {
		if old[i].val != 0 {
			s.insert(&old[i].key, t.hash(&old[i].key), old[i].val)
		}
	}
}

// del removes k, reporting whether it was there.
func (t *flatTable) del(k *[20]byte) bool {
	h := t.hash(k)
	s := &t.shards[h>>56]
	i := s.find(k, h)
	if i < 0 {
		return false
	}
	t.deleteAt(s, i)
	return true
}

// deleteAt empties slot i and shifts back the entries of its run that
// would otherwise become unreachable. An entry from the start of the
// array may wrap around into i.
func (t *flatTable) deleteAt(s *flatShard, i int) {
	j := i
	for {
		j = s.next(j)
		if s.tags[j] == 0 {
			break
		}
		home := s.home(t.hash(&s.entries[j].key))
		// The entry at j stays when its home lies cyclically in (i, j].
		if i <= j {
			if i < home && home <= j {
				continue
			}
		} else if i < home || home <= j {
			continue
		}
		s.entries[i], s.tags[i] = s.entries[j], s.tags[j]
		i = j
	}
	s.entries[i], s.tags[i] = flatEntry{}, 0
	s.n--
}

// each calls fn for every entry; fn returns the new value (v, true), or
// false to delete the entry. Entries are visited at least once; one
// shifted back across the array's end may be visited twice, so fn must
// be idempotent.
func (t *flatTable) each(fn func(k *[20]byte, v uint32) (uint32, bool)) {
	for si := range t.shards {
		s := &t.shards[si]
		for i := 0; i < len(s.entries); {
			e := &s.entries[i]
			if e.val == 0 {
				i++
				continue
			}
			v, keep := fn(&e.key, e.val-1)
			if keep {
				e.val = v + 1
				i++
				continue
			}
			// Look at i again: deleteAt may have shifted a later entry
			// into it.
			t.deleteAt(s, i)
		}
	}
}
