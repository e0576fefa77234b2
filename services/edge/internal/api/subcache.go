package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// A stream connect needs to know only that its subscription exists, is not
// deleted and is the caller's: none of that changes but by a delete. The
// edge keeps those three facts in memory, so that a reconnect storm (every
// client of an edge that restarted, all at once) costs no MongoDB round
// trip per client, and streams of known subscriptions still connect while
// MongoDB is away.
//
// The cache is filled at start with every live subscription in one read
// (warmSubCache): a restarted edge meets its clients' reconnect storm
// with nothing cached, and without it each subscription's first
// connects would read MongoDB, all together.
//
// The facts are kept current by the delete messages on NATS (from this
// edge and every other), and resynced by forgetting everything after a
// NATS reconnect (a delete may have gone by meanwhile) and by an age limit
// on each entry. A missed delete can therefore let a stream of a deleted
// subscription open for at most that long; it receives nothing, since the
// ingest matches no event for it, and is closed by the NATS-reconnect
// recheck of open streams.

// Defaults of the subscription cache.
const (
	// subCacheAge bounds how long a cached subscription is trusted
	// without a fresh read.
	subCacheAge = 5 * time.Minute
	// maxSubCache bounds the entries; past it the cache starts over.
	maxSubCache = 1 << 20
	// maxWarmWait bounds how long a connect of a subscription not cached
	// waits for the warm-up to finish before it reads MongoDB itself.
	maxWarmWait = 5 * time.Second
)

type subEntry struct {
	tenant  string
	deleted bool
	at      time.Time
}

// subCache remembers which subscriptions exist and whose they are.
type subCache struct {
	now func() time.Time
	age time.Duration

	mu sync.Mutex
	m  map[string]subEntry
	// warming is closed when the warm-up ends; nil when none runs.
	warming chan struct{}
}

func newSubCache(now func() time.Time) *subCache {
	return &subCache{now: now, age: subCacheAge, m: map[string]subEntry{}}
}

// lookup reports what is known of id: found is false when nothing fresh is.
// While the warm-up runs, a miss waits for it (up to maxWarmWait): the
// storm that meets a restarted edge would otherwise read MongoDB once per
// client, crowding out the warm-up's own read.
func (c *subCache) lookup(id string) (e subEntry, found bool) {
	e, found, warming := c.get(id)
	if found || warming == nil {
		return e, found
	}
	t := time.NewTimer(maxWarmWait)
	defer t.Stop()
	select {
	case <-warming:
	case <-t.C:
	}
	e, found, _ = c.get(id)
	return e, found
}

func (c *subCache) get(id string) (e subEntry, found bool, warming chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || c.now().Sub(e.at) > c.age {
		return subEntry{}, false, c.warming
	}
	return e, true, nil
}

// startWarm marks a warm-up as running; call the returned func when it
// ends, however it ends.
func (c *subCache) startWarm() (done func()) {
	ch := make(chan struct{})
	c.mu.Lock()
	c.warming = ch
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		if c.warming == ch {
			c.warming = nil
		}
		c.mu.Unlock()
		close(ch)
	}
}

// alive records that id exists and is tenant's. A deletion already known
// wins: the read that found the subscription may predate it.
func (c *subCache) alive(id, tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok && e.deleted {
		return
	}
	if len(c.m) >= maxSubCache {
		c.m = map[string]subEntry{}
	}
	c.m[id] = subEntry{tenant: tenant, at: c.now()}
}

// deleted records that id is gone for good (ids are never reused).
func (c *subCache) deleted(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxSubCache {
		c.m = map[string]subEntry{}
	}
	c.m[id] = subEntry{deleted: true, at: c.now()}
}

// forget drops everything, for a resync.
func (c *subCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = map[string]subEntry{}
}

// Run keeps the API's cache of subscriptions current from the change
// messages on NATS, and drops the address sets of deleted subscriptions,
// until ctx ends; it returns nil then.
func (a *API) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { a.dropLoop(ctx) })
	defer wg.Wait()
	sub, err := a.cfg.NATS.Subscribe(bus.SubscriptionsSubject, func(m *nats.Msg) {
		var ch bus.SubscriptionChange
		if err := json.Unmarshal(m.Data, &ch); err != nil {
			a.cfg.Logger.Warn("bad subscription change message", "err", err)
			return
		}
		if ch.Op == bus.OpDelete {
			a.subCache.deleted(ch.SubscriptionID)
		}
	})
	if err != nil {
		return fmt.Errorf("api: subscribe %s: %w", bus.SubscriptionsSubject, err)
	}
	// After the subscribe: a delete from now on wins over what the read
	// finds.
	warmed := a.subCache.startWarm()
	err = a.warmSubCache(ctx)
	warmed()
	if err != nil && ctx.Err() == nil {
		a.cfg.Logger.Warn("subscription cache not warmed; stream connects read MongoDB", "err", err)
	}
	<-ctx.Done()
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("api: unsubscribe: %w", err)
	}
	return nil
}

// maxSubCacheWarm bounds what warmSubCache loads, leaving the cache room
// to grow before it starts over.
const maxSubCacheWarm = maxSubCache / 2

// warmSubCache loads every live subscription's id and tenant in one read.
// An edge that has just started is met by the reconnect storm of all its
// clients: without this, the first connects of every subscription each
// read MongoDB, concurrently, before any of them has filled the cache
// (ten clients of a subscription arriving together make ten reads).
func (a *API) warmSubCache(ctx context.Context) error {
	start := a.cfg.Now()
	cur, err := a.subs().Find(ctx, bson.M{"status": bson.M{"$ne": subscription.StatusDeleted}},
		options.Find().SetProjection(bson.M{"_id": 1, "tenant": 1}).SetBatchSize(10_000))
	if err != nil {
		return fmt.Errorf("api: warm the subscription cache: %w", err)
	}
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	n := 0
	for n < maxSubCacheWarm && cur.Next(ctx) {
		var d struct {
			ID     string `bson:"_id"`
			Tenant string `bson:"tenant"`
		}
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("api: warm the subscription cache: %w", err)
		}
		a.subCache.alive(d.ID, d.Tenant)
		n++
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("api: warm the subscription cache: %w", err)
	}
	a.cfg.Logger.Info("subscription cache warmed", "subscriptions", n, "took", a.cfg.Now().Sub(start))
	return nil
}

// Resync drops what the API remembers of subscriptions, so that the next
// stream connect of each reads MongoDB again. Call it after a NATS
// reconnect: delete messages may have gone by while it was away.
func (a *API) Resync() { a.subCache.forget() }
