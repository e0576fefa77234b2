package webhook

import (
	"context"
	"errors"
	"time"

	"github.com/mongotron/mongotron/pkg/lease"
)

// kick starts a subscription's lane here unless it runs here already or
// is known to wait; queued says there is new work in MongoDB's queue,
// which a running lane then reads before it stops. A lane known to wait
// still gets its inbox queued, so that JetStream's messages are settled.
func (d *Deliverer) kick(ctx context.Context, subID string, queued bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	if d.running[subID] {
		if queued {
			d.dirty[subID] = true
		}
		return
	}
	if nb, ok := d.notBefore[subID]; ok {
		if d.cfg.Now().Before(nb) {
			if len(d.inbox[subID]) > 0 {
				d.running[subID] = true
				d.lanes.Go(func() { d.runLane(ctx, subID, nb) })
			}
			return
		}
		delete(d.notBefore, subID)
	}
	d.running[subID] = true
	d.lanes.Go(func() { d.runLane(ctx, subID, time.Time{}) })
}

// poll finds due work in MongoDB: retries coming due, lanes of dead edges,
// manual retries made on other edges.
func (d *Deliverer) poll(ctx context.Context) {
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		subs, err := d.store.dueSubscriptions(ctx, d.cfg.Now().UTC())
		if err != nil {
			if ctx.Err() == nil {
				d.cfg.Logger.Warn("webhook: poll", "err", err)
			}
			continue
		}
		for _, s := range subs {
			d.kick(ctx, s, true)
		}
		d.mu.Lock()
		now := d.cfg.Now()
		for s, nb := range d.notBefore {
			if now.After(nb) {
				delete(d.notBefore, s)
			}
		}
		d.mu.Unlock()
	}
}

// park records that a lane is not to be tried here before t.
func (d *Deliverer) park(subID string, t time.Time) {
	d.mu.Lock()
	d.notBefore[subID] = t
	d.mu.Unlock()
}

// runLane works a subscription's lane here until nothing is left for it:
// tenure after tenure while its inbox refills, or, while it waits (until
// parked), only queueing what arrives, where the lane's next tenure, here
// or on another edge, finds it.
func (d *Deliverer) runLane(ctx context.Context, subID string, parked time.Time) {
	for {
		if parked.IsZero() {
			parked = d.tenure(ctx, subID)
		}
		if ctx.Err() != nil {
			break
		}
		if !parked.IsZero() && !d.spillAll(ctx, subID) {
			// It waits, and what arrived could not be queued: tend
			// tries again.
			break
		}
		d.mu.Lock()
		again := len(d.inbox[subID]) > 0 || d.dirty[subID] && parked.IsZero()
		delete(d.dirty, subID)
		if !again {
			delete(d.running, subID)
		}
		d.mu.Unlock()
		if !again {
			return
		}
		if !parked.IsZero() && !d.cfg.Now().Before(parked) {
			parked = time.Time{}
		}
	}
	d.mu.Lock()
	delete(d.running, subID)
	delete(d.dirty, subID)
	d.mu.Unlock()
}

// tenure takes a subscription's lane, delivers while anything is due, and
// releases it. It returns when the lane may be tried again, or zero for at
// once.
func (d *Deliverer) tenure(ctx context.Context, subID string) time.Time {
	ttl := d.cfg.LeaseDuration
	now := d.cfg.Now().UTC()
	t, err := d.leases.Acquire(ctx, subID, d.owner, ttl)
	switch {
	case errors.Is(err, lease.ErrHeld):
		// Held by an edge at work: look again at the next poll, since
		// that edge may stop before its lease ends. Parked (no holder)
		// for a retry: not before the retry.
		retry := now.Add(d.cfg.PollInterval)
		if t.Holder == "" || t.Expires.Before(retry) {
			retry = t.Expires
		}
		d.park(subID, retry)
		return retry
	case err != nil:
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("webhook: lane", "subscription_id", subID, "err", err)
		}
		next := now.Add(d.cfg.PollInterval)
		d.park(subID, next)
		return next
	}
	l := &laneRun{d: d, subID: subID, tenure: t, leaseEnd: now.Add(ttl)}
	releaseAt := l.run(ctx)
	if l.lost {
		return d.cfg.Now().Add(d.cfg.PollInterval)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if releaseAt.IsZero() {
		if err := d.leases.Release(rctx, l.tenure); err != nil {
			d.cfg.Logger.Warn("webhook: lane", "subscription_id", subID, "err", err)
		}
		return time.Time{}
	}
	d.park(subID, releaseAt)
	if err := d.leases.Park(rctx, l.tenure, releaseAt); err != nil {
		d.cfg.Logger.Warn("webhook: lane", "subscription_id", subID, "err", err)
	}
	return releaseAt
}
