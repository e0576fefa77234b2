// Package follow follows the Tron chain for the ingest: it fetches blocks
// (concurrently while catching up), decodes them, delivers each matched
// event to its subscription once its block has the subscription's number of
// confirmations, retracts delivered events a reorg removed, and commits
// strictly in block order: events to MongoDB, then to JetStream, then the
// checkpoint. Every step is deterministic from the checkpoint, so redoing
// one after a crash writes and publishes exactly the same documents and
// messages, which MongoDB's unique ids and JetStream's de-duplication drop.
//
// Each block is one step. While catching up, the blocks already fetched
// are committed in groups: one bulk insert, one pipelined publish and one
// checkpoint for up to [DefaultGroupBlocks] steps, which is where the
// round trips of a step went. A group changes no step, cursor or
// document, so how blocks were grouped (or regrouped by a redo) never
// shows. At the head a block goes out alone, as soon as it is seen.
package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/backoff"
	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Defaults of [Config]'s zero fields.
const (
	DefaultPollInterval  = time.Second
	DefaultConcurrency   = 4
	DefaultChunkBlocks   = 10
	DefaultMaxBatch      = 500
	DefaultMinBackoff    = 50 * time.Millisecond
	DefaultMaxBackoff    = 5 * time.Second
	DefaultCommitTimeout = 30 * time.Second
	// DefaultGroupBlocks and DefaultGroupDeliveries bound a group commit
	// while catching up: a persist of 64 blocks costs about what one of a
	// single block does, and 20,000 deliveries stay well under MongoDB's
	// 48 MB message and JetStream's pending publish limit.
	DefaultGroupBlocks     = 64
	DefaultGroupDeliveries = 20_000
	// MaxReorgDepth is the deepest reorg the follower applies: deeper
	// would retract solidified (19-confirmation) events.
	MaxReorgDepth = levels - 1
	// keepBlocks is how much of the recent chain stays in memory and in
	// store.Blocks: enough to walk back MaxReorgDepth and to deliver at
	// every confirmation level.
	keepBlocks = 2 * levels
	// maxRetryAfter bounds how long a node's Retry-After can stall us.
	maxRetryAfter = 30 * time.Second
)

// ErrDeepReorg is returned (and alarmed on) when the node's chain departs
// from ours deeper than [MaxReorgDepth].
var ErrDeepReorg = errors.New("follow: reorg deeper than the solidified depth")

// Fence tells the follower whether it still leads.
type Fence interface {
	// Token is the fencing token of the current lease.
	Token() int64
	// Check returns an error wrapping [ErrFenced] when the lease is no
	// longer ours.
	Check(ctx context.Context) error
}

// SolidSource reports the node's solidified (irreversible) block number;
// *tron.Client implements it.
type SolidSource interface {
	SolidHeight(ctx context.Context) (int64, error)
}

// lossNotifier is implemented by a [Fence] that knows when its lease is
// lost ([Term]): the follower then aborts the block in hand at once, as a
// crash would, instead of finishing it under a lease that is not its own.
type lossNotifier interface {
	Lost() <-chan struct{}
}

// Config configures a [Follower].
type Config struct {
	// Dependencies; all but Fence and Metrics are required.

	Node      Node
	DB        *mongo.Database
	Publisher Publisher
	Matcher   Matcher
	Decoder   *decode.Decoder
	Logger    *slog.Logger
	// Metrics are updated as it goes. Nil means unregistered ones.
	Metrics *Metrics
	// Fence guards every checkpoint write. Nil means a single ingest with
	// fencing token 0.
	Fence Fence
	// Solid reports the node's solidified height, for subscriptions with
	// finality solidified and the events' solidified field. Nil means
	// Node, if it implements [SolidSource], else none: the solidified
	// level then never advances.
	Solid SolidSource

	// StartBlock is where an empty database starts. Zero or negative
	// means the node's head at the first start; it is ignored once a
	// checkpoint exists.
	StartBlock int64

	// PollInterval is how often the head is polled when caught up. Zero
	// means [DefaultPollInterval].
	PollInterval time.Duration
	// Concurrency is how many block ranges are fetched at once while
	// catching up. Zero means [DefaultConcurrency].
	Concurrency int
	// ChunkBlocks is the size of one range fetch. Zero means
	// [DefaultChunkBlocks].
	ChunkBlocks int
	// MaxBatch bounds how many blocks one catch-up round fetches before
	// the head is polled again. Zero means [DefaultMaxBatch].
	MaxBatch int
	// MinBackoff and MaxBackoff bound the wait between retries of a
	// failed call. Zero means [DefaultMinBackoff] and [DefaultMaxBackoff].
	MinBackoff, MaxBackoff time.Duration
	// GroupBlocks bounds how many consecutive blocks, already fetched
	// while catching up, are committed as one persist unit (one bulk
	// insert, one pipelined publish, one checkpoint write). Each block
	// still gets its own step and cursors, so the history is the one of
	// committing them one by one. Zero means [DefaultGroupBlocks]; 1
	// commits every block on its own.
	GroupBlocks int
	// GroupDeliveries ends a group once its deliveries reach it (the
	// block that reaches it is included). Zero means
	// [DefaultGroupDeliveries].
	GroupDeliveries int
	// CommitTimeout bounds how long the block in hand may take to commit
	// once the context is done (SIGTERM). Zero means
	// [DefaultCommitTimeout].
	CommitTimeout time.Duration
	// AbortOnCancel makes a done context abort the block in hand at once,
	// as a crash would, instead of finishing it. Tests use it to prove
	// that a redo after a crash is exact.
	AbortOnCancel bool
}

// entry is one block of the recent chain.
type entry struct {
	num    int64
	id     string
	parent string
	// events are nil until loaded: after a restart, blocks of the window
	// are fetched again only when a confirmation level needs them.
	events []event.Event
	loaded bool
	// byConf caches the block's matches by confirmation level (and the
	// solidified level last), valid for matcher generation gen.
	byConf  [allLevels][]pair
	matched bool
	gen     uint64
}

type pair struct {
	ev int
	m  Match
}

// Follower follows the chain. Create it with [New]; it is not safe for
// concurrent use apart from the status methods.
type Follower struct {
	cfg Config
	m   *Metrics
	log *slog.Logger

	st     state
	window map[int64]*entry
	// last caches the cursor of each subscription's last committed event
	// ("" for none yet), the link of its next event (its prev_cursor and
	// bus.PrevCursorHeader), and the seq of that next event. Subscriptions
	// missing from it are read from
	// their heads (store.SubHeads, see heads.go) before a step links an
	// event of theirs. It is cleared whenever the follower (re)loads its
	// checkpoint, since another leader may have delivered in between, and
	// when it passes maxLast entries.
	last map[string]headPos
	// pages writes the subscriptions' history pages.
	pages *store.Pages

	head      atomic.Int64
	committed atomic.Int64
	nodeOK    atomic.Bool
	// solidSeen is the node's solidified height as last polled; solidWake
	// tells the run loop it grew (capacity 1).
	solidSeen atomic.Int64
	solidWake chan struct{}
	// internalTxs is 0 unknown, 1 recorded, 2 not recorded (see
	// noteInternal); missingFrames counts blocks of evidence of the latter.
	internalTxs   atomic.Int32
	missingFrames atomic.Int64
	// solidDone and solidKnown mirror the committed state's solidified
	// level and observation, for the backfill.
	solidDone  atomic.Int64
	solidKnown atomic.Int64

	// boundary carries functions to run between steps ([Follower.AtBoundary]).
	boundary chan boundaryReq
}

// New checks cfg and returns a follower. It does no I/O.
func New(cfg Config) (*Follower, error) {
	if cfg.Node == nil || cfg.DB == nil || cfg.Publisher == nil || cfg.Matcher == nil || cfg.Decoder == nil {
		return nil, errors.New("follow: Node, DB, Publisher, Matcher and Decoder are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.MinBackoff, DefaultMinBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.CommitTimeout, DefaultCommitTimeout)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ChunkBlocks <= 0 {
		cfg.ChunkBlocks = DefaultChunkBlocks
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.GroupBlocks <= 0 {
		cfg.GroupBlocks = DefaultGroupBlocks
	}
	if cfg.GroupDeliveries <= 0 {
		cfg.GroupDeliveries = DefaultGroupDeliveries
	}
	if cfg.Solid == nil {
		cfg.Solid, _ = cfg.Node.(SolidSource)
	}
	return &Follower{cfg: cfg, m: cfg.Metrics, log: cfg.Logger, window: map[int64]*entry{}, pages: store.NewPages(cfg.DB), boundary: make(chan boundaryReq), solidWake: make(chan struct{}, 1)}, nil
}

// SolidDelivered returns the highest block delivered to the subscriptions
// with finality solidified (committed), 0 before the first.
func (f *Follower) SolidDelivered() int64 { return f.solidDone.Load() }

// Solidified returns the node's solidified block as the last committed
// step recorded it, 0 when not known.
func (f *Follower) Solidified() int64 { return f.solidKnown.Load() }

// Head returns the last head the node reported, 0 before the first.
func (f *Follower) Head() int64 { return f.head.Load() }

// Committed returns the last committed block, 0 before the first.
func (f *Follower) Committed() int64 { return f.committed.Load() }

// NodeOK reports whether the last call to the node succeeded.
func (f *Follower) NodeOK() bool { return f.nodeOK.Load() }

func (f *Follower) nodeUp(ok bool) {
	f.nodeOK.Store(ok)
	if ok {
		f.m.NodeUp.Set(1)
	} else {
		f.m.NodeUp.Set(0)
	}
}

func (f *Follower) fence() int64 {
	if f.cfg.Fence == nil {
		return 0
	}
	return f.cfg.Fence.Token()
}

// lostC returns the channel closed when the lease is lost; nil (never
// ready) without a notifying fence.
func (f *Follower) lostC() <-chan struct{} {
	if n, ok := f.cfg.Fence.(lossNotifier); ok {
		return n.Lost()
	}
	return nil
}

// heldLocally is implemented by a [Fence] that knows without I/O whether
// its lease can still be ours ([Term]): not lost, not expired.
type heldLocally interface {
	Held() bool
}

// leaseHeld returns an error wrapping ErrFenced when the lease is known
// lost or has run out, without asking the store.
func (f *Follower) leaseHeld() error {
	if h, ok := f.cfg.Fence.(heldLocally); ok && !h.Held() {
		return fmt.Errorf("follow: lease no longer held: %w", ErrFenced)
	}
	if f.leaseLost() {
		return fmt.Errorf("follow: lease lost: %w", ErrFenced)
	}
	return nil
}

func (f *Follower) leaseLost() bool {
	select {
	case <-f.lostC():
		return true
	default:
		return false
	}
}

// Run follows the chain until ctx is done, then finishes the block (or
// group of blocks) in hand (unless AbortOnCancel) and returns nil. It returns an error wrapping
// [ErrFenced] when another ingest took over.
func (f *Follower) Run(ctx context.Context) error {
	if err := f.run(ctx); err != nil {
		return err
	}
	if f.leaseLost() {
		return fmt.Errorf("follow: lease lost: %w", ErrFenced)
	}
	return nil
}

func (f *Follower) run(ctx context.Context) error {
	if err := f.init(ctx); err != nil {
		if errors.Is(err, ErrFenced) || ctx.Err() == nil {
			return err
		}
		return nil
	}
	f.log.Info("following", "from_block", f.st.block+1, "step", f.st.step)
	if f.cfg.Solid != nil {
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.pollSolid(pctx)
		}()
		defer func() {
			stop()
			<-done
		}()
	}
	for ctx.Err() == nil {
		f.serveBoundary(ctx)
		if err := f.commitSolid(ctx); err != nil {
			if errors.Is(err, ErrFenced) {
				return err
			}
			// On with the head all the same: what failed may be a
			// reorg at the node, which only the head's round handles.
			if ctx.Err() == nil {
				f.log.Warn("commit solidified; trying again next round", "err", err)
			}
		}
		head, err := f.nowBlock(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("node head", "err", err)
				f.sleep(ctx, f.cfg.PollInterval)
			}
			continue
		}
		hnum := head.BlockHeader.RawData.Number
		if hnum <= f.st.block {
			// Same height or below with another id: the node switched
			// branches without growing.
			if e := f.window[hnum]; e != nil && e.id != head.BlockID {
				if err := f.handleReorg(ctx); err != nil {
					if errors.Is(err, ErrFenced) {
						return err
					}
					f.sleep(ctx, f.cfg.PollInterval)
				}
				continue
			}
			f.idle(ctx, f.cfg.PollInterval)
			continue
		}
		if hnum == f.st.block+1 {
			err = f.followHead(ctx, head)
		} else {
			err = f.catchUp(ctx, f.st.block+1, min(hnum, f.st.block+int64(f.cfg.MaxBatch))+1)
		}
		if err != nil {
			if errors.Is(err, ErrFenced) {
				return err
			}
			if ctx.Err() == nil {
				f.log.Error("commit", "err", err)
				f.sleep(ctx, f.cfg.PollInterval)
			}
		}
	}
	return nil
}

func (f *Follower) nowBlock(ctx context.Context) (*tron.Block, error) {
	b, err := f.cfg.Node.NowBlock(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.nodeUp(false)
			f.m.FetchErrors.Inc()
		}
		return nil, err
	}
	f.nodeUp(true)
	n := b.BlockHeader.RawData.Number
	f.head.Store(n)
	f.m.Head.Set(float64(n))
	f.m.LagBlocks.Set(float64(n - f.st.block))
	return b, nil
}

// init loads the checkpoint and the recent chain, or starts an empty
// database at StartBlock.
func (f *Follower) init(ctx context.Context) error {
	var st state
	var heads, ok bool
	err := f.retry(ctx, "mongo", func(ctx context.Context) error {
		if f.cfg.Fence != nil {
			// Stamp our token before reading: from here on, a
			// deposed leader's checkpoint write fails, so the state
			// read below is the last one any older leader commits.
			if err := claimCheckpoint(ctx, f.cfg.DB, f.fence()); err != nil {
				return err
			}
		}
		var err error
		st, heads, ok, err = loadCheckpoint(ctx, f.cfg.DB)
		return err
	})
	if err != nil {
		return err
	}
	f.window = map[int64]*entry{}
	f.last = map[string]headPos{}
	if ok && !heads {
		if err := f.rebuildHeads(ctx, st.step); err != nil {
			return err
		}
	}
	if ok {
		f.st = st
		var docs []store.BlockDoc
		err := f.retry(ctx, "mongo", func(ctx context.Context) error {
			var err error
			docs, err = loadBlocks(ctx, f.cfg.DB, st.block-keepBlocks, st.block)
			return err
		})
		if err != nil {
			return err
		}
		for _, d := range docs {
			f.window[d.Number] = &entry{num: d.Number, id: d.ID, parent: d.Parent}
		}
		if e := f.window[st.block]; e == nil || e.id != st.blockID {
			// The tip's record is missing: trust the checkpoint.
			f.window[st.block] = &entry{num: st.block, id: st.blockID}
		}
		f.committed.Store(st.block)
		f.m.Committed.Set(float64(st.block))
		f.mirrorSolid()
		return nil
	}
	start := f.cfg.StartBlock
	if start <= 0 {
		head, err := f.retryNowBlock(ctx)
		if err != nil {
			return err
		}
		start = head.BlockHeader.RawData.Number
	}
	// The block before the start is the base: its id lets the first block
	// be checked for a reorg, and no event of it is delivered.
	base, err := f.fetchOne(ctx, start-1)
	if err != nil {
		return err
	}
	st = state{block: base.num, blockID: base.id}
	for c := range st.emitted {
		st.emitted[c] = base.num
	}
	if f.cfg.Solid != nil {
		// Blocks below the start are not ours to deliver at any level,
		// the solidified one included.
		if s, err := f.cfg.Solid.SolidHeight(ctx); err == nil {
			st.solid = s
		}
	}
	err = f.retry(ctx, "mongo", func(ctx context.Context) error {
		if err := upsertBlocks(ctx, f.cfg.DB, []store.BlockDoc{{Number: base.num, ID: base.id, Parent: base.parent}}); err != nil {
			return err
		}
		return f.commitCheckpoint(ctx, st)
	})
	if err != nil {
		return err
	}
	f.st = st
	f.window[base.num] = &entry{num: base.num, id: base.id, parent: base.parent, events: base.events, loaded: true}
	f.committed.Store(st.block)
	f.mirrorSolid()
	return nil
}

func (f *Follower) retryNowBlock(ctx context.Context) (*tron.Block, error) {
	var b *tron.Block
	err := f.retry(ctx, "node", func(ctx context.Context) error {
		var err error
		b, err = f.nowBlock(ctx)
		return err
	})
	return b, err
}

// catchUp fetches [from, to) and commits the blocks in order, in groups
// of those already fetched. It returns early, without error, after
// handling a reorg.
func (f *Follower) catchUp(ctx context.Context, from, to int64) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	blocks := f.fetchRange(fctx, from, to)
	defer func() {
		cancel()
		// Drain, so the fetcher, cancelled above, can exit.
		for range blocks {
		}
	}()
	var held *fetched
	for {
		fb := held
		if fb == nil {
			var ok bool
			if fb, ok = <-blocks; !ok {
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if fb.num != f.st.block+1 {
			return fmt.Errorf("follow: fetched block %d, want %d", fb.num, f.st.block+1)
		}
		if fb.parent != f.st.blockID {
			return f.handleReorg(ctx)
		}
		f.serveBoundary(ctx)
		var closed bool
		var err error
		if held, closed, err = f.commitGroup(ctx, fb, blocks); err != nil {
			return err
		}
		if closed && held == nil {
			return nil
		}
	}
}

// followHead commits head, the node's head and our next block. The poll
// brought the block already, so only its infos are fetched: a round trip
// less between the block appearing and its events going out.
func (f *Follower) followHead(ctx context.Context, head *tron.Block) error {
	fb, err := f.decodeBlock(ctx, head)
	if err != nil {
		return err
	}
	if fb.parent != f.st.blockID {
		return f.handleReorg(ctx)
	}
	f.serveBoundary(ctx)
	_, _, err = f.commitGroup(ctx, fb, nil)
	return err
}

// commitCtx is the context a step's I/O runs under: unless AbortOnCancel,
// the block in hand finishes after ctx is done, within CommitTimeout.
func (f *Follower) commitCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	var c context.Context
	var cancel context.CancelFunc
	stop := func() bool { return true }
	if f.cfg.AbortOnCancel {
		c, cancel = context.WithCancel(ctx)
	} else {
		c, cancel = context.WithCancel(context.WithoutCancel(ctx))
		stop = context.AfterFunc(ctx, func() {
			t := time.AfterFunc(f.cfg.CommitTimeout, cancel)
			context.AfterFunc(c, func() { t.Stop() })
		})
	}
	if lost := f.lostC(); lost != nil {
		// A lost lease aborts at once: the block in hand belongs to
		// the new leader now.
		go func() {
			select {
			case <-lost:
				cancel()
			case <-c.Done():
			}
		}()
	}
	return c, func() { stop(); cancel() }
}

// commitCheckpoint checks the lease, then writes the fenced checkpoint.
func (f *Follower) commitCheckpoint(ctx context.Context, st state) error {
	if f.cfg.Fence != nil {
		if err := f.cfg.Fence.Check(ctx); err != nil {
			return err
		}
	}
	return writeCheckpoint(ctx, f.cfg.DB, st, f.fence())
}

// retry runs fn until it succeeds, ctx is done or it fails with ErrFenced,
// waiting with jittered exponential backoff in between. target names the
// dependency for metrics.
func (f *Follower) retry(ctx context.Context, target string, fn func(context.Context) error) error {
	wait := backoff.Policy{Min: f.cfg.MinBackoff, Max: f.cfg.MaxBackoff}
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrFenced) {
			return err
		}
		if f.leaseLost() {
			return fmt.Errorf("follow: lease lost: %w", ErrFenced)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if target == "node" {
			f.nodeUp(false)
			f.m.FetchErrors.Inc()
		} else {
			f.m.WriteErrors.WithLabelValues(target).Inc()
		}
		lvl := slog.LevelDebug
		if attempt%10 == 3 {
			lvl = slog.LevelWarn
		}
		f.log.Log(ctx, lvl, "retrying", "target", target, "attempt", attempt, "err", err)
		d := wait.Delay(attempt)
		// A node that said when to come back is believed: hammering
		// it sooner only earns more 429s.
		if rl, ok := errors.AsType[*tron.RateLimitError](err); ok && rl.RetryAfter > d {
			d = min(rl.RetryAfter, maxRetryAfter)
		}
		f.sleep(ctx, d)
	}
}

func (f *Follower) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// maxLast bounds [Follower.last]: past it the cache starts over, which
// costs reading heads again, not correctness.
const maxLast = 1 << 20

// remember records the heads of a committed step or group.
func (f *Follower) remember(staged map[string]headPos) {
	if len(f.last)+len(staged) > maxLast {
		clear(f.last)
	}
	for sub, c := range staged {
		f.last[sub] = c
	}
}

// loadLinks makes sure [Follower.last] holds the committed head of every
// subscription of subs, reading those it lacks from store.SubHeads.
func (f *Follower) loadLinks(ctx context.Context, subs map[string]bool) error {
	if len(f.last)+len(subs) > maxLast {
		// Before looking, so that what is looked up stays.
		clear(f.last)
	}
	var missing []string
	for s := range subs {
		if _, ok := f.last[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var heads map[string]headPos
	err := f.retry(ctx, "mongo", func(ctx context.Context) error {
		var err error
		heads, err = loadHeads(ctx, f.cfg.DB, missing, f.st.step)
		return err
	})
	if err != nil {
		return err
	}
	maps.Copy(f.last, heads)
	return nil
}

// rebuildHeads rebuilds the subscriptions' heads and history pages from
// the stored events when steps up to step were committed without them
// (see heads.go).
func (f *Follower) rebuildHeads(ctx context.Context, step uint64) error {
	began := time.Now()
	f.log.Warn("the subscriptions' heads or history pages are not current (a database from an older ingest); rebuilding them from the stored events", "step", step)
	var n int
	err := f.retry(ctx, "mongo", func(ctx context.Context) error {
		var err error
		if n, err = rebuildHeads(ctx, f.cfg.DB, f.pages, step, f.fence()); err != nil {
			return err
		}
		return markHeads(ctx, f.cfg.DB, step, f.fence())
	})
	if err != nil {
		return err
	}
	f.log.Info("subscription heads and pages rebuilt", "subscriptions", n, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// pruneWindow keeps the last keepBlocks blocks in memory.
func (f *Follower) pruneWindow() {
	for n := range f.window {
		if n <= f.st.block-keepBlocks {
			delete(f.window, n)
		}
	}
}

// storeBlocksFilter drops recorded blocks far below the tip; run now and
// then, not every block.
func oldBlocksFilter(tip int64) bson.M {
	return bson.M{"_id": bson.M{"$lt": tip - 4*keepBlocks}}
}

// publishHead tells the edges where the chain is; a failure only costs a
// heartbeat's accuracy, so it is logged at debug level.
func (f *Follower) publishHead() {
	h := bus.Head{Block: max(f.head.Load(), f.st.block), Committed: f.st.block, Solidified: f.solidSeen.Load(), Time: time.Now().UTC()}
	if err := f.cfg.Publisher.PublishHead(h); err != nil {
		f.log.Debug("publish head", "err", err)
	}
}
