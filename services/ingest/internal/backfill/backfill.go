// Package backfill replays the past for subscriptions created with a
// start_block behind the chain follower, then hands them over to live
// delivery with no gap and no duplicate.
//
// # How a backfill runs
//
// The edge stores such a subscription with status "backfilling" and
// backfill {from: start_block, to: 0, done: false}. The subscription
// manager holds it out of live matching (subs.Config.Hold, wired to
// [Runner.Hold]), so the follower delivers nothing to it. A [Runner],
// run by the leading ingest next to the follower, starts one worker per
// backfilling subscription, at most Concurrency at once. A worker:
//
//  1. Reserves a step S: the follower's last committed step when the
//     backfill first started, recorded in its state document (collection
//     [Collection]) so that a restart reuses it. Every backfill event gets
//     cursor {Step: S, Pos: i}, i counting the subscription's backfilled
//     events in chain order from 0. The follower's later steps are all
//     above S, and the subscription had no live delivery at S or before,
//     so every backfill cursor is below every live one it will get.
//  2. Walks the blocks from start_block up to the follower's committed
//     block minus [follow.MaxReorgDepth] (irreversible, so no reorg can
//     ever retract them before the hand-over) in chunks: fetch, decode,
//     match against an index holding this subscription alone, store, then
//     publish, then record the next block and position in its state and
//     the progress (backfill.to, the last block replayed) on the
//     subscription. A crash anywhere redoes the chunk from the recorded
//     state with the same cursors: MongoDB's unique ids and JetStream's
//     Nats-Msg-Id drop the copies.
//     A subscription with finality solidified is walked no further than
//     the follower's solidified level, so none of its events comes before
//     its block is solidified.
//  3. Once close enough, hands over at a step boundary of the follower
//     ([follow.Follower.AtBoundary], so no step commits meanwhile): with P
//     the highest block the follower delivered at the subscription's
//     confirmation level (or at the solidified level), it replays the blocks left up to P (checking
//     their ids against the follower's chain, since these may still be
//     reorganised), records its last backfilled event as the
//     subscription's head ([follow.Boundary.Link], so that its first live
//     event links to it, even after a restart), marks the subscription
//     active with backfill.done true and to P, and installs it in the
//     live matcher. The follower's next
//     steps deliver it blocks above P only: blocks up to P came from the
//     backfill, blocks above from live delivery. From then on a reorg
//     retracts its backfilled events like any live one.
//
// A backfill whose start_block is ahead of the follower waits until the
// follower reaches it, so live delivery never starts before start_block.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
)

// Defaults of [Config]'s zero fields.
const (
	DefaultConcurrency    = 2
	DefaultChunkBlocks    = 20
	DefaultHandoverBlocks = 60
	DefaultScanInterval   = 10 * time.Second
	DefaultRetryInterval  = time.Second
	DefaultMaxBackoff     = 5 * time.Second
)

// Live is the chain follower as the backfill sees it; *follow.Follower
// implements it.
type Live interface {
	// Committed returns the follower's last committed block.
	Committed() int64
	// SolidDelivered returns the highest block the follower delivered to
	// subscriptions with finality solidified.
	SolidDelivered() int64
	// Solidified returns the node's solidified block as the follower last
	// committed it.
	Solidified() int64
	// AtBoundary runs fn between two of the follower's steps.
	AtBoundary(ctx context.Context, fn func(context.Context, follow.Boundary) error) error
}

// Activator installs a subscription in live matching once its backfill
// handed over; *subs.Manager implements it.
type Activator interface {
	// Apply reloads the subscription named by the change from MongoDB.
	Apply(ctx context.Context, ch bus.SubscriptionChange) error
}

// Config configures a [Runner].
type Config struct {
	// Dependencies; all but Fence, Notify, Logger and Registerer are
	// required.

	DB        *mongo.Database
	Node      follow.Node
	Publisher follow.Publisher
	Decoder   *decode.Decoder
	Live      Live
	Subs      Activator
	// Fence, when set, is checked before every chunk is stored, so that
	// a deposed leader stops backfilling. Nil means a single ingest.
	Fence follow.Fence
	// Notify, when set, is told of every subscription handed over, so
	// that other processes (edges, standby ingests) reload it. Nil
	// tells no one; they pick the change up at their next resync.
	Notify func(bus.SubscriptionChange)
	// Logger receives the runner's logs. Nil discards them.
	Logger *slog.Logger
	// Registerer gets the runner's metrics. Nil registers none.
	Registerer prometheus.Registerer

	// Concurrency is how many subscriptions are backfilled at once. Zero
	// means [DefaultConcurrency].
	Concurrency int
	// ChunkBlocks is how many blocks one fetch (and one commit of
	// progress) covers. Zero means [DefaultChunkBlocks].
	ChunkBlocks int
	// HandoverBlocks bounds the blocks replayed during the hand-over,
	// while the follower waits: when more are left, the worker goes on
	// replaying first. Zero means [DefaultHandoverBlocks]; it is raised
	// to MaxReorgDepth+ChunkBlocks if lower.
	HandoverBlocks int
	// ScanInterval is how often MongoDB is scanned for backfilling
	// subscriptions (Hold also wakes the runner at once). Zero means
	// [DefaultScanInterval].
	ScanInterval time.Duration
	// RetryInterval is the first wait after a failure, and the wait
	// while the follower has not reached a backfill's start. Zero means
	// [DefaultRetryInterval].
	RetryInterval time.Duration
	// MaxBackoff bounds the wait between retries. Zero means
	// [DefaultMaxBackoff].
	MaxBackoff time.Duration
}

// Runner runs the backfills. Create it with [New]; [Runner.Hold] is safe
// for concurrent use.
type Runner struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	poke chan struct{}

	// pages writes the subscriptions' history pages.
	pages *store.Pages

	mu      sync.Mutex
	running map[string]bool
}

// New checks cfg and returns a runner. It does no I/O.
func New(cfg Config) (*Runner, error) {
	if cfg.DB == nil || cfg.Node == nil || cfg.Publisher == nil || cfg.Decoder == nil || cfg.Live == nil || cfg.Subs == nil {
		return nil, errors.New("backfill: DB, Node, Publisher, Decoder, Live and Subs are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ChunkBlocks <= 0 {
		cfg.ChunkBlocks = DefaultChunkBlocks
	}
	if cfg.HandoverBlocks <= 0 {
		cfg.HandoverBlocks = DefaultHandoverBlocks
	}
	cfg.HandoverBlocks = max(cfg.HandoverBlocks, follow.MaxReorgDepth+cfg.ChunkBlocks)
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = DefaultScanInterval
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	return &Runner{
		cfg: cfg, log: cfg.Logger, m: newMetrics(cfg.Registerer), pages: store.NewPages(cfg.DB),
		poke: make(chan struct{}, 1), running: map[string]bool{},
	}, nil
}

// Hold reports whether s must be held out of live matching: while it
// backfills. It also wakes the runner, so that a new backfill starts
// without waiting for the next scan. Pass it as subs.Config.Hold; a nil
// Runner holds the same subscriptions, so subscriptions may be loaded
// before the runner exists.
func (r *Runner) Hold(s *subscription.Subscription) bool {
	if s.Status != subscription.StatusBackfilling {
		return false
	}
	if r == nil {
		return true
	}
	select {
	case r.poke <- struct{}{}:
	default:
	}
	return true
}

// Run starts a worker for every backfilling subscription, now and at each
// scan, until ctx is done; it then waits for the workers and returns nil.
// Run it only on the leading ingest, next to the follower.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, r.cfg.Concurrency)
	t := time.NewTicker(r.cfg.ScanInterval)
	defer t.Stop()
	for {
		ids, err := r.scan(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("scan for backfills", "err", err)
		}
		for _, id := range ids {
			if !r.claim(id) {
				continue
			}
			wg.Go(func() {
				defer r.release(id)
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				defer func() { <-sem }()
				r.m.active.Inc()
				defer r.m.active.Dec()
				if err := r.backfill(ctx, id); err != nil && ctx.Err() == nil {
					r.m.failures.Inc()
					r.log.Error("backfill", "subscription_id", id, "err", err)
				}
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.poke:
		case <-t.C:
		}
	}
}

func (r *Runner) claim(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[id] {
		return false
	}
	r.running[id] = true
	return true
}

func (r *Runner) release(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running, id)
}

// scan returns the ids of the backfilling subscriptions.
func (r *Runner) scan(ctx context.Context) ([]string, error) {
	cur, err := r.cfg.DB.Collection(store.Subscriptions).Find(ctx,
		bson.M{"status": subscription.StatusBackfilling},
		options.Find().SetProjection(bson.M{"_id": 1}).SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("backfill: scan: %w", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("backfill: scan: %w", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
