package webhook

import (
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// verdict is what an attempt's result makes of its delivery.
type verdict struct {
	// status is the delivery's new status.
	status string
	// nextAttempt is when a pending delivery is attempted again.
	nextAttempt time.Time
	// attempt is the record of the attempt.
	attempt Attempt
}

// label is the verdict's value of the deliveries metric's outcome label.
func (v verdict) label() string {
	if v.status == StatusPending {
		return "retry"
	}
	return v.status
}

// classify judges an attempt at dl that got r: a 2xx succeeded; a 410 or
// a target the policy refuses failed for good; anything else is retried
// along the schedule, and dead once the schedule is spent.
func (d *Deliverer) classify(dl *Delivery, r result) verdict {
	now := d.cfg.Now().UTC()
	v := verdict{status: StatusSucceeded, attempt: Attempt{
		At: now, Attempt: dl.Attempts + 1, StatusCode: r.code, LatencyMS: r.latency.Milliseconds(), Edge: d.owner,
	}}
	if r.err != nil {
		v.attempt.Error = r.err.Error()
	}
	switch {
	case r.err == nil:
	case r.code == http.StatusGone:
		v.status = StatusFailed
		v.attempt.Error = "receiver answered 410 Gone: the webhook is disabled"
	case r.class == "refused":
		v.status = StatusFailed
	case dl.RoundAttempts >= len(d.cfg.Schedule):
		v.status = StatusDead
	default:
		v.status = StatusPending
		v.nextAttempt = now.Add(jitter(d.cfg.Schedule[dl.RoundAttempts]))
	}
	return v
}

// record adds to ops what stores v for dl: the delivery queued for its
// retry (one from the inbox), the update of one queued already, or the
// finished delivery.
func (d *Deliverer) record(ops *writeOps, dl *Delivery, v verdict) {
	now, att := v.attempt.At, v.attempt
	switch {
	case v.status == StatusPending && dl.held:
		q := *dl
		q.keepLink()
		q.Status, q.Last, q.UpdatedAt, q.NextAttemptAt = v.status, &att, now, v.nextAttempt
		q.Attempts++
		q.RoundAttempts++
		q.Log = append(slices.Clip(dl.Log), att)
		q.held, q.msg, q.check = false, nil, false
		ops.pending = append(ops.pending, &q)
		if dl.msg != nil {
			ops.acks = append(ops.acks, dl.msg)
		}
	case v.status == StatusPending:
		ops.updates = append(ops.updates, updateByID(dl.ID).SetUpdate(bson.M{
			"$set":  bson.M{"status": v.status, "last": att, "updated_at": now, "next_attempt_at": v.nextAttempt},
			"$inc":  bson.M{"attempts": 1, "round_attempts": 1},
			"$push": bson.M{"attempts_log": att},
		}))
	default:
		f := *dl
		f.keepLink()
		f.Status, f.Last, f.UpdatedAt = v.status, &att, now
		f.Attempts++
		f.RoundAttempts++
		f.Log = append(slices.Clip(dl.Log), att)
		ops.finish(&f)
	}
}

// finished returns dl ended without an attempt.
func finished(dl *Delivery, status, reason string, now time.Time) *Delivery {
	f := *dl
	f.keepLink()
	f.Status, f.UpdatedAt = status, now
	f.Last = &Attempt{At: now, Attempt: dl.Attempts, Error: reason}
	return &f
}

// jitter spreads a wait by ±10 %, so receivers coming back are not hit by
// every retry at once.
func jitter(d time.Duration) time.Duration {
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	// pkg/backoff does not fit: its waits double from a minimum and keep
	// only the upper half, while these follow the documented schedule
	// (docs/api.md) at ±10 %.
	return d - time.Duration(spread/2) + time.Duration(mrand.Int64N(spread+1)) //nolint:gosec // G404: jitter only spreads retries out; nothing depends on it being unpredictable.
}
