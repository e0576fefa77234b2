package follow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// The solidified level.
//
// A subscription with finality solidified gets a block's events once the
// node reports the block solidified (irreversible: 19 of the 27 producers
// built on it), so never a removed event after them. The node's answer is
// an input that may differ between a step and its redo after a crash, so
// solidified deliveries get steps of their own ("solid steps"), apart from
// block steps: a solid step delivers the blocks from the last one
// delivered at the level up to the solidified height (at most the
// committed tip), oldest first. A redo sees a solidified height at least
// as high, since it never goes down, so it delivers the same blocks and
// maybe more after them: every subscription's cursors of the first attempt
// come out the same, and MongoDB and JetStream drop the copies.
//
// Block steps record the last height polled in the checkpoint, and an
// event says it is solidified when its block is at or below the height the
// previous step recorded: the same on a redo.

// minSolidPoll is the shortest interval between two asks of the solidified
// height.
const minSolidPoll = 500 * time.Millisecond

// pollSolid asks the node for its solidified height every poll interval
// until ctx ends, and wakes the run loop when it grew. A failure keeps the
// last height: it delays solidified deliveries, never a block. Failures
// back off (a node that rate-limits is believed), so this poll never
// crowds out the head's.
func (f *Follower) pollSolid(ctx context.Context) {
	// The solidified height moves once a block (3 s): no need to ask
	// more than twice a second, whatever the head's poll interval.
	every := max(f.cfg.PollInterval, minSolidPoll)
	failing := false
	wait := every
	for {
		n, err := f.cfg.Solid.SolidHeight(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				f.log.Warn("node's solidified height", "err", err)
			}
			failing = true
			wait = min(2*wait, f.cfg.MaxBackoff)
			if rl, ok := errors.AsType[*tron.RateLimitError](err); ok && rl.RetryAfter > wait {
				wait = min(rl.RetryAfter, maxRetryAfter)
			}
		case err == nil:
			failing = false
			wait = every
			if n > f.solidSeen.Load() {
				f.solidSeen.Store(n)
				f.m.Solidified.Set(float64(n))
				select {
				case f.solidWake <- struct{}{}:
				default:
				}
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// commitSolid commits a solid step when the solidified height passed the
// last block delivered at the solidified level (and that block is ours:
// at or below the committed tip). It does nothing otherwise.
func (f *Follower) commitSolid(ctx context.Context) error {
	seen := f.solidSeen.Load()
	from, target := f.st.emitted[solidLevel]+1, min(seen, f.st.block)
	if target < from {
		return nil
	}
	cctx, cancel := f.commitCtx(ctx)
	defer cancel()
	next := f.st
	next.step++
	next.solid = max(next.solid, seen)
	next.emitted[solidLevel] = target
	due := make([]*entry, 0, target-from+1)
	subs := map[string]bool{}
	for n := from; n <= target; n++ {
		e, err := f.loaded(cctx, n)
		if err != nil {
			return fmt.Errorf("follow: solidified block %d: %w", n, err)
		}
		f.match(e)
		for _, p := range e.byConf[solidLevel] {
			subs[p.m.SubscriptionID] = true
		}
		due = append(due, e)
	}
	if err := f.loadLinks(cctx, subs); err != nil {
		return err
	}
	now := time.Now().UTC()
	pos := map[string]uint64{}
	staged := newLinks()
	var ds []delivery
	for _, e := range due {
		n := e.num
		for _, p := range e.byConf[solidLevel] {
			ev := e.events[p.ev]
			ev.SubscriptionID = p.m.SubscriptionID
			ev.Confirmations = int(f.st.block - n)
			ev.Solidified = true
			ev.Watched = p.m.Watched
			ev.Direction = p.m.Direction
			if p.m.Lookalike {
				ev.AddFlag(event.FlagLookalike)
			}
			d, err := f.delivery(&ev, next.step, pos, staged, now)
			if err != nil {
				return err
			}
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		// Nothing delivered: the level moves without taking a step, so
		// cursors stay a function of the chain and the subscriptions
		// alone when no subscription is solidified.
		next.step = f.st.step
	}
	if err := f.persist(cctx, ds, nil, next, staged); err != nil {
		return err
	}
	f.st = next
	f.remember(staged.last)
	f.mirrorSolid()
	if len(ds) > 0 {
		f.m.Steps.Inc()
	}
	f.m.Matched.Add(float64(len(ds)))
	f.m.SolidDelivered.Set(float64(target))
	return nil
}

// mirrorSolid copies the committed solidified state for the backfill.
func (f *Follower) mirrorSolid() {
	f.solidDone.Store(f.st.emitted[solidLevel])
	f.solidKnown.Store(f.st.solid)
}
