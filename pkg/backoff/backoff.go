// Package backoff computes the waits between the attempts of a call that
// keeps failing: exponential, so that a dependency that is down is not
// hammered, capped, so that one coming back is noticed soon enough, and
// jittered, so that the clients that failed together do not come back
// together. The ingest's follower and backfill, the Tron node client and
// the stream client all wait this way.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy says how long to wait before each retry. The zero value never
// waits.
type Policy struct {
	// Min is the wait before the first retry, before jitter. Zero means
	// no wait.
	Min time.Duration
	// Max caps the wait, before jitter: Min doubles per retry until it
	// reaches Max. Zero, or a value below Min, means Min: the wait never
	// grows.
	Max time.Duration
	// Rand returns a uniformly distributed number in [0, n), n > 0; it
	// places each wait within its range. Nil means math/rand/v2's
	// Int64N, which is safe for concurrent use; tests give a seeded or
	// fixed one, so that the waits are known.
	Rand func(n int64) int64
}

// Delay returns the wait before retry number attempt, counting from 1
// (below 1 counts as 1): d = Min doubled attempt-1 times, at most Max, then
// drawn uniformly between d/2 and d ("equal jitter"). Half the wait is
// always kept, so that a retry storm stays spread out; the other half is
// random, so that clients that failed at the same moment drift apart.
func (p Policy) Delay(attempt int) time.Duration {
	d := p.ceiling(attempt)
	if d <= 0 {
		return 0
	}
	lo := d / 2
	return lo + time.Duration(p.rand(int64(d-lo)+1))
}

// ceiling returns the wait before retry attempt without jitter.
func (p Policy) ceiling(attempt int) time.Duration {
	maxWait := max(p.Max, p.Min)
	d := p.Min
	// Doubling stops at the cap, so a large attempt cannot overflow.
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	return min(d, maxWait)
}

func (p Policy) rand(n int64) int64 {
	if p.Rand != nil {
		return p.Rand(n)
	}
	return rand.Int64N(n)
}
