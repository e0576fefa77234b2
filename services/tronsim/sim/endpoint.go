package sim

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint is one node serving a [Sim]'s chain with its own [Faults], so
// that one chain can stand for several nodes: one stalls, one lags, one
// answers errors, one serves a tampered block. Its methods are safe for
// concurrent use.
type Endpoint struct {
	s       *Sim
	handler http.Handler

	// Counters of this endpoint's node API requests; the simulator counts
	// every endpoint's too.
	requests    atomic.Int64
	injected    atomic.Int64
	rateLimited atomic.Int64

	mu sync.Mutex
	f  Faults
	// stallAt is the head the endpoint stopped at, while f.Stall.
	stallAt int64
	// rng draws the injected errors, seeded by the simulator's seed and the
	// endpoint's index, so that each endpoint's faults are deterministic.
	rng *rand.Rand
	// The rate limit's token bucket.
	tokens float64
	last   time.Time
}

// faultStream is the PCG stream of the first endpoint's fault draws; the
// i-th endpoint made takes stream faultStream+i.
const faultStream = 0xfa017

// NewEndpoint returns a node endpoint over s's chain with faults f (out of
// range values are clamped: see [Faults.Validate]). Serve it with
// [Endpoint.Handler] and [Endpoint.RegisterGRPC].
func (s *Sim) NewEndpoint(f Faults) *Endpoint {
	i := s.endpoints.Add(1) - 1
	e := &Endpoint{s: s, rng: rand.New(rand.NewPCG(s.cfg.Seed, faultStream+uint64(i)))}
	e.SetFaults(f)
	e.handler = e.routes()
	return e
}

// Sim returns the simulator whose chain e serves.
func (e *Endpoint) Sim() *Sim { return e.s }

// Handler returns the java-tron HTTP API of e, with e's faults, and the
// control API (never faulted): /sim/mine, /sim/reorg, /sim/status,
// /sim/traps, and GET or POST /sim/faults to read or change e's faults.
func (e *Endpoint) Handler() http.Handler { return e.handler }

// SetFaults replaces e's faults from now on; out of range values are
// clamped (see [Faults.Validate]). Setting Stall stops the head where it
// is now; clearing it lets the endpoint catch up at once.
func (e *Endpoint) SetFaults(f Faults) {
	f = f.clamped()
	e.mu.Lock()
	defer e.mu.Unlock()
	if f.Stall && !e.f.Stall {
		e.stallAt = e.laggedHead(f.Lag)
	}
	if f.RateLimit != e.f.RateLimit {
		e.tokens, e.last = max(f.RateLimit, 1), time.Time{}
	}
	e.f = f
}

// Faults returns e's faults.
func (e *Endpoint) Faults() Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.f
}

// laggedHead returns the chain's head as a node lag blocks behind sees it.
func (e *Endpoint) laggedHead(lag int) int64 {
	head, _ := e.s.src.head()
	return max(head-int64(lag), e.s.src.first())
}

// view is the part of the chain one request may see through an endpoint,
// and how the endpoint spoils it.
type view struct {
	// head and solid are the endpoint's head and solidified block.
	head, solid int64
	// maxNum is the newest block the request may show: head, or solid on
	// the solidity API.
	maxNum          int64
	corruptBlocks   bool
	corruptReceipts bool
}

// view returns what a request sees now; solidity for the solidity API.
func (e *Endpoint) view(solidity bool) view {
	e.mu.Lock()
	f, stallAt := e.f, e.stallAt
	e.mu.Unlock()
	head := e.laggedHead(f.Lag)
	if f.Stall {
		head = min(head, stallAt)
	}
	v := view{head: head, solid: min(e.s.Solid(), head), corruptBlocks: f.CorruptBlocks, corruptReceipts: f.CorruptReceipts}
	v.maxNum = v.head
	if solidity {
		v.maxNum = v.solid
	}
	return v
}

// EndpointStatus is the endpoint part of GET /sim/status: what the
// endpoint that answered serves, and its counters.
type EndpointStatus struct {
	// Head and Solid are the endpoint's, after its stall or lag.
	Head           int64  `json:"head"`
	Solid          int64  `json:"solid"`
	Faults         Faults `json:"faults"`
	Requests       int64  `json:"requests"`
	ErrorsInjected int64  `json:"errors_injected"`
	RateLimited    int64  `json:"rate_limited"`
}

// Status returns what e serves and its counters.
func (e *Endpoint) Status() EndpointStatus {
	v := e.view(false)
	return EndpointStatus{
		Head: v.head, Solid: v.solid, Faults: e.Faults(),
		Requests: e.requests.Load(), ErrorsInjected: e.injected.Load(), RateLimited: e.rateLimited.Load(),
	}
}
