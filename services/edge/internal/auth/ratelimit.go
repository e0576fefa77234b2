package auth

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of [RateLimitConfig].
const (
	DefaultRate  = 50.0
	DefaultBurst = 100
	// DefaultStreamRate and DefaultStreamBurst limit a key's stream
	// connects, apart from its REST calls: after an edge restarts, every
	// client of a tenant reconnects at once, and a burst of 10,000 lets
	// one tenant's whole fleet back in without a 429, while the rate
	// still stops a client that reconnects in a loop.
	DefaultStreamRate  = 200.0
	DefaultStreamBurst = 10_000
	// idleLimiter is how long an unused key's bucket is kept; a full
	// bucket holds no information, so dropping it changes nothing.
	idleLimiter = 10 * time.Minute
)

// RateLimitConfig configures [NewRateLimiter].
type RateLimitConfig struct {
	// Rate is the sustained requests per second of one key. Zero means
	// [DefaultRate]; negative disables rate limiting.
	Rate float64
	// Burst is how many requests a key may make at once. Zero means
	// [DefaultBurst].
	Burst int
	// Now returns the time. Nil means time.Now.
	Now func() time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// RateLimiter is a token bucket per key id.
type RateLimiter struct {
	cfg RateLimitConfig

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

// NewRateLimiter returns a limiter with cfg's defaults applied.
func NewRateLimiter(cfg RateLimitConfig) *RateLimiter {
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RateLimiter{cfg: cfg, buckets: map[string]*bucket{}}
}

// Allow takes a token for keyID. When none is left it returns false and
// how long until one is, rounded up to whole seconds for Retry-After.
func (r *RateLimiter) Allow(keyID string) (ok bool, retryAfter time.Duration) {
	if r.cfg.Rate < 0 {
		return true, 0
	}
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.swept) > idleLimiter {
		for k, b := range r.buckets {
			if now.Sub(b.seen) > idleLimiter {
				delete(r.buckets, k)
			}
		}
		r.swept = now
	}
	b := r.buckets[keyID]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(rate.Limit(r.cfg.Rate), r.cfg.Burst)}
		r.buckets[keyID] = b
	}
	b.seen = now
	res := b.l.ReserveN(now, 1)
	d := res.DelayFrom(now)
	if res.OK() && d == 0 {
		return true, 0
	}
	// Give the token back: a refused request must not push the next
	// allowed one further away.
	res.CancelAt(now)
	secs := math.Max(1, math.Ceil(d.Seconds()))
	return false, time.Duration(secs) * time.Second
}
