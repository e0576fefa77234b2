package follow

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// fetched is a block as fetched and decoded.
type fetched struct {
	num       int64
	id        string
	parent    string
	time      time.Time
	events    []event.Event
	fetchedAt time.Time
}

func newFetched(b *tron.Block, evs []event.Event, at time.Time) *fetched {
	return &fetched{
		num:       b.BlockHeader.RawData.Number,
		id:        b.BlockID,
		parent:    b.BlockHeader.RawData.ParentHash,
		time:      decode.BlockRef(b).Timestamp,
		events:    evs,
		fetchedAt: at,
	}
}

// fetchRange fetches and decodes blocks [from, to) with up to conc ranges
// in flight and sends them on the returned channel strictly in order. The
// channel closes after block to-1, after the node's head (a short range)
// or when ctx is done. Each range is retried until it succeeds: a block is
// never skipped.
func (f *Follower) fetchRange(ctx context.Context, from, to int64) <-chan *fetched {
	// The buffer lets blocks pile up while a group commits, so that the
	// next group can take them all at once.
	out := make(chan *fetched, f.cfg.GroupBlocks)
	chunk := int64(f.cfg.ChunkBlocks)
	var starts []int64
	for s := from; s < to; s += chunk {
		starts = append(starts, s)
	}
	results := make([]chan []*fetched, len(starts))
	for i := range results {
		results[i] = make(chan []*fetched, 1)
	}
	go func() {
		defer close(out)
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		// sem bounds the ranges fetched ahead of the consumer, which
		// bounds memory during a long catch-up.
		sem := make(chan struct{}, f.cfg.Concurrency)
		wg.Go(func() {
			for i, s := range starts {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				e := min(s+chunk, to)
				wg.Go(func() { results[i] <- f.fetchChunk(ctx, s, e) })
			}
		})
		for i, s := range starts {
			var r []*fetched
			select {
			case r = <-results[i]:
			case <-ctx.Done():
				return
			}
			<-sem
			for _, b := range r {
				select {
				case out <- b:
				case <-ctx.Done():
					return
				}
			}
			if int64(len(r)) < min(s+chunk, to)-s {
				return // past the head, or ctx done mid-range
			}
		}
	}()
	return out
}

// infosAhead is how many transaction info calls of one range are in
// flight at once; they go out alongside the range call, since they only
// need the block numbers.
const infosAhead = 4

// infosResult is one prefetched info call.
type infosResult struct {
	infos []tron.TxInfo
	err   error
}

// fetchChunk fetches [s, e), retrying until it succeeds or ctx is done; it
// may return fewer blocks when the node's head is below e-1.
func (f *Follower) fetchChunk(ctx context.Context, s, e int64) []*fetched {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // the prefetches left are of blocks past the head
		wg.Wait()
	}()
	pre := make([]chan infosResult, e-s)
	for i := range pre {
		pre[i] = make(chan infosResult, 1)
	}
	wg.Go(func() {
		sem := make(chan struct{}, infosAhead)
		for i := range pre {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				infos, err := f.cfg.Node.TxInfosByBlockNum(ctx, s+int64(i))
				pre[i] <- infosResult{infos: infos, err: err}
			})
		}
	})
	var blocks []tron.Block
	err := f.retry(ctx, "node", func(ctx context.Context) error {
		var err error
		blocks, err = f.cfg.Node.BlocksByRange(ctx, s, e)
		return err
	})
	if err != nil {
		return nil
	}
	f.nodeUp(true)
	out := make([]*fetched, 0, len(blocks))
	for i := range blocks {
		b := &blocks[i]
		var fb *fetched
		if i := b.BlockHeader.RawData.Number - s; i >= 0 && i < int64(len(pre)) {
			var r infosResult
			select {
			case r = <-pre[i]:
			case <-ctx.Done():
				return out
			}
			if r.err == nil {
				var derr error
				if fb, derr = f.decodeWith(b, r.infos); derr != nil {
					// Not an error yet: the careful way below settles it.
					f.log.DebugContext(ctx, "prefetched infos do not fit the block; fetching again", "block", b.BlockHeader.RawData.Number, "err", derr)
				}
			}
		}
		if fb == nil {
			// The prefetch failed or does not fit the block (the node
			// switched chains in between): the careful way, with retries.
			fb, err = f.decodeBlock(ctx, b)
			if err != nil {
				return out
			}
		}
		out = append(out, fb)
	}
	return out
}

// decodeWith decodes b with infos, fetched beforehand.
func (f *Follower) decodeWith(b *tron.Block, infos []tron.TxInfo) (*fetched, error) {
	at := time.Now()
	evs, err := f.cfg.Decoder.DecodeBlock(b, infos)
	if err != nil {
		return nil, fmt.Errorf("follow: decode block %d: %w", b.BlockHeader.RawData.Number, err)
	}
	f.noteInternal(b, infos)
	return newFetched(b, evs, at), nil
}

// decodeBlock fetches b's transaction infos and decodes them. When they do
// not fit the block (the node switched chains between the two calls), the
// block is fetched again by number.
func (f *Follower) decodeBlock(ctx context.Context, b *tron.Block) (*fetched, error) {
	num := b.BlockHeader.RawData.Number
	var out *fetched
	err := f.retry(ctx, "node", func(ctx context.Context) error {
		if b == nil {
			nb, err := f.cfg.Node.BlockByNum(ctx, num)
			if err != nil {
				return err
			}
			b = nb
		}
		infos, err := f.cfg.Node.TxInfosByBlockNum(ctx, num)
		if err != nil {
			return err
		}
		at := time.Now()
		evs, err := f.cfg.Decoder.DecodeBlock(b, infos)
		if err != nil {
			b = nil
			return fmt.Errorf("follow: decode block %d: %w", num, err)
		}
		f.noteInternal(b, infos)
		out = newFetched(b, evs, at)
		return nil
	})
	return out, err
}

// fetchOne fetches and decodes block num.
func (f *Follower) fetchOne(ctx context.Context, num int64) (*fetched, error) {
	var b *tron.Block
	err := f.retry(ctx, "node", func(ctx context.Context) error {
		var err error
		b, err = f.cfg.Node.BlockByNum(ctx, num)
		return err
	})
	if err != nil {
		return nil, err
	}
	return f.decodeBlock(ctx, b)
}
