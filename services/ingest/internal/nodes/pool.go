// Package nodes reads the Tron chain from several full nodes as if they
// were one, and trusts none of them.
//
// A [Pool] polls every node's head, reads from the healthiest node at (or
// near) the highest head, and moves to another when that node fails, times
// out, rate-limits, stalls or falls behind. A node that recovers is read
// from again only after several healthy polls, so the pool does not flap.
// A call that fails on one node is tried on the next at once.
//
// Everything a node serves is verified before it is returned: block ids
// against their headers, transaction ids against their raw data, each
// block of a range against its parent, and a transaction-info list against
// the block of that node it belongs to. A node that fails a check is set
// aside for a while and the call answered from another node.
package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongotron/mongotron/pkg/tron"
)

// Pool is a set of Tron nodes read as one. It implements follow.Node,
// follow.SolidSource and tron.ConstantCaller through its default lane;
// [Pool.Lane] gives other users connections of their own. Its methods are
// safe for concurrent use.
type Pool struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	nodes []*node

	def    *Lane
	health *Lane

	mu       sync.Mutex
	selected int
	lanes    map[string]*Lane
	closed   bool

	// solid is the highest solidified height a node reported: a failover
	// to a node that is a little behind must not take it back.
	solid   atomic.Int64
	running atomic.Bool
	// rounds counts Run's health rounds, so that tests can say "within
	// two polls" without reading the clock.
	rounds atomic.Int64
}

// defaultLane names the lane of the pool's own methods; healthLane is the
// lane of the head polls, apart so that a poll never waits behind a big
// range answer on a gRPC connection.
const (
	defaultLane = ""
	healthLane  = "health"
)

// New checks cfg and makes every node's client. It contacts no node.
func New(cfg Config) (*Pool, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("nodes: no node URL")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	cfg = cfg.withDefaults()
	p := &Pool{cfg: cfg, log: cfg.Logger, lanes: map[string]*Lane{}}
	labels := map[string]int{}
	for i, u := range cfg.URLs {
		label := Label(u)
		// URLs that differ only in credentials or query would share a
		// label: number the later ones.
		if k := labels[label]; k > 0 {
			label = fmt.Sprintf("%s#%d", label, k+1)
		}
		labels[Label(u)]++
		p.nodes = append(p.nodes, &node{
			idx: i, url: u, label: label, healthy: cfg.RecoverPolls,
			recent: map[int64]blockSig{}, flights: map[*flight]struct{}{},
		})
	}
	p.m = newMetrics(cfg.Registerer, p.nodes)
	var err error
	if p.def, err = p.Lane(defaultLane); err != nil {
		return nil, err
	}
	if p.health, err = p.Lane(healthLane); err != nil {
		_ = p.Close()
		return nil, err
	}
	p.evaluate()
	return p, nil
}

// Lane returns the pool's lane called name, making it on first use: a
// client of its own per node, sharing the pool's health and verification.
// Give each user that must not queue behind another (the follower, the
// token resolver, the backfill) its own lane.
func (p *Pool) Lane(name string) (*Lane, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("nodes: pool closed")
	}
	if l := p.lanes[name]; l != nil {
		return l, nil
	}
	l := &Lane{p: p, name: name}
	for _, n := range p.nodes {
		cc := p.cfg.Client
		cc.BaseURL = n.url
		c, err := p.cfg.NewClient(cc)
		if err != nil {
			for _, c := range l.clients {
				_ = c.Close()
			}
			return nil, fmt.Errorf("nodes: %s: %w", n.label, err)
		}
		l.clients = append(l.clients, c)
	}
	p.lanes[name] = l
	return l, nil
}

// Close closes every client of every lane. Calls made after it may dial
// again (a *tron.Client over HTTP stays usable); Run must have returned.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for _, l := range p.lanes {
		for _, c := range l.clients {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Run polls every node's head each health interval until ctx is done, and
// moves reads to another node when the one read from falls behind,
// stalls or fails. It returns nil when ctx is done. Without Run the pool
// still fails over on errors, from what the calls themselves see. With a
// single node it polls nothing: there is no choice to make, and the node
// gets no call it would not get without a pool.
func (p *Pool) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("nodes: Run is already running")
	}
	defer p.running.Store(false)
	if len(p.nodes) == 1 {
		// Nothing to choose from: the reads see what a poll would.
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(p.cfg.HealthInterval)
	defer t.Stop()
	for {
		p.pollDue(ctx, &wg)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p.evaluate()
		p.rounds.Add(1)
	}
}

// pollDue starts a head poll of every node whose head no read saw within
// one and a half intervals, and not polling or resting already: the node
// the follower reads its head from each poll interval gets no poll on top
// of that.
func (p *Pool) pollDue(ctx context.Context, wg *sync.WaitGroup) {
	now := p.cfg.Now()
	fresh := p.cfg.HealthInterval + p.cfg.HealthInterval/2
	for _, n := range p.nodes {
		n.mu.Lock()
		due := !n.polling && now.Sub(n.readAt) >= fresh && !now.Before(n.retryAt)
		if due {
			n.polling = true
		}
		n.mu.Unlock()
		if due {
			wg.Go(func() {
				defer func() {
					n.mu.Lock()
					n.polling = false
					n.mu.Unlock()
				}()
				p.poll(ctx, n)
			})
		}
	}
}

// pollTimeout bounds one head poll: a node slower than that is as good as
// failing for the follower.
func (p *Pool) pollTimeout() time.Duration {
	return max(3*p.cfg.HealthInterval, 2*time.Second)
}

// poll asks n for its head once.
func (p *Pool) poll(ctx context.Context, n *node) {
	ctx, cancel := context.WithTimeout(ctx, p.pollTimeout())
	defer cancel()
	start := time.Now()
	b, err := p.health.clients[n.idx].NowBlock(ctx)
	p.m.observe(n, "poll", time.Since(start))
	if err == nil {
		if verr := verifyBlock(b); verr != nil {
			err = &badDataError{err: verr}
		}
	}
	switch {
	case err == nil:
		n.remember(p.cfg.KeepBlocks, b)
		p.observed(n, b, false)
		p.succeeded(n)
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		// Shutting down: not the node's fault.
	default:
		p.fail(n, "poll", err)
	}
}

// observed records a verified head block of n, which a read (not a poll)
// fetched if read.
func (p *Pool) observed(n *node, b *tron.Block, read bool) {
	now := p.cfg.Now()
	num := b.BlockHeader.RawData.Number
	n.mu.Lock()
	if !n.known || num != n.head {
		n.head, n.headAt = num, now
	}
	n.known = true
	if read {
		n.readAt = now
	}
	n.healthy = min(n.healthy+1, p.cfg.RecoverPolls)
	n.mu.Unlock()
}

// succeeded records a call n answered.
func (p *Pool) succeeded(n *node) {
	n.mu.Lock()
	was := n.failing
	n.failing = false
	n.mu.Unlock()
	if was {
		p.log.Info("tron node answers again", "node", n.label)
		p.evaluate()
	}
}

// fail records a failed call of n and moves reads elsewhere if n was read
// from. A node that served data failing verification is set aside.
func (p *Pool) fail(n *node, call string, err error) {
	now := p.cfg.Now()
	var bad *badDataError
	isBad := errors.As(err, &bad)
	reason := reasonOf(err)
	p.m.errors.WithLabelValues(n.label, reason).Inc()
	msg := clip(err.Error())
	n.mu.Lock()
	n.lastErr = msg
	n.healthy = 0
	wasFailing, wasBad := n.failing, now.Before(n.badUntil)
	if isBad {
		n.badUntil = now.Add(p.cfg.BadFor)
	} else {
		n.failing = true
		if rl, ok := errors.AsType[*tron.RateLimitError](err); ok && rl.RetryAfter > 0 {
			n.retryAt = now.Add(min(rl.RetryAfter, maxRetryAfter))
		}
	}
	n.mu.Unlock()
	switch {
	case isBad:
		p.log.Warn("tron node served data failing verification; setting it aside", "node", n.label, "call", call, "for", p.cfg.BadFor, "reason", msg, "was_bad", wasBad)
	case !wasFailing:
		p.log.Warn("tron node failing", "node", n.label, "call", call, "reason", reason, "err", msg)
	}
	p.evaluate()
}

// maxRetryAfter bounds how long a node's Retry-After keeps it out.
const maxRetryAfter = 30 * time.Second

// view is a node's state at one instant.
type view struct {
	n     *node
	state State
	head  int64
	known bool
	lag   int64
}

// views returns every node's state now, without the selection.
func (p *Pool) views(now time.Time) []view {
	out := make([]view, len(p.nodes))
	var top int64
	for i, n := range p.nodes {
		n.mu.Lock()
		out[i] = view{n: n, head: n.head, known: n.known}
		if n.known && !now.Before(n.badUntil) && n.head > top {
			top = n.head
		}
		n.mu.Unlock()
	}
	for i, n := range p.nodes {
		v := &out[i]
		if v.known {
			v.lag = max(top-v.head, 0)
		}
		n.mu.Lock()
		switch {
		case v.lag == 0:
			n.behindAt = time.Time{}
		case n.behindAt.IsZero():
			n.behindAt = now
		}
		v.state = p.stateLocked(n, now, v.lag)
		n.mu.Unlock()
	}
	return out
}

// stateLocked classifies n, lag blocks behind the highest head; n.mu is
// held.
func (p *Pool) stateLocked(n *node, now time.Time, lag int64) State {
	switch {
	case now.Before(n.badUntil):
		return StateBad
	case n.failing || now.Before(n.retryAt):
		return StateFailing
	case !n.known:
		return StateUnknown
	case lag > int64(p.cfg.MaxLag):
		return StateLagging
	case lag > 0 && now.Sub(later(n.headAt, n.behindAt)) >= p.cfg.StallAfter:
		return StateStalled
	case n.healthy < p.cfg.RecoverPolls:
		return StateRecovering
	case lag > int64(p.cfg.NearLag):
		return StateBehind
	default:
		return StateOK
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// better reports whether a is a better node to read from than b.
func better(a, b view) bool {
	if ra, rb := a.state.rank(), b.state.rank(); ra != rb {
		return ra < rb
	}
	if a.lag != b.lag {
		return a.lag < b.lag
	}
	return a.n.idx < b.n.idx
}

// evaluate classifies the nodes, resets the recovery count of the
// unhealthy ones, updates the metrics and moves reads to a better node if
// the one read from is no longer good.
func (p *Pool) evaluate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	vs := p.views(now)
	for _, v := range vs {
		switch v.state {
		case StateBad, StateFailing, StateStalled, StateLagging:
			v.n.mu.Lock()
			v.n.healthy = 0
			v.n.mu.Unlock()
		}
	}
	cur := vs[p.selected]
	best := cur
	for _, v := range vs {
		if better(v, best) {
			best = v
		}
	}
	// The node read from stays while it is good: a recovered node, or one
	// a block nearer the head, is no reason to move.
	switch {
	case cur.state.rank() == 0:
	case best.state.rank() < cur.state.rank(),
		best.state.rank() == cur.state.rank() && best.lag+int64(p.cfg.NearLag) < cur.lag:
		p.selected = best.n.idx
		p.m.switches.Inc()
		p.log.Warn("tron node switched", "from", cur.n.label, "from_state", string(cur.state), "from_lag", cur.lag,
			"to", best.n.label, "to_state", string(best.state), "to_lag", best.lag)
	}
	for _, v := range vs {
		p.m.set(v, v.n.idx == p.selected)
	}
}

// order returns the nodes in the order a call tries them: the selected
// one, then the others from best to worst.
func (p *Pool) order() []*node {
	if len(p.nodes) == 1 {
		return p.nodes
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	vs := p.views(p.cfg.Now())
	sel := p.selected
	slices.SortFunc(vs, func(a, b view) int {
		switch {
		case a.n.idx == sel:
			return -1
		case b.n.idx == sel:
			return 1
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
	out := make([]*node, len(vs))
	for i, v := range vs {
		out[i] = v.n
	}
	return out
}

// NodeStatus is one node as [Pool.Status] reports it.
type NodeStatus struct {
	// URL is the node's URL without credentials or query.
	URL string `json:"url"`
	// Head is the last head the node reported; 0 before the first.
	Head int64 `json:"head"`
	// Lag is how far Head is behind the highest head of the pool.
	Lag int64 `json:"lag"`
	// State is what the pool thinks of the node.
	State State `json:"state"`
	// Selected is true for the node reads go to first.
	Selected bool `json:"selected"`
	// LastError is the node's last error, empty when none.
	LastError string `json:"last_error,omitempty"`
}

// Status returns every node's state, in the configured order.
func (p *Pool) Status() []NodeStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	vs := p.views(p.cfg.Now())
	out := make([]NodeStatus, len(vs))
	for i, v := range vs {
		v.n.mu.Lock()
		lastErr := v.n.lastErr
		v.n.mu.Unlock()
		st := v.state
		sel := v.n.idx == p.selected
		if sel && st.rank() == 0 {
			st = StateSelected
		}
		out[i] = NodeStatus{URL: v.n.label, Head: v.head, Lag: v.lag, State: st, Selected: sel, LastError: lastErr}
	}
	return out
}

// Usable reports whether at least one node is neither failing nor bad.
func (p *Pool) Usable() bool {
	for _, s := range p.Status() {
		if s.State != StateFailing && s.State != StateBad {
			return true
		}
	}
	return false
}

// Selected returns the URL label of the node reads go to first.
func (p *Pool) Selected() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nodes[p.selected].label
}

// clip shortens s for a log or /readyz, keeping it valid UTF-8.
func clip(s string) string {
	const limit = 300
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}
