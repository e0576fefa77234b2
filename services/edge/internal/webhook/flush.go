package webhook

import (
	"context"
	"time"
)

// flush writes the recorded outcomes; false means they could not be. A
// failed write is tried again, twice, with the lease renewed: the
// attempts were made, and giving the lane up with their outcomes unwritten
// would have another edge send them all again.
func (l *laneRun) flush(ctx context.Context) bool {
	// Outcomes are stored in order; a background write that failed
	// has handed its messages back itself.
	l.wait()
	if l.ops.len() == 0 {
		l.ops.settle(true)
		return true
	}
	d := l.d
	defer l.ops.reset()
	for try := 1; ; try++ {
		if !l.renew(ctx) {
			d.cfg.Logger.Error("webhook: lane lost with outcomes unwritten; those deliveries will be sent again", "subscription_id", l.subID)
			l.handBack(ctx)
			return false
		}
		err := d.writer.write(ctx, l.ops)
		if err == nil {
			l.ops.settle(true)
			return true
		}
		if try == flushTries || l.lost {
			d.cfg.Logger.Error("webhook: outcomes not recorded; those deliveries will be sent again", "subscription_id", l.subID, "err", err)
			l.handBack(ctx)
			return false
		}
		d.cfg.Logger.Warn("webhook: outcomes not recorded; writing them again", "subscription_id", l.subID, "err", err)
		l.ops.failed()
		select {
		case <-time.After(time.Duration(try) * time.Second):
		case <-ctx.Done():
		}
	}
}

// handBack hands the messages of outcomes not written back to JetStream.
// The subscription's chain is rewound first (Deliverer.rewind): the
// events behind them in the inbox go back too, and all are filed again
// in cursor order, those without a message filled from history again. A
// stopping edge only hands them back: the next Run starts every chain
// from what is stored.
func (l *laneRun) handBack(ctx context.Context) {
	if ctx.Err() == nil {
		l.d.rewind(l.subID)
	}
	l.ops.settle(false)
}

// flushSuccesses writes the outcomes of events attempted straight from
// the inbox, all successes or failures without retry, in the background:
// nothing the lane does next depends on them (a retry, which the next
// delivery must see, is written by flush at once). It waits for the
// previous such write first, so a lane has at most one in flight.
// Their messages are acknowledged once they are stored. A failed write
// is tried again, with the messages kept in progress, for as long as the
// edge runs, and the lane waits for it: handed back, they would be sent
// again, behind later events. A stopping edge tries flushTries times,
// then hands them back.
func (l *laneRun) flushSuccesses(ctx context.Context) {
	l.wait()
	if l.ops.len() == 0 {
		l.ops.settle(true)
		return
	}
	d := l.d
	ops := l.ops
	l.ops = writeOps{}
	done := make(chan struct{})
	l.writing = done
	go func() {
		defer close(done)
		stopping := 0
		for try := 1; ; try++ {
			err := d.writer.write(ctx, ops)
			if err == nil {
				ops.settle(true)
				return
			}
			if ctx.Err() != nil {
				stopping++
			}
			if stopping >= flushTries {
				d.cfg.Logger.Error("webhook: outcomes not recorded; those deliveries will be sent again", "subscription_id", l.subID, "err", err)
				ops.settle(false)
				return
			}
			d.cfg.Logger.Warn("webhook: outcomes not recorded; writing them again", "subscription_id", l.subID, "err", err)
			ops.failed()
			for _, m := range ops.acks {
				_ = m.InProgress()
			}
			select {
			case <-time.After(time.Duration(min(try, 5)) * time.Second):
			case <-ctx.Done():
			}
		}
	}()
}

// wait waits for the lane's background write, if any.
func (l *laneRun) wait() {
	if l.writing != nil {
		<-l.writing
		l.writing = nil
	}
}
