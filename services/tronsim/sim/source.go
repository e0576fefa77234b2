package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
	"github.com/mongotron/mongotron/services/tronsim/internal/gen"
)

// ErrNoBlock is returned for a block number the chain does not have (yet).
var ErrNoBlock = errors.New("tronsim: no such block")

// ErrSolidified is returned for a reorg that would replace a solidified
// block: deeper than [Config.SolidLag], or on a chain whose every block is
// solidified.
var ErrSolidified = errors.New("tronsim: a reorg cannot replace solidified blocks")

// ErrUnsupported is returned for an operation the chain's mode cannot do,
// such as a reorg of a replayed chain.
var ErrUnsupported = errors.New("tronsim: not supported in this mode")

// source is where blocks come from: the synthetic generator or a directory
// of recorded blocks. Implementations are safe for concurrent use.
type source interface {
	// head returns the number and id of the newest block.
	head() (int64, string)
	// first returns the number of the oldest block.
	first() int64
	// entry returns block n, or ErrNoBlock when n is past the head or was
	// never there.
	entry(n int64) (*entry, error)
	// mine produces (or releases) up to n blocks and returns the new head.
	mine(n int) int64
	// reorg replaces the last depth blocks, never a solidified one.
	reorg(depth int) error
	// reorgs returns how many reorgs happened.
	reorgs() int
	// findTx returns the block holding a transaction and its position,
	// looking only at blocks up to maxNum; ErrNoBlock when not found.
	findTx(id string, maxNum int64) (*entry, int, error)
}

// entry is one block as served: the parsed block and infos, and their hex
// JSON, rendered once.
type entry struct {
	number int64
	block  tron.Block
	infos  []tron.TxInfo
	// traps lists the traps of a synthetic block; nil for none.
	traps []gen.Trap

	jsonOnce  sync.Once
	blockJSON []byte
	infosJSON []byte
	jsonErr   error

	// The gRPC messages, converted once each; gRPC only reads them.
	pbBlockOnce sync.Once
	pbBlock     *tronpb.BlockExtention
	pbBlockErr  error
	pbInfosOnce sync.Once
	pbInfoList  []*tronpb.TransactionInfo
	pbInfosErr  error
}

// pb returns the block as a gRPC message.
func (e *entry) pb() (*tronpb.BlockExtention, error) {
	e.pbBlockOnce.Do(func() {
		if e.pbBlock, e.pbBlockErr = tron.BlockToPB(&e.block); e.pbBlockErr != nil {
			e.pbBlockErr = fmt.Errorf("tronsim: block %d: %w", e.number, e.pbBlockErr)
		}
	})
	return e.pbBlock, e.pbBlockErr
}

// pbInfos returns the transaction infos as gRPC messages.
func (e *entry) pbInfos() ([]*tronpb.TransactionInfo, error) {
	e.pbInfosOnce.Do(func() {
		if e.pbInfoList, e.pbInfosErr = tron.TxInfosToPB(e.infos); e.pbInfosErr != nil {
			e.pbInfosErr = fmt.Errorf("tronsim: infos of block %d: %w", e.number, e.pbInfosErr)
		}
	})
	return e.pbInfoList, e.pbInfosErr
}

// json returns the hex (non-visible) JSON of the block and of its infos.
func (e *entry) json() (block, infos []byte, err error) {
	e.jsonOnce.Do(func() {
		if e.blockJSON == nil {
			if e.blockJSON, e.jsonErr = json.Marshal(&e.block); e.jsonErr != nil {
				e.jsonErr = fmt.Errorf("tronsim: block %d: %w", e.number, e.jsonErr)
				return
			}
		}
		if e.infosJSON == nil {
			infos := e.infos
			if infos == nil {
				infos = []tron.TxInfo{}
			}
			if e.infosJSON, e.jsonErr = json.Marshal(infos); e.jsonErr != nil {
				e.jsonErr = fmt.Errorf("tronsim: infos of block %d: %w", e.number, e.jsonErr)
			}
		}
	})
	return e.blockJSON, e.infosJSON, e.jsonErr
}

// txLoc is where a transaction is.
type txLoc struct {
	e *entry
	i int
}

// blockCache keeps the most recently added blocks, up to max, and an index
// of their transactions. It is not safe for concurrent use; its owner
// locks.
type blockCache struct {
	max   int
	m     map[int64]*entry
	order []*entry // insertion order, oldest first; may hold dropped entries
	txs   map[string]txLoc
}

func newBlockCache(size int) *blockCache {
	return &blockCache{max: size, m: make(map[int64]*entry), txs: make(map[string]txLoc)}
}

func (c *blockCache) get(n int64) *entry { return c.m[n] }

func (c *blockCache) put(e *entry) {
	if old := c.m[e.number]; old != nil {
		c.unindex(old)
	}
	c.m[e.number] = e
	c.order = append(c.order, e)
	for i := range e.block.Transactions {
		c.txs[e.block.Transactions[i].TxID] = txLoc{e: e, i: i}
	}
	for len(c.m) > c.max && len(c.order) > 0 {
		old := c.order[0]
		c.order[0] = nil
		c.order = c.order[1:]
		if c.m[old.number] == old {
			delete(c.m, old.number)
			c.unindex(old)
		}
	}
}

// drop forgets every block numbered from or above, as a reorg replaces
// them.
func (c *blockCache) drop(from int64) {
	for n, e := range c.m {
		if n >= from {
			delete(c.m, n)
			c.unindex(e)
		}
	}
}

func (c *blockCache) unindex(e *entry) {
	for i := range e.block.Transactions {
		id := e.block.Transactions[i].TxID
		if c.txs[id].e == e {
			delete(c.txs, id)
		}
	}
}

func (c *blockCache) tx(id string) (txLoc, bool) {
	l, ok := c.txs[id]
	return l, ok
}

// stripInternalTxs removes the internal transactions of infos in place, as
// a node that does not save them serves its infos. It reports whether
// there were any.
func stripInternalTxs(infos []tron.TxInfo) bool {
	found := false
	for i := range infos {
		if infos[i].InternalTransactions != nil {
			infos[i].InternalTransactions = nil
			found = true
		}
	}
	return found
}

// solidOf returns the solidified block of a chain from first to head: lag
// blocks below the head, but never below the first block.
func solidOf(head, first int64, lag int) int64 { return max(head-int64(lag), first) }
