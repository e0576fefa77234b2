package sim

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// faults injects what a real node or its proxy does on a bad day: rate
// limiting, latency, errors and dropped connections. It is deterministic
// by seed for a given sequence of requests.
type faults struct {
	errorRate float64
	latency   time.Duration
	rate      float64 // requests per second; 0: unlimited

	mu     sync.Mutex
	r      *rand.Rand
	tokens float64
	last   time.Time
}

func newFaults(cfg Config) *faults {
	return &faults{
		errorRate: cfg.ErrorRate,
		latency:   cfg.Latency,
		rate:      cfg.RateLimit,
		r:         rand.New(rand.NewPCG(cfg.Seed, 0xfa017)),
		tokens:    max(cfg.RateLimit, 1),
	}
}

// allow takes a token from the bucket (capacity one second of requests,
// at least one). When there is none it says how many whole seconds until
// there is.
func (f *faults) allow(now time.Time) (ok bool, retryAfter int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	capacity := max(f.rate, 1)
	if !f.last.IsZero() {
		f.tokens = min(capacity, f.tokens+now.Sub(f.last).Seconds()*f.rate)
	}
	f.last = now
	if f.tokens >= 1 {
		f.tokens--
		return true, 0
	}
	return false, max(1, int(math.Ceil((1-f.tokens)/f.rate)))
}

// fault says which error to inject, if any: 0 none, else an HTTP status or
// -1 to drop the connection.
func (f *faults) fault() int {
	if f.errorRate == 0 {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r.Float64() >= f.errorRate {
		return 0
	}
	switch f.r.IntN(3) {
	case 0:
		return http.StatusInternalServerError
	case 1:
		return http.StatusServiceUnavailable
	default:
		return -1
	}
}

// withFaults wraps a node API handler. The TRON-PRO-API-KEY header is
// accepted and ignored, like any other.
func (s *Sim) withFaults(h http.Handler) http.Handler {
	f := s.faults
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if f.rate > 0 {
			if ok, retry := f.allow(time.Now()); !ok {
				s.rateLimited.Add(1)
				w.Header().Set("Retry-After", strconv.Itoa(retry))
				writeJSON(w, http.StatusTooManyRequests, []byte(`{"Error":"rate limit exceeded"}`))
				return
			}
		}
		if f.latency > 0 {
			t := time.NewTimer(f.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		switch code := f.fault(); code {
		case 0:
		case -1:
			s.injected.Add(1)
			// The server closes the connection without an answer and,
			// for this value, without logging a stack.
			panic(http.ErrAbortHandler)
		default:
			s.injected.Add(1)
			http.Error(w, http.StatusText(code), code)
			return
		}
		h.ServeHTTP(w, r)
	})
}
