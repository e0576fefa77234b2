package follow

import (
	"context"
	"time"
)

// Boundary is the follower's committed position between two steps, as
// seen by a function run with [Follower.AtBoundary]. It is valid only
// during that call.
type Boundary struct {
	// Step is the last committed step: every later delivery has a
	// greater step.
	Step uint64
	// Block and BlockID are the committed tip.
	Block   int64
	BlockID string

	emitted [allLevels]int64
	f       *Follower
}

// Emitted returns the highest block whose events have been delivered to
// the subscriptions of confirmation level conf (clamped to 0..19): the
// next steps deliver only blocks above it at that level.
func (b Boundary) Emitted(conf int) int64 { return b.emitted[min(max(conf, 0), levels-1)] }

// EmittedSolid returns the highest block whose events have been delivered
// to the subscriptions with finality solidified: the node reported it
// solidified, and the next steps deliver only blocks above it.
func (b Boundary) EmittedSolid() int64 { return b.emitted[solidLevel] }

// ChainID returns the id of block n on the follower's chain when n is
// among the recent blocks it keeps (the last 40), false otherwise.
func (b Boundary) ChainID(n int64) (string, bool) {
	if e := b.f.window[n]; e != nil {
		return e.id, true
	}
	return "", false
}

// Link records cursor as the head of a subscription, its last event, and
// count as how many events it has had (the seq of its next one), so that
// the follower links the subscription's next live event to it (its
// prev_cursor) and pages it after them, now and after a restart: the
// backfill hands a subscription over with its last backfilled event.
// cursor's step must be at or below Step (committed): a backfill's
// reserved step is.
func (b Boundary) Link(ctx context.Context, subscriptionID, cursor string, count int64) error {
	f := b.f
	if err := saveHeads(ctx, f.cfg.DB, []headDoc{{ID: subscriptionID, Cursor: cursor, Base: cursor, Seq: count, BaseSeq: count}}, f.fence()); err != nil {
		return err
	}
	if f.last != nil {
		f.last[subscriptionID] = headPos{cursor: cursor, seq: count}
	}
	return nil
}

// boundaryReq is a function waiting for the next step boundary.
type boundaryReq struct {
	fn   func(context.Context, Boundary) error
	done chan error
}

// AtBoundary runs fn on the follower's goroutine between two steps, so
// that no step commits while fn runs, and returns fn's error. It waits for
// a running follower; it returns ctx's error when ctx is done first. The
// backfill uses it to hand a subscription over to live delivery at an
// exact block.
func (f *Follower) AtBoundary(ctx context.Context, fn func(context.Context, Boundary) error) error {
	req := boundaryReq{fn: fn, done: make(chan error, 1)}
	select {
	case f.boundary <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serveBoundary runs the waiting boundary functions, if any. Only the
// follower's goroutine calls it, between steps.
func (f *Follower) serveBoundary(ctx context.Context) {
	for {
		select {
		case req := <-f.boundary:
			req.done <- req.fn(ctx, f.currentBoundary())
		default:
			return
		}
	}
}

func (f *Follower) currentBoundary() Boundary {
	return Boundary{Step: f.st.step, Block: f.st.block, BlockID: f.st.blockID, emitted: f.st.emitted, f: f}
}

// idle waits d like sleep, serving boundary functions meanwhile.
func (f *Follower) idle(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case <-ctx.Done():
			return
		case req := <-f.boundary:
			req.done <- req.fn(ctx, f.currentBoundary())
		case <-f.solidWake:
			// The node solidified more: deliver it now, not at the
			// next poll.
			return
		}
	}
}
