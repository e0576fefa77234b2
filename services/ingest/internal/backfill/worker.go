package backfill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongotron/mongotron/pkg/backoff"
	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/ingest/internal/match"
)

// errNotYet says the hand-over must wait: the follower has not reached
// the backfill's position, or too many blocks are left to replay while it
// waits.
var errNotYet = errors.New("backfill: not ready to hand over")

// errChainMoved says a block the node returned is not the follower's: a
// reorg is under way, which the follower handles first.
var errChainMoved = errors.New("backfill: the node's block differs from the follower's chain")

// handoverFetchAttempts bounds the node calls retried while the follower
// waits at a boundary; past them the hand-over is tried again later.
const handoverFetchAttempts = 3

// worker backfills one subscription.
type worker struct {
	r   *Runner
	id  string
	sub *subscription.Subscription
	ix  *match.Index
	st  state
	// started is true once st holds the recorded state.
	started bool
}

// block is a block fetched and decoded.
type block struct {
	num    int64
	id     string
	events []event.Event
}

// backfill runs the backfill of subscription id until it hands over, the
// subscription is gone, or ctx is done.
func (r *Runner) backfill(ctx context.Context, id string) error {
	w := &worker{r: r, id: id}
	retry := backoff.Policy{Min: r.cfg.RetryInterval, Max: r.cfg.MaxBackoff}
	failures := 0
	for ctx.Err() == nil {
		done, err := w.round(ctx)
		switch {
		case done:
			return nil
		case err == nil:
			failures = 0
		case errors.Is(err, errNotYet):
			sleep(ctx, r.cfg.RetryInterval)
		case ctx.Err() == nil:
			r.log.Warn("backfill round", "subscription_id", id, "err", err)
			failures++
			sleep(ctx, retry.Delay(failures))
		}
	}
	return nil
}

// round does one unit of work: a chunk of blocks, or a hand-over attempt.
// done is true when there is nothing left to do for this subscription.
func (w *worker) round(ctx context.Context) (done bool, err error) {
	cfg := &w.r.cfg
	sub, err := loadSub(ctx, cfg.DB, w.id)
	if err != nil {
		return false, err
	}
	if sub == nil || sub.Status != subscription.StatusBackfilling {
		// Deleted, or handed over by an earlier run that stopped before
		// dropping its state.
		return true, deleteState(ctx, cfg.DB, w.id)
	}
	if w.ix == nil || sub.Version != w.sub.Version {
		addrs, err := loadAddresses(ctx, cfg.DB, w.id)
		if err != nil {
			return false, err
		}
		ix := match.New()
		if err := ix.Upsert(sub, addrs); err != nil {
			return false, fmt.Errorf("backfill: subscription %s: %w", w.id, err)
		}
		w.sub, w.ix = sub, ix
	}
	if !w.started {
		if err := w.start(ctx); err != nil {
			return false, err
		}
	}
	solid := cfg.Live.Committed() - follow.MaxReorgDepth
	if w.sub.Solidified() {
		solid = min(solid, cfg.Live.SolidDelivered())
	}
	if solid-w.st.Next+1 > int64(cfg.ChunkBlocks) {
		end := min(w.st.Next+int64(cfg.ChunkBlocks), solid+1)
		blocks, err := w.fetch(ctx, w.st.Next, end, nil, 0)
		if err != nil {
			return false, err
		}
		return false, w.commit(ctx, blocks, end)
	}
	return w.handover(ctx)
}

// start loads the recorded state or creates it, reserving the follower's
// current step for the cursors.
func (w *worker) start(ctx context.Context) error {
	cfg := &w.r.cfg
	// Between two of the follower's steps, so after its start: a
	// rebuild of the history pages (an upgrade) has run by then, and no
	// backfill writes pages while it does.
	var step uint64
	err := cfg.Live.AtBoundary(ctx, func(_ context.Context, b follow.Boundary) error {
		step = b.Step
		return nil
	})
	if err != nil {
		return err
	}
	st, ok, err := loadState(ctx, cfg.DB, w.id)
	if err != nil {
		return err
	}
	if !ok {
		from := backfillFrom(w.sub)
		st, err = createState(ctx, cfg.DB, state{ID: w.id, Step: int64(step), From: from, Next: from, Version: w.sub.Version})
		if err != nil {
			return err
		}
		w.r.log.Info("backfill started", "subscription_id", w.id, "from", from, "step", step)
	} else {
		w.r.log.Info("backfill resumed", "subscription_id", w.id, "from", st.From, "next", st.Next, "step", st.Step)
	}
	w.st, w.started = st, true
	return nil
}

// backfillFrom is the first block to replay for s.
func backfillFrom(s *subscription.Subscription) int64 {
	switch {
	case s.Backfill != nil:
		return max(s.Backfill.From, 0)
	case s.StartBlock != nil:
		return max(*s.StartBlock, 0)
	default:
		return 0
	}
}

// handover replays the last blocks and switches the subscription to live
// delivery at a step boundary of the follower.
func (w *worker) handover(ctx context.Context) (done bool, err error) {
	cfg := &w.r.cfg
	conf := min(max(w.sub.Confirmations, 0), subscription.MaxConfirmations)
	err = cfg.Live.AtBoundary(ctx, func(ctx context.Context, b follow.Boundary) error {
		p := b.Emitted(conf)
		if w.sub.Solidified() {
			p = b.EmittedSolid()
		}
		if p < w.st.Next-1 || p-w.st.Next+1 > int64(cfg.HandoverBlocks) {
			return errNotYet
		}
		blocks, err := w.fetch(ctx, w.st.Next, p+1, b.ChainID, handoverFetchAttempts)
		if err != nil {
			return err
		}
		// From here on the follower waits for this to succeed: these
		// blocks may still be reorganised, so their events must belong to
		// a live subscription before the follower's next step.
		if err := w.commit(ctx, blocks, p+1); err != nil {
			return err
		}
		if w.st.Pos > 0 {
			// The subscription's first live event links to its last
			// backfilled one, even after a restart: the head is
			// stored before the subscription goes live.
			last := cursor.Cursor{Step: uint64(w.st.Step), Pos: uint64(w.st.Pos - 1)}.String()
			if err := w.retry(ctx, func(ctx context.Context) error { return b.Link(ctx, w.id, last, w.st.Pos) }); err != nil {
				return err
			}
		}
		var version int64
		var ok bool
		err = w.retry(ctx, func(ctx context.Context) error {
			var err error
			version, ok, err = activate(ctx, cfg.DB, w.id, w.st.From, p)
			return err
		})
		if err != nil || !ok {
			return err
		}
		ch := bus.SubscriptionChange{Op: bus.OpUpsert, SubscriptionID: w.id, Tenant: w.sub.Tenant, Version: version}
		if err := w.retry(ctx, func(ctx context.Context) error { return cfg.Subs.Apply(ctx, ch) }); err != nil {
			return err
		}
		if cfg.Notify != nil {
			cfg.Notify(ch)
		}
		w.r.m.handovers.Inc()
		w.r.log.Info("backfill handed over", "subscription_id", w.id, "from", w.st.From, "to", p, "events", w.st.Pos, "step", b.Step)
		return nil
	})
	if err != nil {
		return false, err
	}
	if err := deleteState(ctx, cfg.DB, w.id); err != nil {
		w.r.log.Warn("drop backfill state", "subscription_id", w.id, "err", err)
	}
	return true, nil
}

// fetch fetches and decodes blocks [s, e). With chainID, each block the
// follower holds must be the one it holds. attempts bounds the retries of
// node calls; zero means until ctx is done.
func (w *worker) fetch(ctx context.Context, s, e int64, chainID func(int64) (string, bool), attempts int) ([]block, error) {
	cfg := &w.r.cfg
	out := make([]block, 0, e-s)
	for n := s; n < e; {
		end := min(n+int64(cfg.ChunkBlocks), e)
		var raw []tron.Block
		err := w.retryN(ctx, attempts, func(ctx context.Context) error {
			var err error
			raw, err = cfg.Node.BlocksByRange(ctx, n, end)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("backfill: blocks %d..%d: %w", n, end-1, err)
		}
		if int64(len(raw)) != end-n {
			return nil, fmt.Errorf("backfill: node returned %d blocks for %d..%d", len(raw), n, end-1)
		}
		for i := range raw {
			b := &raw[i]
			num := b.BlockHeader.RawData.Number
			if num != n+int64(i) {
				return nil, fmt.Errorf("backfill: node returned block %d for %d", num, n+int64(i))
			}
			if chainID != nil {
				if id, ok := chainID(num); ok && id != b.BlockID {
					return nil, fmt.Errorf("%w: block %d", errChainMoved, num)
				}
			}
			var infos []tron.TxInfo
			err := w.retryN(ctx, attempts, func(ctx context.Context) error {
				var err error
				infos, err = cfg.Node.TxInfosByBlockNum(ctx, num)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("backfill: infos of block %d: %w", num, err)
			}
			evs, err := cfg.Decoder.DecodeBlock(b, infos)
			if err != nil {
				// Infos of another branch than the block's: a reorg at
				// the node between the two calls.
				return nil, fmt.Errorf("backfill: decode block %d: %w", num, err)
			}
			out = append(out, block{num: num, id: b.BlockID, events: evs})
		}
		n = end
	}
	return out, nil
}

// commit delivers the matches of blocks, which end just before next:
// stored, then published, then the state moves to next. Each part is
// retried until it succeeds or ctx is done; a redo after a crash
// recomputes the same cursors from the recorded state.
func (w *worker) commit(ctx context.Context, blocks []block, next int64) error {
	cfg := &w.r.cfg
	now := time.Now().UTC()
	pos := w.st.Pos
	solidified := cfg.Live.Solidified()
	var docs []any
	var evs []store.EventDoc
	var msgs []follow.Msg
	for _, b := range blocks {
		for i := range b.events {
			var m match.Match
			var ok bool
			w.ix.Match(&b.events[i], func(x match.Match) { m, ok = x, true })
			if !ok {
				continue
			}
			ev := b.events[i]
			ev.SubscriptionID = w.id
			ev.Confirmations = m.Confirmations
			ev.Watched = m.Watched
			ev.Direction = m.Direction
			ev.Solidified = m.Solidified || b.num <= solidified
			if m.Lookalike {
				ev.AddFlag(event.FlagLookalike)
			}
			// A backfill's events are the subscription's first, numbered
			// densely within its one step: each links to the one before.
			prev := ""
			if pos > 0 {
				prev = cursor.Cursor{Step: uint64(w.st.Step), Pos: uint64(pos - 1)}.String()
			}
			// Its seq (its place in the subscription's history) is its
			// position too.
			doc, msg, err := follow.Deliver(&ev, cursor.Cursor{Step: uint64(w.st.Step), Pos: uint64(pos)}, prev, pos, now)
			if err != nil {
				return fmt.Errorf("backfill: %w", err)
			}
			pos++
			docs = append(docs, doc)
			evs = append(evs, doc)
			msgs = append(msgs, msg)
		}
	}
	if cfg.Fence != nil {
		if err := cfg.Fence.Check(ctx); err != nil {
			return err
		}
	}
	fence := int64(0)
	if cfg.Fence != nil {
		fence = cfg.Fence.Token()
	}
	err := w.retry(ctx, func(ctx context.Context) error {
		if err := insertEvents(ctx, cfg.DB, docs); err != nil {
			return err
		}
		// Paged before published, as the follower does: a stream that
		// sees an event live finds it in history.
		return writePages(ctx, w.r.pages, evs, fence)
	})
	if err != nil {
		return err
	}
	if err := w.retry(ctx, func(ctx context.Context) error { return cfg.Publisher.Publish(ctx, msgs) }); err != nil {
		return err
	}
	st := w.st
	st.Next, st.Pos, st.Version = next, pos, w.sub.Version
	if err := w.retry(ctx, func(ctx context.Context) error { return saveState(ctx, cfg.DB, st) }); err != nil {
		return err
	}
	w.st = st
	w.r.m.blocks.Add(float64(len(blocks)))
	w.r.m.events.Add(float64(len(docs)))
	// Progress is for people; the state above is what a restart uses.
	if err := setProgress(ctx, cfg.DB, w.id, next-1); err != nil && ctx.Err() == nil {
		w.r.log.Warn("backfill progress", "subscription_id", w.id, "err", err)
	}
	return nil
}

// retry runs fn until it succeeds or ctx is done.
func (w *worker) retry(ctx context.Context, fn func(context.Context) error) error {
	return w.retryN(ctx, 0, fn)
}

// retryN runs fn up to attempts times (zero: until ctx is done), waiting
// with jittered exponential backoff in between.
func (w *worker) retryN(ctx context.Context, attempts int, fn func(context.Context) error) error {
	retry := backoff.Policy{Min: min(w.r.cfg.RetryInterval, 100*time.Millisecond), Max: w.r.cfg.MaxBackoff}
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, follow.ErrFenced) {
			// Another ingest leads: trying again cannot help.
			return err
		}
		if attempts > 0 && attempt >= attempts {
			return err
		}
		w.r.log.Debug("backfill retrying", "subscription_id", w.id, "attempt", attempt, "err", err)
		sleep(ctx, retry.Delay(attempt))
	}
}
