package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/tron"
)

const (
	// infoWorkers is how many gettransactioninfobyblocknum calls run at
	// once: a block's infos weigh more than the block, and a node answers
	// several at a time faster than one after the other.
	infoWorkers = 4
	// progressMin is the smallest range that shows progress.
	progressMin = 2 * tron.MaxBlocksPerRange
)

// errInfosNotReady means a node gave fewer transaction infos than the
// block has transactions, which a node that has just taken the block may
// do for a moment.
var errInfosNotReady = errors.New("transaction infos not ready")

// fetcher reads blocks and their infos from a node, decodes them and
// writes their events, in chain order.
type fetcher struct {
	client *tron.Client
	dec    *decode.Decoder
	out    *eventWriter
	stderr io.Writer

	// partialInfos accepts a block with fewer infos than transactions,
	// with a warning, instead of waiting for the rest.
	partialInfos bool

	// lastID is the id of the last block written, to notice a
	// reorganisation.
	lastID string
}

// rangeBlocks decodes blocks from to to, inclusive.
func (f *fetcher) rangeBlocks(ctx context.Context, from, to int64) error {
	head, err := f.client.NowBlock(ctx)
	if err != nil {
		return fmt.Errorf("node head: %w", err)
	}
	if h := head.BlockHeader.RawData.Number; to > h {
		return badInput("block %d is past the node's head, block %d", to, h)
	}
	var progress func(next int64)
	if total := to - from + 1; total >= progressMin && logging.IsTerminal(f.stderr) {
		progress = func(next int64) {
			fmt.Fprintf(f.stderr, "\rmongotron decode: %d of %d blocks, up to %d ", next-from, total, next-1)
		}
		defer fmt.Fprintln(f.stderr)
	}
	next, err := f.blocks(ctx, from, to, progress)
	if err == nil && next <= to {
		err = fmt.Errorf("block %d: %w", next, tron.ErrNotFound)
	}
	return err
}

// follow decodes blocks from start (the head when start is negative) and
// every later one as the node gets it, polling its head every interval,
// until ctx is done. A node failure before the first block is written is an
// error; later ones are reported on stderr and retried at the next poll,
// from the first block not yet written, so no block is skipped or repeated.
func (f *fetcher) follow(ctx context.Context, start int64, interval time.Duration) error {
	head, err := f.client.NowBlock(ctx)
	if err != nil {
		return fmt.Errorf("node head: %w", err)
	}
	next := start
	if next < 0 {
		next = head.BlockHeader.RawData.Number
	}
	started := false
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if head != nil && head.BlockHeader.RawData.Number >= next {
			n, err := f.upTo(ctx, next, head)
			started = started || n > next
			next = n
			switch {
			case ctx.Err() != nil:
				return nil
			case err == nil:
			case !started && !errors.Is(err, errInfosNotReady), !retryable(err):
				return err
			default:
				fmt.Fprintf(f.stderr, "mongotron decode: %v; retrying from block %d\n", err, next)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if head, err = f.client.NowBlock(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(f.stderr, "mongotron decode: node head: %v; retrying\n", err)
		}
	}
}

// upTo decodes blocks from next to head, inclusive, reusing head rather
// than fetching it again, and returns the number of the first block not
// written.
func (f *fetcher) upTo(ctx context.Context, next int64, head *tron.Block) (int64, error) {
	h := head.BlockHeader.RawData.Number
	n, err := f.blocks(ctx, next, h-1, nil)
	if err != nil || n < h {
		return n, err
	}
	return f.emit(ctx, []tron.Block{*head})
}

// retryable reports whether a failure while following may go away by
// asking again, as a node's may. A block the decoder refuses, or output
// that cannot be written, stays.
func retryable(err error) bool {
	return !errors.As(err, new(writeError)) && !errors.Is(err, decode.ErrMalformed) && !errors.Is(err, tron.ErrIntegrity)
}

// blocks decodes blocks from to to, inclusive, in batches, and returns the
// number of the first block it did not write: to+1 when all went well, less
// on error or when the node has fewer blocks than asked for.
func (f *fetcher) blocks(ctx context.Context, from, to int64, progress func(next int64)) (int64, error) {
	next := from
	for next <= to {
		end := min(to+1, next+tron.MaxBlocksPerRange)
		bs, err := f.client.BlocksByRange(ctx, next, end)
		if err != nil {
			return next, fmt.Errorf("blocks %d to %d: %w", next, end-1, err)
		}
		if len(bs) == 0 {
			return next, nil
		}
		short := int64(len(bs)) < end-next
		if next, err = f.emit(ctx, bs); err != nil {
			return next, err
		}
		if progress != nil {
			progress(next)
		}
		if short {
			return next, nil // the node's head is behind what we asked for
		}
	}
	return next, nil
}

// emit fetches the infos of consecutive blocks bs, decodes them and writes
// their events, and returns the number after the last block written.
func (f *fetcher) emit(ctx context.Context, bs []tron.Block) (int64, error) {
	next := bs[0].BlockHeader.RawData.Number
	infos, err := f.infos(ctx, bs)
	for i := range bs {
		if infos[i] == nil && len(bs[i].Transactions) > 0 {
			break // its fetch failed; err says why
		}
		evs, derr := f.dec.DecodeBlock(&bs[i], infos[i])
		if derr != nil {
			return next, fmt.Errorf("block %d: %w", next, derr)
		}
		if parent := bs[i].BlockHeader.RawData.ParentHash; f.lastID != "" && parent != f.lastID {
			fmt.Fprintf(f.stderr, "mongotron decode: block %d does not follow block %s printed before: the chain reorganised, and events of the old block are not retracted\n", next, f.lastID)
		}
		f.lastID = bs[i].BlockID
		if werr := f.out.write(evs); werr != nil {
			return next, werr
		}
		if werr := f.out.flush(); werr != nil {
			return next, werr
		}
		next++
	}
	return next, err
}

// infos fetches the transaction infos of each block of bs that has
// transactions, a few at a time. An element is nil for a block without
// transactions and for one whose fetch failed; the error is that of the
// earliest failed block.
func (f *fetcher) infos(ctx context.Context, bs []tron.Block) ([][]tron.TxInfo, error) {
	out := make([][]tron.TxInfo, len(bs))
	errs := make([]error, len(bs))
	warns := make([]string, len(bs))
	sem := make(chan struct{}, infoWorkers)
	var wg sync.WaitGroup
	for i := range bs {
		if len(bs[i].Transactions) == 0 {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n := bs[i].BlockHeader.RawData.Number
			infos, err := f.client.TxInfosByBlockNum(ctx, n)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("transaction infos of block %d: %w", n, err)
			case len(infos) < len(bs[i].Transactions) && f.partialInfos:
				warns[i] = fmt.Sprintf("mongotron decode: block %d: the node has %d transaction infos for %d transactions; the others decode from the block alone (no logs)", n, len(infos), len(bs[i].Transactions))
				out[i] = infos
			case len(infos) != len(bs[i].Transactions):
				errs[i] = fmt.Errorf("block %d: %w: %d of %d", n, errInfosNotReady, len(infos), len(bs[i].Transactions))
			default:
				out[i] = infos
			}
		})
	}
	wg.Wait()
	for _, w := range warns {
		if w != "" {
			fmt.Fprintln(f.stderr, w)
		}
	}
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
