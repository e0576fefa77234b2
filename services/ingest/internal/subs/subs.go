// Package subs keeps the ingest's in-memory subscriptions in step with
// MongoDB: a full load at start, NATS control messages as they come, and a
// periodic resync (and one on every NATS reconnect) that heals any message
// missed.
package subs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/ingest/internal/match"
)

// DefaultResyncInterval is how often the whole set is checked against
// MongoDB unless configured.
const DefaultResyncInterval = 30 * time.Second

// Config configures a [Manager].
type Config struct {
	// DB is the database holding the subscriptions. Required.
	DB *mongo.Database
	// Logger receives the manager's logs. Nil discards them.
	Logger *slog.Logger
	// ResyncInterval is how often the set is checked against MongoDB.
	// Zero means [DefaultResyncInterval].
	ResyncInterval time.Duration

	// Hold is asked about every subscription loaded; one it returns true
	// for is held out of matching (its version is still tracked) until a
	// later load is not held. The ingest holds backfilling subscriptions
	// so that live delivery to them starts only when their backfill hands
	// over. Nil holds nothing.
	Hold func(*subscription.Subscription) bool
}

// Manager holds the subscriptions in a match index; it implements
// [follow.Matcher].
type Manager struct {
	cfg Config
	log *slog.Logger
	ix  *match.Index
	gen atomic.Uint64

	// reconnected wakes Run for a resync after a NATS reconnect; capacity 1.
	reconnected chan struct{}

	mu       sync.Mutex
	versions map[string]int64 // held version by subscription id
	held     map[string]bool  // subscriptions Config.Hold kept out of the index
}

// New returns an empty manager; call [Manager.Resync] to load it.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	return &Manager{cfg: cfg, log: cfg.Logger, ix: match.New(), versions: map[string]int64{}, held: map[string]bool{}, reconnected: make(chan struct{}, 1)}
}

// Reconnected tells Run that the NATS connection came back (wire it to the
// connection's reconnect handler): control messages published while it
// was down were lost, so Run resyncs at once.
func (m *Manager) Reconnected() {
	select {
	case m.reconnected <- struct{}{}:
	default:
	}
}

// Match implements [follow.Matcher].
func (m *Manager) Match(e *event.Event, fn func(follow.Match)) {
	m.ix.Match(e, func(x match.Match) {
		fn(follow.Match{
			SubscriptionID: x.SubscriptionID, Confirmations: x.Confirmations,
			Watched: x.Watched, Direction: x.Direction,
			Solidified: x.Solidified, Lookalike: x.Lookalike,
		})
	})
}

// Generation implements [follow.Matcher].
func (m *Manager) Generation() uint64 { return m.gen.Load() }

// Len returns how many subscriptions are held.
func (m *Manager) Len() int { return m.ix.Len() }

// Resync compares every live subscription's version in MongoDB with the
// one held, reloads those that differ, and drops those gone or deleted.
// Address sets are only read for subscriptions that changed, so a resync
// of an unchanged set reads one small document per subscription.
func (m *Manager) Resync(ctx context.Context) error {
	coll := m.cfg.DB.Collection(store.Subscriptions)
	cur, err := coll.Find(ctx, bson.M{"status": bson.M{"$ne": subscription.StatusDeleted}},
		options.Find().SetProjection(bson.M{"_id": 1, "version": 1}))
	if err != nil {
		return fmt.Errorf("subs: resync: %w", err)
	}
	var docs []struct {
		ID      string `bson:"_id"`
		Version int64  `bson:"version"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("subs: resync: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	live := make(map[string]bool, len(docs))
	for _, d := range docs {
		live[d.ID] = true
		if v, ok := m.versions[d.ID]; ok && v == d.Version {
			continue
		}
		if err := m.reloadLocked(ctx, d.ID); err != nil {
			return err
		}
	}
	for id := range m.versions {
		if !live[id] {
			m.ix.Delete(id)
			delete(m.versions, id)
			delete(m.held, id)
			m.gen.Add(1)
		}
	}
	return nil
}

// reloadLocked reads a subscription and its address set and installs them.
func (m *Manager) reloadLocked(ctx context.Context, id string) error {
	var sub subscription.Subscription
	err := m.cfg.DB.Collection(store.Subscriptions).FindOne(ctx, bson.M{"_id": id}).Decode(&sub)
	if errors.Is(err, mongo.ErrNoDocuments) || err == nil && sub.Status == subscription.StatusDeleted {
		m.ix.Delete(id)
		delete(m.versions, id)
		delete(m.held, id)
		m.gen.Add(1)
		return nil
	}
	if err != nil {
		return fmt.Errorf("subs: load %s: %w", id, err)
	}
	if m.cfg.Hold != nil && m.cfg.Hold(&sub) {
		m.ix.Delete(id)
		m.versions[id] = sub.Version
		m.held[id] = true
		m.gen.Add(1)
		return nil
	}
	delete(m.held, id)
	cur, err := m.cfg.DB.Collection(store.SubscriptionAddresses).Find(ctx, bson.M{"subscription_id": id},
		options.Find().SetProjection(bson.M{"address": 1}))
	if err != nil {
		return fmt.Errorf("subs: addresses of %s: %w", id, err)
	}
	var addrs []tron.Address
	for cur.Next(ctx) {
		var d struct {
			Address string `bson:"address"`
		}
		if err := cur.Decode(&d); err != nil {
			_ = cur.Close(ctx)
			return fmt.Errorf("subs: addresses of %s: %w", id, err)
		}
		if a, err := tron.ParseAddress(d.Address); err == nil {
			addrs = append(addrs, a)
		}
	}
	if err := cur.Err(); err != nil {
		_ = cur.Close(ctx)
		return fmt.Errorf("subs: addresses of %s: %w", id, err)
	}
	_ = cur.Close(ctx)
	if err := m.ix.Upsert(&sub, addrs); err != nil {
		// A malformed document must not stop the others; it is
		// retried at the next resync because its version is not held.
		m.log.Error("subscription refused", "id", id, "err", err)
		return nil
	}
	m.versions[id] = sub.Version
	m.gen.Add(1)
	return nil
}

// Apply applies one control message.
func (m *Manager) Apply(ctx context.Context, ch bus.SubscriptionChange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	held, ok := m.versions[ch.SubscriptionID]
	if ok && ch.Version <= held {
		return nil // late or repeated
	}
	switch ch.Op {
	case bus.OpDelete:
		m.ix.Delete(ch.SubscriptionID)
		delete(m.versions, ch.SubscriptionID)
		delete(m.held, ch.SubscriptionID)
		m.gen.Add(1)
		return nil
	case bus.OpAddresses:
		// A delta applies only on top of the version just before it;
		// after a gap, or when no delta is given, reload everything.
		if !ok || m.held[ch.SubscriptionID] || ch.Version != held+1 || len(ch.Added) == 0 && len(ch.Removed) == 0 {
			return m.reloadLocked(ctx, ch.SubscriptionID)
		}
		m.ix.AddAddresses(ch.SubscriptionID, parseAll(ch.Added))
		m.ix.RemoveAddresses(ch.SubscriptionID, parseAll(ch.Removed))
		m.versions[ch.SubscriptionID] = ch.Version
		m.gen.Add(1)
		return nil
	default: // upsert, and anything newer we do not know: re-read
		return m.reloadLocked(ctx, ch.SubscriptionID)
	}
}

func parseAll(ss []string) []tron.Address {
	out := make([]tron.Address, 0, len(ss))
	for _, s := range ss {
		if a, err := tron.ParseAddress(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// Run applies control messages from nc and resyncs periodically and after
// every reconnect ([Manager.Reconnected]), until ctx is done. The first
// resync must have been done by the caller.
func (m *Manager) Run(ctx context.Context, nc *nats.Conn) error {
	msgs := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(bus.SubscriptionsSubject, msgs)
	if err != nil {
		return fmt.Errorf("subs: subscribe: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	t := time.NewTicker(m.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg := <-msgs:
			var ch bus.SubscriptionChange
			if err := json.Unmarshal(msg.Data, &ch); err != nil {
				m.log.Warn("bad control message", "err", err)
				continue
			}
			if err := m.Apply(ctx, ch); err != nil {
				m.log.Warn("control message", "id", ch.SubscriptionID, "err", err)
			}
		case <-m.reconnected:
			m.resync(ctx)
		case <-t.C:
			m.resync(ctx)
		}
	}
}

func (m *Manager) resync(ctx context.Context) {
	if err := m.Resync(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("resync", "err", err)
	}
}
