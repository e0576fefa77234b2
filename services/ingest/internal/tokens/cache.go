// Package tokens gives the ingest's decoder the metadata of every TRC20
// token: symbol, name and decimals, from memory and without ever making a
// block wait.
//
// A [Cache] answers [tron.TokenLookup] from memory: first the network's
// built-in table, which nothing a contract says of itself overrides (a
// fake "USDT" elsewhere gets an entry of its own, never the table's);
// then what earlier resolutions found. A contract it does not know yet is
// answered as unknown (decimals -1, never a guess of 18 or 0) and queued,
// and [Cache.Run] resolves it in the background: it asks the contract for
// decimals(), symbol() and name() through a [tron.TokenResolver], at most
// Concurrency contracts at once and once per contract however many logs
// of it arrive meanwhile, then keeps the answer in memory and in MongoDB
// ([Collection]), from where the next start loads it.
//
// Answers are refreshed rarely (RefreshInterval, 7 days). A resolution
// that fails, and a contract that answers no decimals(), are retried
// later with a doubling backoff. A node that fails or hangs costs
// resolutions only: the queue is bounded, a lookup that finds it full
// queues nothing, and no lookup ever waits for the node or MongoDB.
package tokens

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/tron"
)

// Cache is the token metadata of the ingest. Create it with [New]; it
// implements [tron.TokenLookup], and [Cache.Run] resolves what it does
// not know. It is safe for concurrent use.
type Cache struct {
	cfg      Config
	coll     *mongo.Collection // nil: memory only
	resolver *tron.TokenResolver
	table    tron.StaticTokens
	logger   *slog.Logger
	m        *metrics
	queue    chan tron.Address
	wake     chan struct{} // a new entry to write; capacity 1
	// retryWrite is the wait after a failed write.
	retryWrite time.Duration

	running atomic.Bool
	loaded  atomic.Bool
	loadMu  sync.Mutex // serialises Load

	mu      sync.RWMutex
	entries map[tron.Address]*entry
	// pending holds the contracts in the queue or being resolved: they
	// are not queued again.
	pending map[tron.Address]struct{}
	// dirty holds the entries to write to MongoDB, the newest state of
	// each contract.
	dirty map[tron.Address]*entry
}

// entry is what the cache knows of one contract. An entry is never
// modified once shared: an update replaces it.
type entry struct {
	info tron.TokenInfo
	// ok is what Token answers: the contract answered, with decimals
	// or at least a symbol.
	ok       bool
	resolved time.Time // the last answer; zero while none
	checked  time.Time // the last attempt
	next     time.Time // when to ask again
	failures int       // attempts without decimals since the last with
	lastErr  string
}

func (e *entry) setOK() {
	e.ok = !e.resolved.IsZero() && (e.info.Decimals >= 0 || e.info.Symbol != "")
}

// unknown is the answer for a contract whose decimals are not known.
var unknown = tron.TokenInfo{Decimals: -1}

// errNoDecimals is the last error of a contract that answered without
// decimals().
var errNoDecimals = errors.New("no decimals()")

// New returns a cache for cfg and registers its metrics. It loads and
// resolves nothing until [Cache.Load] or [Cache.Run] is called.
func New(cfg Config) *Cache {
	cfg = cfg.withDefaults()
	c := &Cache{
		cfg:        cfg,
		table:      tron.WellKnownTokens(cfg.Network),
		logger:     cfg.Logger,
		queue:      make(chan tron.Address, cfg.QueueSize),
		wake:       make(chan struct{}, 1),
		retryWrite: defaultRetryWrite,
		entries:    make(map[tron.Address]*entry),
		pending:    make(map[tron.Address]struct{}),
		dirty:      make(map[tron.Address]*entry),
	}
	if cfg.DB != nil {
		c.coll = cfg.DB.Collection(Collection)
	}
	c.m = newMetrics(cfg.Registerer, c)
	var node tron.ConstantCaller
	if cfg.Node != nil {
		node = countingCaller{next: cfg.Node, m: c.m}
	}
	c.resolver = tron.NewTokenResolver(tron.TokenResolverConfig{
		Client: node, Network: cfg.Network, FetchName: !cfg.SkipName,
		NoCache: true, MaxConcurrent: cfg.Concurrency,
	})
	return c
}

// Token implements [tron.TokenLookup] from memory, without waiting for
// anything: the built-in table, then what earlier resolutions found. A
// contract never resolved, or whose refresh is due, is queued for
// [Cache.Run]; meanwhile the first answers unknown (Decimals -1, ok
// false) and the second its last answer. A contract that answered a
// symbol but no decimals() answers ok with Decimals -1.
func (c *Cache) Token(a tron.Address) (tron.TokenInfo, bool) {
	if t, ok := c.table[a]; ok {
		c.m.hit.Inc()
		return t, true
	}
	c.mu.RLock()
	e := c.entries[a]
	_, queued := c.pending[a]
	c.mu.RUnlock()
	if !queued && (e == nil || !c.cfg.Now().Before(e.next)) {
		c.enqueue(a)
	}
	if e == nil || !e.ok {
		c.m.miss.Inc()
		return unknown, false
	}
	c.m.hit.Inc()
	return e.info, true
}

// enqueue queues a for resolution unless it is queued already or the
// queue is full. It never waits.
func (c *Cache) enqueue(a tron.Address) {
	if len(c.queue) >= cap(c.queue) {
		c.m.queueFull.Inc()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[a]; ok {
		return
	}
	select {
	case c.queue <- a:
		c.pending[a] = struct{}{}
	default:
		c.m.queueFull.Inc()
	}
}

// Len returns how many contracts the cache holds in memory, the built-in
// table aside.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// Run loads [Collection] (retrying while MongoDB fails), then resolves
// the queued contracts and writes the answers to MongoDB until ctx is
// done. It returns nil then; its only error is a second Run while one
// runs. Contracts left in the queue are resolved by the next Run.
func (c *Cache) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errRunning
	}
	defer c.running.Store(false)
	if !c.loadRetrying(ctx) {
		return nil
	}
	var wg sync.WaitGroup
	if c.coll != nil {
		wg.Go(func() { c.writeLoop(ctx) })
	}
	for range c.cfg.Concurrency {
		wg.Go(func() { c.work(ctx) })
	}
	wg.Wait()
	if c.coll != nil {
		// What was resolved last, if MongoDB still answers.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		c.flush(fctx)
	}
	return nil
}

// loadRetrying runs Load until it succeeds (true) or ctx is done (false).
func (c *Cache) loadRetrying(ctx context.Context) bool {
	const maxWait = 30 * time.Second
	wait := time.Second
	for {
		err := c.Load(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.m.storeErrors.WithLabelValues("load").Inc()
		c.logger.Warn("tokens: loading from MongoDB; retrying", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// work resolves queued contracts until ctx is done.
func (c *Cache) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-c.queue:
			c.resolve(ctx, a)
		}
	}
}

// resolve brings a up to date: from memory if it was resolved meanwhile,
// from MongoDB if it is not in memory (evicted, or resolved by another
// ingest), else from the node.
func (c *Cache) resolve(ctx context.Context, a tron.Address) {
	c.mu.RLock()
	old := c.entries[a]
	c.mu.RUnlock()
	if old != nil && c.cfg.Now().Before(old.next) {
		c.finish(a, nil, false)
		return
	}
	if old == nil && c.coll != nil {
		e, err := c.read(ctx, a)
		switch {
		case err != nil && ctx.Err() == nil:
			c.m.storeErrors.WithLabelValues("read").Inc()
			c.logger.Debug("tokens: reading from MongoDB; asking the node", "token", a.String(), "err", err)
		case e != nil && c.cfg.Now().Before(e.next):
			c.finish(a, e, false)
			return
		case e != nil:
			old = e
		}
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	info, err := c.resolver.Resolve(rctx, a)
	cancel()
	if err != nil && ctx.Err() != nil {
		// Stopping: that says nothing of the token.
		c.finish(a, nil, false)
		return
	}
	e, result := c.update(old, info, err, c.cfg.Now())
	c.m.resolutions.WithLabelValues(result).Inc()
	if err != nil {
		c.logger.Debug("tokens: resolution failed", "token", a.String(), "err", err, "retry_at", e.next)
	}
	c.finish(a, e, c.coll != nil)
}

// update returns the entry following old after a resolution that gave
// info and err at now, and the resolution's result for the metrics.
func (c *Cache) update(old *entry, info tron.TokenInfo, err error, now time.Time) (*entry, string) {
	e := &entry{info: unknown}
	if old != nil {
		*e = *old
	}
	e.checked = now
	result := "ok"
	switch {
	case err != nil:
		result = "error"
		e.failures++
		e.lastErr = err.Error()
		e.next = now.Add(c.backoff(c.cfg.RetryInterval, e.failures))
	case info.Decimals < 0:
		result = "unknown"
		e.failures++
		e.lastErr = errNoDecimals.Error()
		e.next = now.Add(c.backoff(c.cfg.UnknownRetryInterval, e.failures))
		// Decimals a contract once answered are kept over a later
		// silence, which may be a passing failure of the node.
		if old == nil || old.resolved.IsZero() || old.info.Decimals < 0 {
			e.info, e.resolved = info, now
		}
	default:
		e.info, e.resolved = info, now
		e.failures, e.lastErr = 0, ""
		e.next = now.Add(c.cfg.RefreshInterval)
	}
	e.setOK()
	return e, result
}

// backoff is base doubled for each failure after the first, at most
// MaxRetryInterval.
func (c *Cache) backoff(base time.Duration, failures int) time.Duration {
	d := min(base, c.cfg.MaxRetryInterval)
	for i := 1; i < failures && d < c.cfg.MaxRetryInterval; i++ {
		d = min(2*d, c.cfg.MaxRetryInterval)
	}
	return d
}

// finish ends a's resolution: it installs e, if not nil, and queues it
// for MongoDB if store is set.
func (c *Cache) finish(a tron.Address, e *entry, store bool) {
	c.mu.Lock()
	if e != nil {
		c.put(a, e)
		if store {
			c.dirty[a] = e
		}
	}
	delete(c.pending, a)
	c.mu.Unlock()
	if store {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// put installs e as a's entry, making room if the cache is full. The
// caller holds c.mu for writing.
func (c *Cache) put(a tron.Address, e *entry) {
	if _, ok := c.entries[a]; !ok && len(c.entries) >= c.cfg.MaxEntries {
		// Map iteration starts at a random place: a random victim.
		for victim := range c.entries {
			delete(c.entries, victim)
			break
		}
	}
	c.entries[a] = e
}
