package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mongotron/mongotron/pkg/bus"
)

// A stream connect needs to know only that its subscription exists, is not
// deleted and is the caller's: none of that changes but by a delete. The
// edge keeps those three facts in memory, so that a reconnect storm (every
// client of an edge that restarted, all at once) costs no MongoDB round
// trip per client, and streams of known subscriptions still connect while
// MongoDB is away.
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
}

func newSubCache(now func() time.Time) *subCache {
	return &subCache{now: now, age: subCacheAge, m: map[string]subEntry{}}
}

// lookup reports what is known of id: found is false when nothing fresh is.
func (c *subCache) lookup(id string) (e subEntry, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || c.now().Sub(e.at) > c.age {
		return subEntry{}, false
	}
	return e, true
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
// messages on NATS until ctx ends; it returns nil then.
func (a *API) Run(ctx context.Context) error {
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
	<-ctx.Done()
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("api: unsubscribe: %w", err)
	}
	return nil
}

// Resync drops what the API remembers of subscriptions, so that the next
// stream connect of each reads MongoDB again. Call it after a NATS
// reconnect: delete messages may have gone by while it was away.
func (a *API) Resync() { a.subCache.forget() }
