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

// bulkReload is how many changed subscriptions a resync reloads one at a
// time; past it, it reads every subscription and address entry in one
// scan of each collection. Reading one address set costs FerretDB a
// decode of every entry stored, so the first load of 100,000
// subscriptions one at a time would take days there; on MongoDB it would
// take 200,000 round trips.
const bulkReload = 256

// Resync compares every live subscription's version in MongoDB with the
// one held, reloads those that differ, and drops those gone or deleted.
// Address sets are only read for subscriptions that changed, so a resync
// of an unchanged set reads one small document per subscription.
func (m *Manager) Resync(ctx context.Context) error {
	coll := m.cfg.DB.Collection(store.Subscriptions)
	cur, err := coll.Find(ctx, liveFilter(), options.Find().SetProjection(bson.M{"_id": 1, "version": 1}))
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
	var changed []string
	for _, d := range docs {
		live[d.ID] = true
		if v, ok := m.versions[d.ID]; !ok || v != d.Version {
			changed = append(changed, d.ID)
		}
	}
	if len(changed) > bulkReload {
		if err := m.reloadAllLocked(ctx, changed); err != nil {
			return err
		}
	} else {
		for _, id := range changed {
			if err := m.reloadLocked(ctx, id); err != nil {
				return err
			}
		}
	}
	for id := range m.versions {
		if !live[id] {
			m.drop(id)
		}
	}
	return nil
}

// liveFilter selects the subscriptions that are not tombstones.
func liveFilter() bson.M { return bson.M{"status": bson.M{"$ne": subscription.StatusDeleted}} }

// reloadAllLocked reloads the subscriptions ids like reloadLocked, from
// one read of every live subscription and one of every address entry.
func (m *Manager) reloadAllLocked(ctx context.Context, ids []string) error {
	want := make(map[string]*subscription.Subscription, len(ids))
	for _, id := range ids {
		want[id] = nil
	}
	cur, err := m.cfg.DB.Collection(store.Subscriptions).Find(ctx, liveFilter())
	if err != nil {
		return fmt.Errorf("subs: load subscriptions: %w", err)
	}
	for cur.Next(ctx) {
		var sub subscription.Subscription
		if err := cur.Decode(&sub); err != nil {
			_ = cur.Close(ctx)
			return fmt.Errorf("subs: load subscriptions: %w", err)
		}
		if _, ok := want[sub.ID]; ok {
			want[sub.ID] = &sub
		}
	}
	if err := closeCursor(ctx, cur); err != nil {
		return fmt.Errorf("subs: load subscriptions: %w", err)
	}
	// Address sets only of the subscriptions that take part in matching.
	matching := make(map[string]bool, len(want))
	for id, sub := range want {
		switch {
		case sub == nil:
			m.drop(id) // gone or deleted since the versions were read
		case m.cfg.Hold != nil && m.cfg.Hold(sub):
			m.install(sub, nil, true)
		default:
			matching[id] = true
		}
	}
	// In _id order, which MongoDB serves from the primary key. An entry's
	// _id starts with its subscription's, so each set comes in one run
	// and is installed when it ends: one set at a time is held here. A
	// set that came in several runs would be completed by the later ones.
	cur, err = m.cfg.DB.Collection(store.SubscriptionAddresses).Find(ctx, bson.M{},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(bson.M{"subscription_id": 1, "address": 1}))
	if err != nil {
		return fmt.Errorf("subs: load address sets: %w", err)
	}
	installed := make(map[string]bool, len(matching))
	var (
		runID  string
		runSet []tron.Address
	)
	endRun := func() {
		switch {
		case runID == "":
		case installed[runID]:
			m.ix.AddAddresses(runID, runSet)
			m.gen.Add(1)
		default:
			m.install(want[runID], runSet, false)
			installed[runID] = true
		}
		runID, runSet = "", nil
	}
	for cur.Next(ctx) {
		var d struct {
			SubscriptionID string `bson:"subscription_id"`
			Address        string `bson:"address"`
		}
		if err := cur.Decode(&d); err != nil {
			_ = cur.Close(ctx)
			return fmt.Errorf("subs: load address sets: %w", err)
		}
		if !matching[d.SubscriptionID] {
			continue
		}
		if d.SubscriptionID != runID {
			endRun()
			runID = d.SubscriptionID
		}
		if a, err := tron.ParseAddress(d.Address); err == nil {
			runSet = append(runSet, a)
		}
	}
	if err := closeCursor(ctx, cur); err != nil {
		return fmt.Errorf("subs: load address sets: %w", err)
	}
	endRun()
	for id := range matching {
		if !installed[id] {
			m.install(want[id], nil, false) // no address: contracts, kinds or all
		}
	}
	return nil
}

// closeCursor closes cur and returns the error that ended its iteration,
// if any.
func closeCursor(ctx context.Context, cur *mongo.Cursor) error {
	err := cur.Err()
	_ = cur.Close(ctx)
	return err
}

// reloadLocked reads a subscription and its address set and installs them.
func (m *Manager) reloadLocked(ctx context.Context, id string) error {
	var sub subscription.Subscription
	err := m.cfg.DB.Collection(store.Subscriptions).FindOne(ctx, bson.M{"_id": id}).Decode(&sub)
	if errors.Is(err, mongo.ErrNoDocuments) || err == nil && sub.Status == subscription.StatusDeleted {
		m.drop(id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("subs: load %s: %w", id, err)
	}
	if m.cfg.Hold != nil && m.cfg.Hold(&sub) {
		m.install(&sub, nil, true)
		return nil
	}
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
	if err := closeCursor(ctx, cur); err != nil {
		return fmt.Errorf("subs: addresses of %s: %w", id, err)
	}
	m.install(&sub, addrs, false)
	return nil
}

// drop forgets a subscription.
func (m *Manager) drop(id string) {
	m.ix.Delete(id)
	delete(m.versions, id)
	delete(m.held, id)
	m.gen.Add(1)
}

// install puts a subscription read from MongoDB in place with its address
// set, or holds it out of matching (its version tracked) when held.
func (m *Manager) install(sub *subscription.Subscription, addrs []tron.Address, held bool) {
	if held {
		m.ix.Delete(sub.ID)
		m.versions[sub.ID] = sub.Version
		m.held[sub.ID] = true
		m.gen.Add(1)
		return
	}
	delete(m.held, sub.ID)
	if err := m.ix.Upsert(sub, addrs); err != nil {
		// A malformed document must not stop the others; it is
		// retried at the next resync because its version is not held.
		m.log.Error("subscription refused", "id", sub.ID, "err", err)
		return
	}
	m.versions[sub.ID] = sub.Version
	m.gen.Add(1)
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
		m.drop(ch.SubscriptionID)
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
