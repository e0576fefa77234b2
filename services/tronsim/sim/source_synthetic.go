package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/internal/gen"
)

// refDepth is how many blocks back a transaction may reference.
const refDepth = 3

// synthetic is the generated chain. It keeps every block id (32 bytes a
// block) so that any block can be regenerated with its real parent hash,
// and a bounded cache of whole blocks.
type synthetic struct {
	g          *gen.Generator
	start      int64
	startMs    int64
	reorgEvery int
	reorgDepth int
	solidLag   int
	noInternal bool
	mu         sync.Mutex
	ids        [][32]byte // ids[i] is the id of block start-1+i; ids[0] is the start block's parent
	forks      map[int64]uint32
	reorgCount int
	cache      *blockCache
}

func newSynthetic(cfg Config) *synthetic {
	s := &synthetic{
		g:          gen.New(gen.Config{Seed: cfg.Seed, TxsPerBlock: cfg.TxsPerBlock, Addresses: cfg.Addresses, TrapRate: cfg.TrapRate}),
		start:      cfg.StartBlock,
		startMs:    cfg.StartTime.UnixMilli(),
		reorgEvery: cfg.ReorgEvery,
		reorgDepth: cfg.ReorgDepth,
		solidLag:   cfg.SolidLag,
		noInternal: cfg.NoInternalTxs,
		forks:      make(map[int64]uint32),
		cache:      newBlockCache(cfg.CacheBlocks),
	}
	// The start block's parent is not generated; its id only has to be
	// well formed and depend on the seed.
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], cfg.Seed)
	parent := sha256.Sum256(append([]byte("tronsim parent "), buf[:]...))
	binary.BigEndian.PutUint64(parent[:8], uint64(cfg.StartBlock-1))
	s.ids = append(s.ids, parent)
	s.mu.Lock()
	s.mineLocked(cfg.InitialBlocks, false)
	s.mu.Unlock()
	return s
}

func (s *synthetic) headLocked() int64 { return s.start - 2 + int64(len(s.ids)) }

// idLocked returns the id of block n, for start-1 <= n <= head.
func (s *synthetic) idLocked(n int64) [32]byte { return s.ids[n-s.start+1] }

func (s *synthetic) timestamp(n int64) int64 { return s.startMs + 3000*(n-s.start) }

func (s *synthetic) head() (int64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.headLocked()
	id := s.idLocked(h)
	return h, hex.EncodeToString(id[:])
}

func (s *synthetic) first() int64 { return s.start }

func (s *synthetic) reorgs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reorgCount
}

// headerLocked returns the header of block n on top of its parent's id.
func (s *synthetic) headerLocked(n int64) tron.BlockHeaderRaw {
	parent := s.idLocked(n - 1)
	return s.g.Header(n, s.forks[n], hex.EncodeToString(parent[:]), s.timestamp(n))
}

// appendLocked computes the id of the block after the head.
func (s *synthetic) appendLocked() {
	n := s.headLocked() + 1
	h := s.headerLocked(n)
	raw, err := tron.EncodeHeaderRaw(&h)
	if err != nil {
		// Every header field is hex this package wrote itself.
		panic(fmt.Sprintf("tronsim: header of block %d: %v", n, err))
	}
	var id [32]byte
	if _, err := hex.Decode(id[:], []byte(tron.BlockIDFromRaw(n, raw))); err != nil {
		panic(fmt.Sprintf("tronsim: id of block %d: %v", n, err))
	}
	s.ids = append(s.ids, id)
}

func (s *synthetic) mine(n int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mineLocked(n, true)
	return s.headLocked()
}

// mineLocked appends n blocks; with reorgs, every reorgEvery-th block
// produced triggers one, clamped to the blocks above the solidified one
// (none while the chain is shorter than the lag allows).
func (s *synthetic) mineLocked(n int, reorgs bool) {
	for range n {
		s.appendLocked()
		if reorgs && s.reorgEvery > 0 && (s.headLocked()-s.start+1)%int64(s.reorgEvery) == 0 {
			if d := min(int64(s.reorgDepth), s.unsolidLocked()); d > 0 {
				s.reorgLocked(int(d))
			}
		}
	}
}

// unsolidLocked returns how many blocks are above the solidified one.
func (s *synthetic) unsolidLocked() int64 {
	head := s.headLocked()
	return head - solidOf(head, s.start, s.solidLag)
}

// reorg replaces the last depth blocks. A depth beyond the solid lag is
// refused; on a chain shorter than the lag it is clamped to the blocks
// above the first.
func (s *synthetic) reorg(depth int) error {
	if depth < 1 {
		return fmt.Errorf("tronsim: reorg depth %d: must be at least 1", depth)
	}
	if depth > s.solidLag {
		return fmt.Errorf("%w: depth %d is deeper than the solid lag %d", ErrSolidified, depth, s.solidLag)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unsolid := s.unsolidLocked()
	if unsolid == 0 {
		return fmt.Errorf("%w: every block up to the head is solidified", ErrSolidified)
	}
	s.reorgLocked(int(min(int64(depth), unsolid)))
	return nil
}

// reorgLocked replaces the last depth blocks with blocks of a new fork
// generation: new witness, new transactions, new ids. The caller keeps
// depth within the blocks above the solidified one.
func (s *synthetic) reorgLocked(depth int) {
	head := s.headLocked()
	s.reorgCount++
	from := head - int64(depth) + 1
	s.ids = s.ids[:from-s.start+1]
	for n := from; n <= head; n++ {
		s.forks[n] = uint32(s.reorgCount)
		s.appendLocked()
	}
	s.cache.drop(from)
}

func (s *synthetic) entry(n int64) (*entry, error) {
	s.mu.Lock()
	if e := s.cache.get(n); e != nil {
		s.mu.Unlock()
		return e, nil
	}
	if n < s.start || n > s.headLocked() {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %d", ErrNoBlock, n)
	}
	fork := s.forks[n]
	h := s.headerLocked(n)
	id := s.idLocked(n)
	recent := make([]string, 0, refDepth)
	for k := int64(1); k <= refDepth && n-k >= s.start-1; k++ {
		r := s.idLocked(n - k)
		recent = append(recent, hex.EncodeToString(r[:]))
	}
	s.mu.Unlock()

	// Generation takes a millisecond or two, so it runs unlocked; two
	// requests for the same uncached block may both generate it, which is
	// harmless.
	out, err := s.g.Block(gen.BlockInput{Header: h, ID: hex.EncodeToString(id[:]), Fork: fork, Recent: recent})
	if err != nil {
		return nil, fmt.Errorf("tronsim: %w", err)
	}
	if s.noInternal {
		stripInternalTxs(out.Infos)
	}
	e := &entry{number: n, block: out.Block, infos: out.Infos, traps: out.Traps}

	s.mu.Lock()
	defer s.mu.Unlock()
	// A reorg while generating makes this block stale: serve it once, as a
	// node would have a moment ago, but do not keep it.
	if n <= s.headLocked() && s.idLocked(n) == id {
		s.cache.put(e)
	}
	return e, nil
}

// txScan is how many recent blocks findTx generates when a transaction is
// not among the cached ones.
const txScan = 100

func (s *synthetic) findTx(id string, maxNum int64) (*entry, int, error) {
	s.mu.Lock()
	l, ok := s.cache.tx(id)
	head := s.headLocked()
	s.mu.Unlock()
	if ok && l.e.number <= maxNum {
		return l.e, l.i, nil
	}
	top := min(head, maxNum)
	for n := top; n >= max(s.start, top-txScan+1); n-- {
		s.mu.Lock()
		cached := s.cache.get(n) != nil
		s.mu.Unlock()
		if cached {
			continue
		}
		e, err := s.entry(n)
		if err != nil {
			return nil, 0, err
		}
		for i := range e.block.Transactions {
			if e.block.Transactions[i].TxID == id {
				return e, i, nil
			}
		}
	}
	return nil, 0, fmt.Errorf("%w: no transaction %s in the last %d blocks", ErrNoBlock, id, txScan)
}
