package nodes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongotron/mongotron/pkg/tron"
)

// Lane is one set of connections to the pool's nodes. It implements
// follow.Node, follow.SolidSource and tron.ConstantCaller; every answer it
// returns has been verified. Safe for concurrent use.
type Lane struct {
	p       *Pool
	name    string
	clients []Client
}

// badDataError is an answer that failed verification: its node is set
// aside for [Config.BadFor].
type badDataError struct{ err error }

func (e *badDataError) Error() string { return e.err.Error() }
func (e *badDataError) Unwrap() error { return e.err }

// ErrMismatch is wrapped when a node's transaction-info list does not
// match the transactions of its own block of that number.
var ErrMismatch = errors.New("nodes: transaction infos do not match the block's transactions")

// errUnverified is an info list that could not be checked (its node
// could not serve the block it belongs to): not the node's fault, but not
// an answer either.
var errUnverified = errors.New("nodes: transaction infos could not be checked")

// do calls fn on each node in turn, best first, until one answers; see
// [Lane.try].
func (l *Lane) do(ctx context.Context, call string, fn func(ctx context.Context, n *node, c Client) error) error {
	p := l.p
	var errs []error
	notFound := 0
	for _, n := range p.order() {
		start := time.Now()
		err := fn(ctx, n, l.clients[n.idx])
		p.m.observe(n, call, time.Since(start))
		switch {
		case err == nil:
			p.succeeded(n)
			return nil
		case ctx.Err() != nil:
			// The caller gave up: not the node's fault.
			return err
		case errors.Is(err, tron.ErrCallFailed):
			// The contract reverted: an answer, the same on every node.
			p.succeeded(n)
			return err
		case errors.Is(err, tron.ErrNotFound), errors.Is(err, errUnverified):
			// The node does not have it (yet): another may.
			notFound++
		default:
			p.fail(n, call, err)
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	if notFound < len(errs) {
		// Only the failures: a node without the block next to one that
		// failed is no proof the block does not exist.
		kept := errs[:0]
		for _, err := range errs {
			if !errors.Is(err, tron.ErrNotFound) && !errors.Is(err, errUnverified) {
				kept = append(kept, err)
			}
		}
		errs = kept
	}
	return fmt.Errorf("nodes: every node failed %s: %w", call, errors.Join(errs...))
}

// NowBlock returns the head block of the node read from.
func (l *Lane) NowBlock(ctx context.Context) (*tron.Block, error) {
	var out *tron.Block
	err := l.do(ctx, "now_block", func(ctx context.Context, n *node, c Client) error {
		b, err := c.NowBlock(ctx)
		if err != nil {
			return err
		}
		if err := verifyBlock(b); err != nil {
			return &badDataError{err: err}
		}
		n.remember(l.p.cfg.KeepBlocks, b)
		l.p.observed(n, b, true)
		out = b
		return nil
	})
	return out, err
}

// BlockByNum returns block num. It wraps tron.ErrNotFound only when no
// node has it.
func (l *Lane) BlockByNum(ctx context.Context, num int64) (*tron.Block, error) {
	var out *tron.Block
	err := l.do(ctx, "block_by_num", func(ctx context.Context, n *node, c Client) error {
		b, err := l.blockByNum(ctx, n, c, num)
		out = b
		return err
	})
	return out, err
}

// blockByNum fetches and verifies block num from n.
func (l *Lane) blockByNum(ctx context.Context, n *node, c Client, num int64) (*tron.Block, error) {
	f := n.takeOff(num, num+1)
	defer n.land(f)
	b, err := c.BlockByNum(ctx, num)
	if err != nil {
		return nil, err
	}
	if err := verifyBlock(b); err != nil {
		return nil, &badDataError{err: err}
	}
	n.remember(l.p.cfg.KeepBlocks, b)
	return b, nil
}

// BlocksByRange returns blocks start to end-1, each verified and linked
// to the one before it; fewer when the node's head is below end-1.
func (l *Lane) BlocksByRange(ctx context.Context, start, end int64) ([]tron.Block, error) {
	var out []tron.Block
	err := l.do(ctx, "blocks_by_range", func(ctx context.Context, n *node, c Client) error {
		f := n.takeOff(start, end)
		defer n.land(f)
		bs, err := c.BlocksByRange(ctx, start, end)
		if err != nil {
			return err
		}
		if err := verifyRange(bs); err != nil {
			return &badDataError{err: err}
		}
		ptrs := make([]*tron.Block, len(bs))
		for i := range bs {
			ptrs[i] = &bs[i]
		}
		n.remember(l.p.cfg.KeepBlocks, ptrs...)
		out = bs
		return nil
	})
	return out, err
}

// TxInfosByBlockNum returns the transaction infos of block num, checked
// against the same node's block num: the same transactions in the same
// order.
func (l *Lane) TxInfosByBlockNum(ctx context.Context, num int64) ([]tron.TxInfo, error) {
	var out []tron.TxInfo
	err := l.do(ctx, "tx_infos_by_block_num", func(ctx context.Context, n *node, c Client) error {
		infos, err := c.TxInfosByBlockNum(ctx, num)
		if err != nil {
			return err
		}
		if err := l.checkInfos(ctx, n, c, num, infos); err != nil {
			return err
		}
		out = infos
		return nil
	})
	return out, err
}

// checkInfos checks infos against n's block num: the one n served lately,
// else the one a fetch in flight brings, else one fetched now. A mismatch
// is checked once more against a fresh copy of the block, since the node
// may have switched branches between the two calls; only a block that
// still mismatches under the same id makes the node bad.
func (l *Lane) checkInfos(ctx context.Context, n *node, c Client, num int64, infos []tron.TxInfo) error {
	sig, ok := n.recalled(num)
	if !ok {
		for _, done := range n.inFlight(num) {
			select {
			case <-done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		sig, ok = n.recalled(num)
	}
	if !ok {
		b, err := l.blockForInfos(ctx, n, c, num)
		if err != nil {
			return err
		}
		sig = sigOf(b)
	}
	if sig.matches(infos) {
		return nil
	}
	if len(infos) == 0 {
		// java-tron answers an empty list for a block it does not have
		// yet, and a provider's load balancer may ask a backend a block
		// behind the one that served the block: not yet, rather than
		// wrong.
		return fmt.Errorf("%w: block %d: the node has no infos for its %d transactions yet", errUnverified, num, sig.txs)
	}
	b, err := l.blockForInfos(ctx, n, c, num)
	if err != nil {
		return err
	}
	fresh := sigOf(b)
	switch {
	case fresh.matches(infos):
		return nil
	case fresh.id == sig.id:
		return &badDataError{err: fmt.Errorf("%w: block %d (%s) has %d transactions, the node's infos list %d or others",
			ErrMismatch, num, clip(b.BlockID), fresh.txs, len(infos))}
	default:
		// The node switched branches between the calls: no verdict, and
		// no answer.
		return fmt.Errorf("%w: block %d changed from %s to %s meanwhile", errUnverified, num, clip(sig.id), clip(fresh.id))
	}
}

// blockForInfos fetches n's block num to check infos against. A node
// without the block is no verdict on the node.
func (l *Lane) blockForInfos(ctx context.Context, n *node, c Client, num int64) (*tron.Block, error) {
	b, err := l.blockByNum(ctx, n, c, num)
	if err != nil && ctx.Err() == nil && errors.Is(err, tron.ErrNotFound) {
		return nil, fmt.Errorf("%w: block %d: %w", errUnverified, num, err)
	}
	return b, err
}

// SolidHeight returns the solidified height of the node read from, or the
// highest one any node reported before if that is higher.
func (l *Lane) SolidHeight(ctx context.Context) (int64, error) {
	var out int64
	err := l.do(ctx, "solid_height", func(ctx context.Context, _ *node, c Client) error {
		h, err := c.SolidHeight(ctx)
		if err != nil {
			return err
		}
		for {
			cur := l.p.solid.Load()
			if h <= cur {
				out = cur
				return nil
			}
			if l.p.solid.CompareAndSwap(cur, h) {
				out = h
				return nil
			}
		}
	})
	return out, err
}

// TriggerConstant runs a read-only contract call on the node read from,
// or the next one if it fails. A contract that reverts is an answer
// (tron.ErrCallFailed), not a node failure.
func (l *Lane) TriggerConstant(ctx context.Context, owner, contract tron.Address, selector string, parameter []byte) ([]byte, error) {
	var out []byte
	err := l.do(ctx, "trigger_constant", func(ctx context.Context, _ *node, c Client) error {
		var err error
		out, err = c.TriggerConstant(ctx, owner, contract, selector, parameter)
		return err
	})
	return out, err
}

// verifyBlock checks that b's id is the hash of its header and each
// transaction's id the hash of its raw data.
func verifyBlock(b *tron.Block) error {
	if err := tron.VerifyBlockID(b); err != nil {
		return err
	}
	for i := range b.Transactions {
		if err := tron.VerifyTxID(&b.Transactions[i]); err != nil {
			return fmt.Errorf("block %d: %w", b.BlockHeader.RawData.Number, err)
		}
	}
	return nil
}

// verifyRange verifies each block of bs and that each links to the one
// before it.
func verifyRange(bs []tron.Block) error {
	for i := range bs {
		if err := verifyBlock(&bs[i]); err != nil {
			return err
		}
		if i > 0 && bs[i].BlockHeader.RawData.ParentHash != bs[i-1].BlockID {
			return fmt.Errorf("%w: block %d has parent %s, the range's block %d is %s", tron.ErrIntegrity,
				bs[i].BlockHeader.RawData.Number, clip(bs[i].BlockHeader.RawData.ParentHash), bs[i-1].BlockHeader.RawData.Number, clip(bs[i-1].BlockID))
		}
	}
	return nil
}

// The pool's own methods go through its default lane.

// NowBlock is [Lane.NowBlock] on the default lane.
func (p *Pool) NowBlock(ctx context.Context) (*tron.Block, error) { return p.def.NowBlock(ctx) }

// BlockByNum is [Lane.BlockByNum] on the default lane.
func (p *Pool) BlockByNum(ctx context.Context, num int64) (*tron.Block, error) {
	return p.def.BlockByNum(ctx, num)
}

// BlocksByRange is [Lane.BlocksByRange] on the default lane.
func (p *Pool) BlocksByRange(ctx context.Context, start, end int64) ([]tron.Block, error) {
	return p.def.BlocksByRange(ctx, start, end)
}

// TxInfosByBlockNum is [Lane.TxInfosByBlockNum] on the default lane.
func (p *Pool) TxInfosByBlockNum(ctx context.Context, num int64) ([]tron.TxInfo, error) {
	return p.def.TxInfosByBlockNum(ctx, num)
}

// SolidHeight is [Lane.SolidHeight] on the default lane.
func (p *Pool) SolidHeight(ctx context.Context) (int64, error) { return p.def.SolidHeight(ctx) }

// TriggerConstant is [Lane.TriggerConstant] on the default lane.
func (p *Pool) TriggerConstant(ctx context.Context, owner, contract tron.Address, selector string, parameter []byte) ([]byte, error) {
	return p.def.TriggerConstant(ctx, owner, contract, selector, parameter)
}
