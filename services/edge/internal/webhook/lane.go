package webhook

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/mongotron/mongotron/pkg/lease"
)

// laneRun is one tenure of a lane.
type laneRun struct {
	d      *Deliverer
	subID  string
	tenure lease.Tenure
	// leaseEnd is when the tenure ends by this edge's clock, measured
	// from before it was taken or renewed.
	leaseEnd time.Time
	lost     bool
	ops      writeOps
	// writing is closed when a background write of outcomes ends.
	writing chan struct{}
}

// stepKind is how a lane goes on after one delivery.
type stepKind int

const (
	// goOn: go on with the next delivery.
	goOn stepKind = iota
	// stopBefore: stop; this delivery is not settled.
	stopBefore
	// stopAfter: stop; this delivery's outcome is in ops.
	stopAfter
	// abort: stopping; the attempt was cut short, its outcome unknown.
	abort
)

// step is what one delivery ([laneRun.deliver]) tells its lane.
type step struct {
	kind stepKind
	// resumeAt, for a stop, is when the lane may be taken again; zero
	// means at once.
	resumeAt time.Time
}

// batchEnd is how a batch attempted straight from the inbox
// ([laneRun.direct]) ended.
type batchEnd struct {
	// spilled: what the batch did not settle was queued behind its
	// cause, with the rest of the inbox, so the lane reads the queue
	// next.
	spilled bool
	// stop ends the tenure; resumeAt is then when the lane may be taken
	// again, zero meaning at once.
	stop     bool
	resumeAt time.Time
}

// run delivers until nothing is due: the queued deliveries first, then
// the inbox. It returns when the lane may be taken again (zero: at once).
func (l *laneRun) run(ctx context.Context) time.Time {
	d := l.d
	defer l.flush(ctx)
	readQueue := true // an earlier tenure may have left work there
	var lastRead time.Time
	for {
		if ctx.Err() != nil {
			return time.Time{}
		}
		now := d.cfg.Now()
		d.mu.Lock()
		if d.dirty[l.subID] || now.Sub(lastRead) >= d.cfg.PollInterval {
			readQueue = true
			delete(d.dirty, l.subID)
		}
		d.mu.Unlock()
		if readQueue {
			docs, err := d.reader.pending(ctx, l.subID)
			if err != nil {
				if ctx.Err() == nil {
					d.cfg.Logger.Warn("webhook: lane", "subscription_id", l.subID, "err", err)
				}
				return now.UTC().Add(d.cfg.PollInterval)
			}
			lastRead = now
			if len(docs) > 0 {
				for i := range docs {
					switch st := l.deliver(ctx, &docs[i], time.Time{}); st.kind {
					case stopBefore, stopAfter:
						return st.resumeAt
					case abort:
						return time.Time{}
					}
				}
				if !l.flush(ctx) {
					return d.cfg.Now().UTC().Add(d.cfg.PollInterval)
				}
				// Working off the queue can take long: what waited
				// in memory meanwhile joins the queue behind it.
				if t, ok := d.oldest(l.subID); ok && d.cfg.Now().Sub(t) >= spillAfter {
					d.spillOps(&l.ops, d.takeInbox(l.subID, laneBatch))
					if !l.flush(ctx) {
						return d.cfg.Now().UTC().Add(d.cfg.PollInterval)
					}
				}
				continue
			}
			readQueue = false
		}
		items := d.takeBatch(l.subID, laneBatch)
		if len(items) == 0 {
			d.mu.Lock()
			again := d.dirty[l.subID]
			d.mu.Unlock()
			if again {
				continue
			}
			return time.Time{}
		}
		end := l.direct(ctx, items)
		if end.stop {
			return end.resumeAt
		}
		readQueue = end.spilled
		if end.spilled {
			if !l.flush(ctx) {
				return d.cfg.Now().UTC().Add(d.cfg.PollInterval)
			}
			continue
		}
		l.flushSuccesses(ctx)
	}
}

// direct attempts events straight from the inbox. When it cannot go on
// it queues what it did not settle, with the rest of the inbox, behind
// the cause (spilled), and stops the lane if that waits until a time; a
// stopping edge gives them back to the inbox instead.
func (l *laneRun) direct(ctx context.Context, items []incoming) batchEnd {
	d := l.d
	if slices.ContainsFunc(items, func(it incoming) bool { return it.check }) {
		// What is checked must see the outcomes of the events before.
		l.wait()
	}
	rctx, cancel := context.WithTimeout(ctx, storeTimeout)
	kn, err := d.store.known(rctx, items)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("webhook: lane", "subscription_id", l.subID, "err", err)
		}
		l.giveBack(items)
		return batchEnd{stop: true, resumeAt: d.cfg.Now().UTC().Add(d.cfg.PollInterval)}
	}
	if len(kn.recorded) > 0 {
		// Sent and recorded before: only their messages are left to
		// acknowledge.
		kept := items[:0:0]
		for _, it := range items {
			switch {
			case !kn.recorded[it.dl.ID]:
				kept = append(kept, it)
			case it.dl.msg != nil:
				l.ops.acks = append(l.ops.acks, it.dl.msg)
			}
		}
		items = kept
	}
	if kn.queued {
		// Sent before and queued since: the queue goes first.
		d.spillOps(&l.ops, items)
		return batchEnd{spilled: true}
	}
	for _, it := range items {
		if it.repeat {
			// Its first delivery is neither recorded nor queued: it was
			// lost on the way, and goes late rather than never.
			d.cfg.Logger.Warn("webhook: a repeated event was never delivered; sending it late, after later events",
				"subscription_id", l.subID, "cursor", it.dl.Cursor)
		}
	}
	for i, it := range items {
		st := step{kind: stopBefore}
		if d.cfg.Now().Sub(it.taken) < spillAfter {
			st = l.deliver(ctx, it.dl, it.taken.Add(spillAfter))
		}
		// Otherwise it waited too long: the rest goes to the queue,
		// which the lane reads next.
		switch st.kind {
		case goOn:
			continue
		case abort:
			l.giveBack(items[i:])
			return batchEnd{stop: true}
		case stopAfter:
			i++
		}
		d.spillOps(&l.ops, items[i:])
		d.spillOps(&l.ops, d.takeInbox(l.subID, math.MaxInt))
		return batchEnd{spilled: true, stop: !st.resumeAt.IsZero(), resumeAt: st.resumeAt}
	}
	return batchEnd{}
}

// giveBack returns unsettled events to the front of the inbox, where a
// stopping edge queues them once every lane has ended (queueHeld).
func (l *laneRun) giveBack(items []incoming) {
	if len(items) > 0 {
		l.d.putBack(l.subID, items)
	}
}

// deliver makes one attempt at dl, or none when it is not due, its
// receiver's breaker is open, or, for an event from the inbox, no slot
// for its receiver frees up before spillBy.
func (l *laneRun) deliver(ctx context.Context, dl *Delivery, spillBy time.Time) step {
	d := l.d
	now := d.cfg.Now().UTC()
	if dl.NextAttemptAt.After(now) {
		// Held back: later deliveries wait for this one's retry.
		return step{kind: stopBefore, resumeAt: dl.NextAttemptAt}
	}
	if ctx.Err() != nil {
		return step{kind: abort}
	}
	if l.leaseEnd.Sub(now) < d.cfg.LeaseDuration/2 {
		if !l.flush(ctx) || !l.renew(ctx) {
			if l.lost {
				return step{kind: abort}
			}
			return step{kind: stopBefore, resumeAt: now.Add(d.cfg.PollInterval)}
		}
	}
	h, err := d.hooks.get(ctx, l.subID)
	if err != nil {
		return step{kind: stopBefore, resumeAt: now.Add(d.cfg.PollInterval)}
	}
	if h == nil || h.disabled {
		reason := "the subscription or its webhook was removed"
		if h != nil {
			reason = "the webhook is disabled: the receiver answered 410 Gone; a manual retry, a replay or a new URL enables it again"
		}
		l.ops.finish(finished(dl, StatusFailed, reason, now))
		d.m.deliveries.WithLabelValues(StatusFailed).Inc()
		return step{kind: goOn}
	}
	ep := d.eps.get(h.url)
	if ok, retryAt := d.eps.allow(ep, now); !ok {
		return step{kind: stopBefore, resumeAt: retryAt}
	}
	var late <-chan time.Time
	if !spillBy.IsZero() {
		t := time.NewTimer(spillBy.Sub(d.cfg.Now()))
		defer t.Stop()
		late = t.C
	}
	select {
	case ep.sem <- struct{}{}:
	case <-late:
		d.eps.abandon(ep)
		return step{kind: stopBefore}
	case <-ctx.Done():
		d.eps.abandon(ep)
		return step{kind: abort}
	}
	res := d.attempt(ctx, h, dl)
	<-ep.sem
	if ctx.Err() != nil {
		// Shutdown cut the attempt short: its outcome is unknown, and
		// the delivery stays due for whichever edge comes next.
		d.eps.abandon(ep)
		return step{kind: abort}
	}
	if d.eps.done(ep, res.healthy(), d.cfg.Now()) {
		d.m.breakers.Inc()
		d.cfg.Logger.Warn("webhook: breaker open", "endpoint", endpointKey(h.url), "cooldown", d.cfg.BreakerCooldown)
	}
	v := d.classify(dl, res)
	d.record(&l.ops, dl, v)
	if v.status == StatusDead {
		d.m.dead.Inc()
	}
	d.m.deliveries.WithLabelValues(v.label()).Inc()
	if v.status == StatusSucceeded {
		if l.ops.len() >= flushEvery {
			l.flushSuccesses(ctx)
		}
		return step{kind: goOn}
	}
	// Anything but a success is written at once: the next delivery, on
	// this edge or another, must see it.
	if !l.flush(ctx) {
		return step{kind: stopAfter, resumeAt: now.Add(d.cfg.PollInterval)}
	}
	if res.code == http.StatusGone {
		d.disable(ctx, l.subID, h.url, dl.ID)
	}
	if v.status == StatusPending {
		return step{kind: stopAfter, resumeAt: v.nextAttempt}
	}
	return step{kind: goOn}
}

// renew extends the lane's lease once half of it is gone, so that an
// attempt or a write started now ends inside it; false means the lane is
// lost or the lease could not be renewed.
func (l *laneRun) renew(ctx context.Context) bool {
	d := l.d
	now := d.cfg.Now().UTC()
	if l.lost {
		return false
	}
	if l.leaseEnd.Sub(now) >= d.cfg.LeaseDuration/2 {
		return true
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	t, err := d.leases.Renew(rctx, l.tenure, d.cfg.LeaseDuration)
	switch {
	case errors.Is(err, lease.ErrLost):
		// Another edge took the lane over: it owns the release.
		l.lost = true
		return false
	case err != nil:
		d.cfg.Logger.Warn("webhook: renew lane", "subscription_id", l.subID, "err", err)
		return l.leaseEnd.Sub(d.cfg.Now()) >= d.cfg.LeaseDuration/2
	}
	l.tenure = t
	l.leaseEnd = now.Add(d.cfg.LeaseDuration)
	return true
}
