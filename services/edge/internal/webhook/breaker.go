package webhook

import (
	"net/url"
	"sync"
	"time"
)

// endpoint is one receiver (scheme and host) as this edge sees it: a cap
// on attempts in flight and a circuit breaker, so a dead or slow receiver
// holds at most its own share of work and is soon left alone.
type endpoint struct {
	sem chan struct{}

	mu        sync.Mutex
	failures  int
	openUntil time.Time
	probing   bool
}

// endpoints holds the endpoint of every receiver seen.
type endpoints struct {
	concurrency int
	threshold   int
	cooldown    time.Duration

	mu sync.Mutex
	m  map[string]*endpoint
}

func endpointKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

func (es *endpoints) get(raw string) *endpoint {
	k := endpointKey(raw)
	es.mu.Lock()
	defer es.mu.Unlock()
	e, ok := es.m[k]
	if !ok {
		e = &endpoint{sem: make(chan struct{}, es.concurrency)}
		es.m[k] = e
	}
	return e
}

// allow reports whether an attempt may go now; if not, when to come back.
// Once the cooldown is over one attempt at a time probes the receiver.
func (es *endpoints) allow(e *endpoint, now time.Time) (bool, time.Time) {
	if es.threshold < 0 {
		return true, time.Time{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failures < es.threshold {
		return true, time.Time{}
	}
	if now.Before(e.openUntil) {
		return false, e.openUntil
	}
	if e.probing {
		return false, now.Add(es.cooldown / 10)
	}
	e.probing = true
	return true, time.Time{}
}

// abandon records that an attempt allowed was not made, or was cut short
// with its outcome unknown: it neither counts as a failure nor closes the
// breaker.
func (es *endpoints) abandon(e *endpoint) {
	e.mu.Lock()
	e.probing = false
	e.mu.Unlock()
}

// done records an attempt's outcome; ok false counts towards opening.
// It returns true when this outcome opened the breaker.
func (es *endpoints) done(e *endpoint, ok bool, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.probing = false
	if ok {
		e.failures = 0
		return false
	}
	e.failures++
	if es.threshold >= 0 && e.failures >= es.threshold {
		e.openUntil = now.Add(es.cooldown)
		return e.failures == es.threshold
	}
	return false
}
