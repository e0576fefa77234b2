package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mongotron/mongotron/pkg/tron"
)

// replay serves recorded blocks from a directory, verbatim: the JSON of a
// block and of its infos is sent exactly as recorded. Blocks are released
// over time up to the highest number present; numbers missing from the
// directory do not exist.
type replay struct {
	dir        string
	noInternal bool
	nums       []int64 // sorted
	present    map[int64]bool

	mu       sync.Mutex
	released int // index in nums of the head
	cache    *blockCache
	// txIndex maps the id of every transaction of every block loaded so
	// far to its block, so findTx need not keep blocks in memory.
	txIndex map[string]int64
	indexed map[int64]bool
}

// recorded is the layout of one file.
type recorded struct {
	Block           json.RawMessage `json:"block"`
	TransactionInfo json.RawMessage `json:"transaction_info"`
}

func newReplay(cfg Config) (*replay, error) {
	des, err := os.ReadDir(cfg.BlocksDir)
	if err != nil {
		return nil, fmt.Errorf("tronsim: blocks directory: %w", err)
	}
	r := &replay{dir: cfg.BlocksDir, noInternal: cfg.NoInternalTxs, present: make(map[int64]bool), cache: newBlockCache(cfg.CacheBlocks), txIndex: make(map[string]int64), indexed: make(map[int64]bool)}
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || de.IsDir() {
			continue
		}
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil || n < 0 {
			continue
		}
		r.nums = append(r.nums, n)
		r.present[n] = true
	}
	if len(r.nums) == 0 {
		return nil, fmt.Errorf("tronsim: blocks directory %s holds no <number>.json file", cfg.BlocksDir)
	}
	slices.Sort(r.nums)
	r.released = len(r.nums) - 1
	if !cfg.Instant {
		r.released = min(cfg.InitialBlocks, len(r.nums)) - 1
	}
	return r, nil
}

func (r *replay) head() (int64, string) {
	r.mu.Lock()
	n := r.nums[r.released]
	r.mu.Unlock()
	e, err := r.entry(n)
	if err != nil {
		return n, ""
	}
	return n, e.block.BlockID
}

func (r *replay) first() int64 { return r.nums[0] }

func (r *replay) reorgs() int { return 0 }

func (r *replay) reorg(int) error {
	return fmt.Errorf("%w: a replayed chain cannot reorg", ErrUnsupported)
}

func (r *replay) mine(n int) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.released = min(r.released+max(n, 0), len(r.nums)-1)
	return r.nums[r.released]
}

func (r *replay) entry(n int64) (*entry, error) {
	r.mu.Lock()
	if e := r.cache.get(n); e != nil {
		r.mu.Unlock()
		return e, nil
	}
	head := r.nums[r.released]
	r.mu.Unlock()
	if n > head || !r.present[n] {
		return nil, fmt.Errorf("%w: %d", ErrNoBlock, n)
	}
	e, err := r.load(n)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cache.put(e)
	if !r.indexed[n] {
		r.indexed[n] = true
		for i := range e.block.Transactions {
			r.txIndex[e.block.Transactions[i].TxID] = n
		}
	}
	r.mu.Unlock()
	return e, nil
}

// load reads and parses a recorded block, keeping its bytes to serve.
func (r *replay) load(n int64) (*entry, error) {
	path := filepath.Join(r.dir, strconv.FormatInt(n, 10)+".json")
	raw, err := os.ReadFile(path) //nolint:gosec // G703: the name is a block number formatted as decimal digits, so it cannot leave the operator's replay directory.
	if err != nil {
		return nil, fmt.Errorf("tronsim: replay: %w", err)
	}
	var rec recorded
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("tronsim: replay %s: %w", path, err)
	}
	if len(rec.Block) == 0 {
		return nil, fmt.Errorf("tronsim: replay %s: no \"block\"", path)
	}
	infosJSON := []byte(rec.TransactionInfo)
	if len(bytes.TrimSpace(infosJSON)) == 0 || bytes.Equal(bytes.TrimSpace(infosJSON), []byte("null")) {
		infosJSON = []byte("[]")
	}
	e := &entry{number: n, blockJSON: rec.Block, infosJSON: infosJSON}
	if err := json.Unmarshal(rec.Block, &e.block); err != nil {
		return nil, fmt.Errorf("tronsim: replay %s: block: %w", path, err)
	}
	if err := json.Unmarshal(infosJSON, &e.infos); err != nil {
		return nil, fmt.Errorf("tronsim: replay %s: transaction_info: %w", path, err)
	}
	if e.infos == nil {
		e.infos = []tron.TxInfo{}
	}
	if r.noInternal && stripInternalTxs(e.infos) {
		// Rendered again, from the parsed infos, without them.
		e.infosJSON = nil
	}
	return e, nil
}

// findTx looks in the index of the blocks loaded so far, then loads the
// released blocks not loaded yet, newest first.
func (r *replay) findTx(id string, maxNum int64) (*entry, int, error) {
	r.mu.Lock()
	n, ok := r.txIndex[id]
	released := r.released
	r.mu.Unlock()
	if ok {
		if n > maxNum {
			return nil, 0, fmt.Errorf("%w: transaction %s is in block %d, past %d", ErrNoBlock, id, n, maxNum)
		}
		return r.txIn(n, id)
	}
	for i := released; i >= 0; i-- {
		n := r.nums[i]
		r.mu.Lock()
		seen := r.indexed[n]
		r.mu.Unlock()
		if seen || n > maxNum {
			continue
		}
		if e, j, err := r.txIn(n, id); err == nil {
			return e, j, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: no transaction %s", ErrNoBlock, id)
}

func (r *replay) txIn(n int64, id string) (*entry, int, error) {
	e, err := r.entry(n)
	if err != nil {
		return nil, 0, err
	}
	for j := range e.block.Transactions {
		if e.block.Transactions[j].TxID == id {
			return e, j, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: no transaction %s in block %d", ErrNoBlock, id, n)
}
