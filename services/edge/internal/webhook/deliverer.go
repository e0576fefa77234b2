// Package webhook delivers subscriptions' events to their webhooks: signed
// POSTs, retried with backoff for about a day, recorded attempt by attempt
// in MongoDB, dead-lettered after the last retry, and resent on request.
//
// Every edge runs a [Deliverer]. Events come from the JetStream stream the
// ingest publishes to, through one durable consumer shared by all edges, so
// each message is taken by one edge at a time. The stream's order is not
// trusted: each message's link, the cursor of its subscription's previous
// event, is checked against the last event taken for that subscription. A
// repeat is not sent again, and the events a broken link shows missing are
// read from MongoDB, where the ingest stored them before publishing, and
// delivered before it (see chain.go). Deliveries of one
// subscription go through its lane, a lease in MongoDB held by one edge at
// a time; the lane delivers them one by one in cursor order: first those
// queued in MongoDB (retries, and events that could not be attempted at
// once), then the events the edge holds in memory, unacknowledged (see
// inbox.go). A message is acknowledged once its outcome, or its place in
// the queue, is stored; from there on MongoDB, not JetStream (which keeps
// events for an hour), holds the work. An edge that dies stops renewing
// its leases, and another edge takes its lanes over when they expire. A
// finished delivery is recorded, for the retention.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// Limits.
const (
	// laneBatch is how many pending deliveries a lane reads at once.
	laneBatch = 1024
	// flushEvery is how many outcomes a lane holds before it writes
	// them; a lane also writes when its batch ends, and at once after
	// anything but a success.
	flushEvery = 256
	// sweepInterval is how often finished deliveries past the retention
	// are deleted where no TTL index does it.
	sweepInterval = time.Hour
	// MaxReplay is how many events one replay call makes due again; the
	// reply's cursor continues from there.
	MaxReplay = 1000
	// minAckWait is the least time JetStream waits for an edge to settle
	// a message before handing it to another edge; it is longer with
	// long attempt timeouts (see Deliverer.ackWait).
	minAckWait = 30 * time.Second
	// spillAfter is how long an event waits in memory for its attempt
	// before it is queued in MongoDB instead, and how often inboxes are
	// looked after.
	spillAfter = 5 * time.Second
	// markAfter is how long an event waits in memory before JetStream is
	// told it is in progress, well inside the ack wait.
	markAfter = 10 * time.Second
	// intakeGroup is the shared consumer's priority group. It is pinned:
	// the server hands messages to one edge at a time, which checks each
	// subscription's chain (chain.go) and queues deliveries in cursor
	// order, so a lane never reads a later delivery before an earlier
	// one. Two edges taking messages side by side did exactly that.
	intakeGroup = "webhooks"
	// pinSlack is how much longer than the ack wait the pinned edge may
	// go without pulling before another edge is pinned, so the messages a
	// dead edge held are due again by then, and go out before newer ones.
	pinSlack = 5 * time.Second
	// pinHeader carries the pinned client's id on the messages it gets.
	pinHeader = "Nats-Pin-Id"
	// queueInterval is how often the queue depth gauge is refreshed.
	queueInterval = 10 * time.Second
	// storeTimeout bounds the bookkeeping done after ctx is cancelled,
	// and each write of outcomes.
	storeTimeout = 5 * time.Second
	// flushTries is how many times a lane tries to write its outcomes.
	flushTries = 3
)

// Deliverer delivers webhooks; see the package documentation.
type Deliverer struct {
	cfg    Config
	js     jetstream.JetStream
	store  mongoStore
	writer *groupWriter
	reader *queueReader
	hooks  *hooks
	policy policy
	client *http.Client
	eps    *endpoints
	m      metrics
	owner  string
	// ackWait is the shared consumer's: past minAckWait, time for an
	// event to wait spillAfter, be attempted and have its outcome
	// written.
	ackWait time.Duration

	mu sync.Mutex
	// runCtx is Run's context, for lanes started by API calls.
	runCtx context.Context
	// running holds the subscriptions whose lane runs here; dirty those
	// that got new work while it ran.
	running map[string]bool
	dirty   map[string]bool
	// notBefore holds lanes not to try before a time: parked for a
	// retry, behind an open breaker, or held by another edge.
	notBefore map[string]time.Time
	// inbox holds, per subscription, events taken from JetStream here,
	// or filled from MongoDB, and not yet attempted or queued, in cursor
	// order but for repeats (see chain.go).
	inbox map[string][]incoming
	// left holds messages a stopping edge took but did not file, for
	// queueHeld to queue with the inboxes.
	left []jetstream.Msg
	// chains holds, per subscription, where its events were filed up to
	// (see chain.go).
	chains map[string]*chain
	// window is how long the events stream keeps events (zero: for
	// ever), read when the intake starts.
	window time.Duration
	// pin is this edge's id as the consumer's pinned client, once it got
	// messages; it unpins on the way out.
	pin       string
	lanes     sync.WaitGroup
	closeOnce sync.Once
}

// New returns a deliverer. It starts nothing: call [Deliverer.Run].
func New(cfg Config) (*Deliverer, error) {
	if cfg.NATS == nil || cfg.DB == nil {
		return nil, errors.New("webhook: NATS and DB are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	js, err := jetstream.New(cfg.NATS)
	if err != nil {
		return nil, fmt.Errorf("webhook: jetstream: %w", err)
	}
	p := policy{allowHTTP: cfg.AllowHTTPHosts, allowPrivate: cfg.AllowPrivate}
	return &Deliverer{
		cfg:       cfg,
		js:        js,
		store:     mongoStore{db: cfg.DB},
		writer:    &groupWriter{store: mongoStore{db: cfg.DB}, timeout: cfg.LeaseDuration / 2},
		reader:    newQueueReader(mongoStore{db: cfg.DB}),
		hooks:     &hooks{db: cfg.DB, now: cfg.Now, m: map[string]cachedHook{}},
		policy:    p,
		client:    newHTTPClient(p, cfg.ConcurrencyPerEndpoint),
		eps:       &endpoints{concurrency: cfg.ConcurrencyPerEndpoint, threshold: cfg.BreakerThreshold, cooldown: cfg.BreakerCooldown, m: map[string]*endpoint{}},
		m:         m,
		owner:     host + "-" + hex.EncodeToString(b[:]),
		ackWait:   max(minAckWait, spillAfter+3*cfg.Timeout),
		inbox:     map[string][]incoming{},
		chains:    map[string]*chain{},
		window:    bus.DefaultEventsMaxAge,
		running:   map[string]bool{},
		dirty:     map[string]bool{},
		notBefore: map[string]time.Time{},
	}, nil
}

// CheckURL refuses a webhook URL this server would not deliver to: plain
// http to a host not allowed, or a literal internal address. The API calls
// it when a webhook is set.
func (d *Deliverer) CheckURL(raw string) error { return d.policy.CheckURL(raw) }

// Run delivers until ctx is done, then waits for attempts in flight to be
// abandoned and returns nil. A missing events stream (no ingest yet) is
// waited for, not an error.
func (d *Deliverer) Run(ctx context.Context) error {
	ttl, err := d.store.ensureIndexes(ctx, d.cfg.Retention)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: not a failure
		}
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := d.cfg.NATS.Subscribe(bus.SubscriptionsSubject, d.onChange)
	if err != nil {
		return fmt.Errorf("webhook: subscribe %s: %w", bus.SubscriptionsSubject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	d.mu.Lock()
	d.runCtx = ctx
	// Another edge may have filed events since an earlier Run: every
	// chain starts from what is stored.
	clear(d.chains)
	d.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { d.intake(ctx) })
	wg.Go(func() { d.poll(ctx) })
	wg.Go(func() { d.gauge(ctx) })
	wg.Go(func() { d.reader.run(ctx) })
	wg.Go(func() { d.tend(ctx) })
	if !ttl {
		wg.Go(func() { d.sweep(ctx) })
	}
	wg.Wait()
	cancel()
	// Every kick checks ctx under mu before it adds a lane, so after
	// this barrier no lane is added and Wait may start.
	d.mu.Lock()
	d.runCtx = nil
	d.mu.Unlock()
	d.lanes.Wait()
	// Only now, with every lane ended, may another edge take over: what
	// is left is queued first, and the unpinning lets the next edge go
	// on at once rather than after the pinned TTL.
	d.queueHeld()
	if d.pin != "" {
		d.unpin(d.pin)
	}
	return nil
}

// Close releases idle connections to receivers. It is safe to call more
// than once, and after Run returned.
func (d *Deliverer) Close() {
	d.closeOnce.Do(d.client.CloseIdleConnections)
}

func (d *Deliverer) onChange(msg *nats.Msg) {
	var ch bus.SubscriptionChange
	if err := json.Unmarshal(msg.Data, &ch); err != nil || ch.SubscriptionID == "" {
		return
	}
	d.hooks.invalidate(ch.SubscriptionID)
}

// intake moves events from JetStream to delivery documents, reconnecting
// to the consumer until ctx is done.
func (d *Deliverer) intake(ctx context.Context) {
	wait := time.Second
	for ctx.Err() == nil {
		cons, err := d.js.CreateOrUpdateConsumer(ctx, bus.EventsStream, jetstream.ConsumerConfig{
			Durable:       d.cfg.Consumer,
			FilterSubject: bus.EventsPrefix + ">",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       d.ackWait,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			// Messages stay pending while they wait in inboxes.
			MaxAckPending: 64 * d.cfg.FetchBatch,
			MaxDeliver:    -1,
			// One edge at a time takes messages; see intakeGroup.
			PriorityGroups: []string{intakeGroup},
			PriorityPolicy: jetstream.PriorityPolicyPinned,
			PinnedTTL:      d.ackWait + pinSlack,
			// As many copies as the stream (3 in a cluster): the
			// consumer's state survives the node it was on.
			Replicas: d.cfg.Replicas,
		})
		if err == nil {
			wait = time.Second
			d.readWindow(ctx)
			err = d.consume(ctx, cons)
		}
		if ctx.Err() != nil {
			return
		}
		// The stream appears when the ingest first starts; until then
		// this is expected, so it is not shouted about.
		level := d.cfg.Logger.Warn
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			level = d.cfg.Logger.Debug
		}
		level("webhook: events consumer", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// consume takes messages in batches until ctx is done or the consumer
// fails. What it has not passed on by then is left for queueHeld, or,
// when the consumer failed, handed back, and the consumer is unpinned if
// this edge is the pinned one; a stopping edge unpins in Run, once its
// lanes have ended.
func (d *Deliverer) consume(ctx context.Context, cons jetstream.Consumer) error {
	ch := make(chan jetstream.Msg, d.cfg.FetchBatch)
	failed := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case ch <- m:
		case <-ctx.Done():
			// Stopping: queued with the rest once the lanes end.
			d.leave(ctx, m)
		}
	}, jetstream.PullMaxMessages(d.cfg.FetchBatch), jetstream.PullPriorityGroup(intakeGroup), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			select {
			case failed <- err:
			default:
			}
		}
	}))
	if err != nil {
		return fmt.Errorf("webhook: consume: %w", err)
	}
	defer func() {
		cc.Drain()
		<-cc.Closed()
		// Nothing sends on ch any more.
		for len(ch) > 0 {
			d.leave(ctx, <-ch)
		}
		if ctx.Err() == nil && d.pin != "" {
			d.unpin(d.pin)
		}
	}()
	batch := make([]jetstream.Msg, 0, d.cfg.FetchBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case <-cc.Closed():
			return errors.New("webhook: consumer closed")
		case m := <-ch:
			batch = append(batch[:0], m)
		more:
			for len(batch) < cap(batch) {
				select {
				case m := <-ch:
					batch = append(batch, m)
				default:
					break more
				}
			}
			if h := batch[0].Headers().Get(pinHeader); h != "" {
				if d.pin != "" && h != d.pin {
					// Pinned anew: another edge may have filed events
					// meanwhile.
					d.repin()
				}
				d.pin = h
			}
			d.take(ctx, batch)
		}
	}
}

// readWindow reads how long the events stream keeps events, for the
// first gap after a chain's bootstrap (see Deliverer.link).
func (d *Deliverer) readWindow(ctx context.Context) {
	st, err := d.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return
	}
	d.mu.Lock()
	d.window = st.CachedInfo().Config.MaxAge
	d.mu.Unlock()
}

// unpin unpins the shared consumer if pin is still its pinned client.
func (d *Deliverer) unpin(pin string) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	st, err := d.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return
	}
	cons, err := st.Consumer(ctx, d.cfg.Consumer)
	if err != nil {
		return
	}
	for _, g := range cons.CachedInfo().PriorityGroups {
		if g.Group == intakeGroup && g.PinnedClientID == pin {
			if err := st.UnpinConsumer(ctx, d.cfg.Consumer, intakeGroup); err != nil {
				d.cfg.Logger.Debug("webhook: unpin", "err", err)
			}
		}
	}
}

// take passes each message whose subscription has a webhook to that
// subscription's inbox and starts its lane; the lane acknowledges it once
// settled. It tries again in place until it succeeds or ctx ends, rather
// than handing messages back for later: the next batch must not go
// before this one. Messages not taken when ctx ends are left for
// queueHeld.
func (d *Deliverer) take(ctx context.Context, msgs []jetstream.Msg) {
	wait := 100 * time.Millisecond
	for {
		err := d.takeOnce(ctx, msgs)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			for _, m := range msgs {
				d.leave(ctx, m)
			}
			return
		}
		d.cfg.Logger.Warn("webhook: intake", "err", err, "retry_in", wait)
		for _, m := range msgs {
			// Keep them ours while we try again.
			_ = m.InProgress()
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// takeOnce files msgs into inboxes and starts their lanes.
func (d *Deliverer) takeOnce(ctx context.Context, msgs []jetstream.Msg) error {
	subs, err := d.file(ctx, msgs)
	if err != nil {
		return err
	}
	for _, s := range subs {
		d.kick(ctx, s, false)
	}
	return nil
}

// kick starts a subscription's lane here unless it runs here already or
// is known to wait; queued says there is new work in MongoDB's queue,
// which a running lane then reads before it stops. A lane known to wait
// still gets its inbox queued, so that JetStream's messages are settled.
func (d *Deliverer) kick(ctx context.Context, subID string, queued bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	if d.running[subID] {
		if queued {
			d.dirty[subID] = true
		}
		return
	}
	if nb, ok := d.notBefore[subID]; ok {
		if d.cfg.Now().Before(nb) {
			if len(d.inbox[subID]) > 0 {
				d.running[subID] = true
				d.lanes.Go(func() { d.runLane(ctx, subID, nb) })
			}
			return
		}
		delete(d.notBefore, subID)
	}
	d.running[subID] = true
	d.lanes.Go(func() { d.runLane(ctx, subID, time.Time{}) })
}

// poll finds due work in MongoDB: retries coming due, lanes of dead edges,
// manual retries made on other edges.
func (d *Deliverer) poll(ctx context.Context) {
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		subs, err := d.store.dueSubscriptions(ctx, d.cfg.Now().UTC())
		if err != nil {
			if ctx.Err() == nil {
				d.cfg.Logger.Warn("webhook: poll", "err", err)
			}
			continue
		}
		for _, s := range subs {
			d.kick(ctx, s, true)
		}
		d.mu.Lock()
		now := d.cfg.Now()
		for s, nb := range d.notBefore {
			if now.After(nb) {
				delete(d.notBefore, s)
			}
		}
		d.mu.Unlock()
	}
}

// gauge refreshes the backlog gauges every queueInterval: deliveries
// queued in MongoDB, and events JetStream has not had settled by the
// shared consumer (not yet taken, or held in an edge's memory).
func (d *Deliverer) gauge(ctx context.Context) {
	t := time.NewTicker(queueInterval)
	defer t.Stop()
	for {
		if n, err := d.store.countPending(ctx); err == nil {
			d.m.queue.Set(float64(n))
		}
		if c, err := d.js.Consumer(ctx, bus.EventsStream, d.cfg.Consumer); err == nil {
			if info, err := c.Info(ctx); err == nil {
				d.m.intakeBacklog.Set(float64(info.NumPending + uint64(info.NumAckPending)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep deletes finished deliveries past the retention, at start and then
// every sweepInterval, for servers without TTL indexes.
func (d *Deliverer) sweep(ctx context.Context) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		n, err := d.store.sweep(ctx, d.cfg.Retention, d.cfg.Now().UTC())
		switch {
		case err != nil && ctx.Err() == nil:
			d.cfg.Logger.Warn("webhook: retention sweep", "err", err)
		case n > 0:
			d.cfg.Logger.Info("webhook: retention sweep", "deleted", n, "retention", d.cfg.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// park records that a lane is not to be tried here before t.
func (d *Deliverer) park(subID string, t time.Time) {
	d.mu.Lock()
	d.notBefore[subID] = t
	d.mu.Unlock()
}

// runLane works a subscription's lane here until nothing is left for it:
// tenure after tenure while its inbox refills, or, while it waits (until
// parked), only queueing what arrives, where the lane's next tenure, here
// or on another edge, finds it.
func (d *Deliverer) runLane(ctx context.Context, subID string, parked time.Time) {
	for {
		if parked.IsZero() {
			parked = d.tenure(ctx, subID)
		}
		if ctx.Err() != nil {
			break
		}
		if !parked.IsZero() && !d.spillAll(ctx, subID) {
			// It waits, and what arrived could not be queued: tend
			// tries again.
			break
		}
		d.mu.Lock()
		again := len(d.inbox[subID]) > 0 || d.dirty[subID] && parked.IsZero()
		delete(d.dirty, subID)
		if !again {
			delete(d.running, subID)
		}
		d.mu.Unlock()
		if !again {
			return
		}
		if !parked.IsZero() && !d.cfg.Now().Before(parked) {
			parked = time.Time{}
		}
	}
	d.mu.Lock()
	delete(d.running, subID)
	delete(d.dirty, subID)
	d.mu.Unlock()
}

// tenure takes a subscription's lane, delivers while anything is due, and
// releases it. It returns when the lane may be tried again, or zero for at
// once.
func (d *Deliverer) tenure(ctx context.Context, subID string) time.Time {
	lease := d.cfg.LeaseDuration
	now := d.cfg.Now().UTC()
	epoch, ok, until, err := d.store.acquireLane(ctx, subID, d.owner, now, now.Add(lease))
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("webhook: lane", "subscription_id", subID, "err", err)
		}
		next := now.Add(d.cfg.PollInterval)
		d.park(subID, next)
		return next
	}
	if !ok {
		// Held by an edge at work: look again at the next poll, since
		// that edge may stop before its lease ends. Parked for a retry:
		// not before the retry.
		retry := now.Add(d.cfg.PollInterval)
		if until.Sub(now) > lease || until.Before(retry) {
			retry = until
		}
		d.park(subID, retry)
		return retry
	}
	l := &laneRun{d: d, subID: subID, epoch: epoch, leaseEnd: now.Add(lease)}
	releaseAt := l.run(ctx)
	if l.lost {
		return d.cfg.Now().Add(d.cfg.PollInterval)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if releaseAt.IsZero() {
		if err := d.store.releaseLane(rctx, subID, d.owner, epoch, d.cfg.Now().UTC()); err != nil {
			d.cfg.Logger.Warn("webhook: lane", "subscription_id", subID, "err", err)
		}
		return time.Time{}
	}
	d.park(subID, releaseAt)
	if err := d.store.releaseLane(rctx, subID, d.owner, epoch, releaseAt); err != nil {
		d.cfg.Logger.Warn("webhook: lane", "subscription_id", subID, "err", err)
	}
	return releaseAt
}

// laneRun is one tenure of a lane.
type laneRun struct {
	d        *Deliverer
	subID    string
	epoch    int64
	leaseEnd time.Time
	lost     bool
	ops      writeOps
	// writing is closed when a background write of outcomes ends.
	writing chan struct{}
}

// step is how a lane goes on after one delivery.
type step int

const (
	// next: go on with the next delivery.
	next step = iota
	// stopBefore: stop; this delivery is not settled.
	stopBefore
	// stopAfter: stop; this delivery's outcome is in ops.
	stopAfter
	// abort: stopping; the attempt was cut short, its outcome unknown.
	abort
)

// run delivers until nothing is due: the queued deliveries first, then
// the inbox. It returns when the lane may be taken again (zero: at once).
func (l *laneRun) run(ctx context.Context) time.Time {
	d := l.d
	defer l.flush(ctx)
	readQueue := true // an earlier tenure may have left work there
	var lastRead time.Time
	for {
		if ctx.Err() != nil {
			return time.Time{}
		}
		now := d.cfg.Now()
		d.mu.Lock()
		if d.dirty[l.subID] || now.Sub(lastRead) >= d.cfg.PollInterval {
			readQueue = true
			delete(d.dirty, l.subID)
		}
		d.mu.Unlock()
		if readQueue {
			docs, err := d.reader.pending(ctx, l.subID)
			if err != nil {
				if ctx.Err() == nil {
					d.cfg.Logger.Warn("webhook: lane", "subscription_id", l.subID, "err", err)
				}
				return now.UTC().Add(d.cfg.PollInterval)
			}
			lastRead = now
			if len(docs) > 0 {
				for i := range docs {
					switch st, at := l.deliver(ctx, &docs[i], time.Time{}); st {
					case stopBefore, stopAfter:
						return at
					case abort:
						return time.Time{}
					}
				}
				if !l.flush(ctx) {
					return d.cfg.Now().UTC().Add(d.cfg.PollInterval)
				}
				// Working off the queue can take long: what waited
				// in memory meanwhile joins the queue behind it.
				if t, ok := d.oldest(l.subID); ok && d.cfg.Now().Sub(t) >= spillAfter {
					d.spillOps(&l.ops, d.takeInbox(l.subID, laneBatch))
					if !l.flush(ctx) {
						return d.cfg.Now().UTC().Add(d.cfg.PollInterval)
					}
				}
				continue
			}
			readQueue = false
		}
		items := d.takeBatch(l.subID, laneBatch)
		if len(items) == 0 {
			d.mu.Lock()
			again := d.dirty[l.subID]
			d.mu.Unlock()
			if again {
				continue
			}
			return time.Time{}
		}
		at, stop, spilled := l.direct(ctx, items)
		if stop {
			return at
		}
		readQueue = spilled
		if spilled {
			if !l.flush(ctx) {
				return d.cfg.Now().UTC().Add(d.cfg.PollInterval)
			}
			continue
		}
		l.flushSuccesses(ctx)
	}
}

// direct attempts events straight from the inbox. When it cannot go on
// it queues what it did not settle, with the rest of the inbox, behind
// the cause (spilled), and stops the lane if that waits until a time; a
// stopping edge gives them back to the inbox instead.
func (l *laneRun) direct(ctx context.Context, items []incoming) (at time.Time, stop, spilled bool) {
	d := l.d
	if slices.ContainsFunc(items, func(it incoming) bool { return it.check }) {
		// What is checked must see the outcomes of the events before.
		l.wait()
	}
	rctx, cancel := context.WithTimeout(ctx, storeTimeout)
	recorded, queued, err := d.store.known(rctx, items)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("webhook: lane", "subscription_id", l.subID, "err", err)
		}
		l.giveBack(items)
		return d.cfg.Now().UTC().Add(d.cfg.PollInterval), true, false
	}
	if len(recorded) > 0 {
		// Sent and recorded before: only their messages are left to
		// acknowledge.
		kept := items[:0:0]
		for _, it := range items {
			switch {
			case !recorded[it.dl.ID]:
				kept = append(kept, it)
			case it.dl.msg != nil:
				l.ops.acks = append(l.ops.acks, it.dl.msg)
			}
		}
		items = kept
	}
	if queued {
		// Sent before and queued since: the queue goes first.
		d.spillOps(&l.ops, items)
		return time.Time{}, false, true
	}
	for _, it := range items {
		if it.repeat {
			// Its first delivery is neither recorded nor queued: it was
			// lost on the way, and goes late rather than never.
			d.cfg.Logger.Warn("webhook: a repeated event was never delivered; sending it late, after later events",
				"subscription_id", l.subID, "cursor", it.dl.Cursor)
		}
	}
	for i, it := range items {
		st, at := next, time.Time{}
		if d.cfg.Now().Sub(it.taken) >= spillAfter {
			// Waited too long: the rest goes to the queue, which the
			// lane reads next.
			st = stopBefore
		} else {
			st, at = l.deliver(ctx, it.dl, it.taken.Add(spillAfter))
		}
		switch st {
		case next:
			continue
		case abort:
			l.giveBack(items[i:])
			return time.Time{}, true, false
		case stopAfter:
			i++
		}
		d.spillOps(&l.ops, items[i:])
		d.spillOps(&l.ops, d.takeInbox(l.subID, math.MaxInt))
		return at, !at.IsZero(), true
	}
	return time.Time{}, false, false
}

// giveBack returns unsettled events to the front of the inbox, where a
// stopping edge queues them once every lane has ended (queueHeld).
func (l *laneRun) giveBack(items []incoming) {
	if len(items) > 0 {
		l.d.putBack(l.subID, items)
	}
}

// deliver makes one attempt at dl, or none when it is not due, its
// receiver's breaker is open, or, for an event from the inbox, no slot
// for its receiver frees up before spillBy. It returns how the lane goes
// on, and, for a stop, when the lane may be taken again.
func (l *laneRun) deliver(ctx context.Context, dl *Delivery, spillBy time.Time) (step, time.Time) {
	d := l.d
	now := d.cfg.Now().UTC()
	if dl.NextAttemptAt.After(now) {
		// Held back: later deliveries wait for this one's retry.
		return stopBefore, dl.NextAttemptAt
	}
	if ctx.Err() != nil {
		return abort, time.Time{}
	}
	if l.leaseEnd.Sub(now) < d.cfg.LeaseDuration/2 {
		if !l.flush(ctx) || !l.renew(ctx) {
			if l.lost {
				return abort, time.Time{}
			}
			return stopBefore, now.Add(d.cfg.PollInterval)
		}
	}
	h, err := d.hooks.get(ctx, l.subID)
	if err != nil {
		return stopBefore, now.Add(d.cfg.PollInterval)
	}
	if h == nil || h.disabled {
		reason := "the subscription or its webhook was removed"
		if h != nil {
			reason = "the webhook is disabled: the receiver answered 410 Gone; a manual retry, a replay or a new URL enables it again"
		}
		l.ops.finish(finished(dl, StatusFailed, reason, now))
		d.m.deliveries.WithLabelValues(StatusFailed).Inc()
		return next, time.Time{}
	}
	ep := d.eps.get(h.url)
	if ok, retryAt := d.eps.allow(ep, now); !ok {
		return stopBefore, retryAt
	}
	var late <-chan time.Time
	if !spillBy.IsZero() {
		t := time.NewTimer(spillBy.Sub(d.cfg.Now()))
		defer t.Stop()
		late = t.C
	}
	select {
	case ep.sem <- struct{}{}:
	case <-late:
		d.eps.abandon(ep)
		return stopBefore, time.Time{}
	case <-ctx.Done():
		d.eps.abandon(ep)
		return abort, time.Time{}
	}
	res := d.attempt(ctx, h, dl)
	<-ep.sem
	if ctx.Err() != nil {
		// Shutdown cut the attempt short: its outcome is unknown, and
		// the delivery stays due for whichever edge comes next.
		d.eps.abandon(ep)
		return abort, time.Time{}
	}
	if d.eps.done(ep, res.healthy(), d.cfg.Now()) {
		d.m.breakers.Inc()
		d.cfg.Logger.Warn("webhook: breaker open", "endpoint", endpointKey(h.url), "cooldown", d.cfg.BreakerCooldown)
	}
	status, nextAt := d.outcome(&l.ops, dl, res)
	d.m.deliveries.WithLabelValues(outcomeLabel(status)).Inc()
	if status == StatusSucceeded {
		if l.ops.len() >= flushEvery {
			l.flushSuccesses(ctx)
		}
		return next, time.Time{}
	}
	// Anything but a success is written at once: the next delivery, on
	// this edge or another, must see it.
	if !l.flush(ctx) {
		return stopAfter, now.Add(d.cfg.PollInterval)
	}
	if res.code == http.StatusGone {
		d.disable(ctx, l.subID, h.url)
	}
	if status == StatusPending {
		return stopAfter, nextAt
	}
	return next, time.Time{}
}

func outcomeLabel(status string) string {
	if status == StatusPending {
		return "retry"
	}
	return status
}

// flush writes the recorded outcomes; false means they could not be. A
// failed write is tried again, twice, with the lease renewed: the
// attempts were made, and giving the lane up with their outcomes unwritten
// would have another edge send them all again.
func (l *laneRun) flush(ctx context.Context) bool {
	// Outcomes are stored in order; a background write that failed
	// has handed its messages back itself.
	l.wait()
	if l.ops.len() == 0 {
		l.ops.settle(true)
		return true
	}
	d := l.d
	defer l.ops.reset()
	for try := 1; ; try++ {
		if !l.renew(ctx) {
			d.cfg.Logger.Error("webhook: lane lost with outcomes unwritten; those deliveries will be sent again", "subscription_id", l.subID)
			l.handBack(ctx)
			return false
		}
		err := d.writer.write(ctx, l.ops)
		if err == nil {
			l.ops.settle(true)
			return true
		}
		if try == flushTries || l.lost {
			d.cfg.Logger.Error("webhook: outcomes not recorded; those deliveries will be sent again", "subscription_id", l.subID, "err", err)
			l.handBack(ctx)
			return false
		}
		d.cfg.Logger.Warn("webhook: outcomes not recorded; writing them again", "subscription_id", l.subID, "err", err)
		l.ops.failed()
		select {
		case <-time.After(time.Duration(try) * time.Second):
		case <-ctx.Done():
		}
	}
}

// handBack hands the messages of outcomes not written back to JetStream.
// The subscription's chain is rewound first (Deliverer.rewind): the
// events behind them in the inbox go back too, and all are filed again
// in cursor order, those without a message filled from history again. A
// stopping edge only hands them back: the next Run starts every chain
// from what is stored.
func (l *laneRun) handBack(ctx context.Context) {
	if ctx.Err() == nil {
		l.d.rewind(l.subID)
	}
	l.ops.settle(false)
}

// flushSuccesses writes the outcomes of events attempted straight from
// the inbox, all successes or failures without retry, in the background:
// nothing the lane does next depends on them (a retry, which the next
// delivery must see, is written by flush at once). It waits for the
// previous such write first, so a lane has at most one in flight.
// Their messages are acknowledged once they are stored. A failed write
// is tried again, with the messages kept in progress, for as long as the
// edge runs, and the lane waits for it: handed back, they would be sent
// again, behind later events. A stopping edge tries flushTries times,
// then hands them back.
func (l *laneRun) flushSuccesses(ctx context.Context) {
	l.wait()
	if l.ops.len() == 0 {
		l.ops.settle(true)
		return
	}
	d := l.d
	ops := l.ops
	l.ops = writeOps{}
	done := make(chan struct{})
	l.writing = done
	go func() {
		defer close(done)
		stopping := 0
		for try := 1; ; try++ {
			err := d.writer.write(ctx, ops)
			if err == nil {
				ops.settle(true)
				return
			}
			if ctx.Err() != nil {
				stopping++
			}
			if stopping >= flushTries {
				d.cfg.Logger.Error("webhook: outcomes not recorded; those deliveries will be sent again", "subscription_id", l.subID, "err", err)
				ops.settle(false)
				return
			}
			d.cfg.Logger.Warn("webhook: outcomes not recorded; writing them again", "subscription_id", l.subID, "err", err)
			ops.failed()
			for _, m := range ops.acks {
				_ = m.InProgress()
			}
			select {
			case <-time.After(time.Duration(min(try, 5)) * time.Second):
			case <-ctx.Done():
			}
		}
	}()
}

// wait waits for the lane's background write, if any.
func (l *laneRun) wait() {
	if l.writing != nil {
		<-l.writing
		l.writing = nil
	}
}

// renew extends the lane's lease once half of it is gone, so that an
// attempt or a write started now ends inside it; false means the lane is
// lost or the lease could not be renewed.
func (l *laneRun) renew(ctx context.Context) bool {
	d := l.d
	now := d.cfg.Now().UTC()
	if l.lost {
		return false
	}
	if l.leaseEnd.Sub(now) >= d.cfg.LeaseDuration/2 {
		return true
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	ok, err := d.store.renewLane(rctx, l.subID, d.owner, l.epoch, now.Add(d.cfg.LeaseDuration))
	switch {
	case err != nil:
		d.cfg.Logger.Warn("webhook: renew lane", "subscription_id", l.subID, "err", err)
		return l.leaseEnd.Sub(d.cfg.Now()) >= d.cfg.LeaseDuration/2
	case !ok:
		// Another edge took the lane over: it owns the release.
		l.lost = true
		return false
	}
	l.leaseEnd = now.Add(d.cfg.LeaseDuration)
	return true
}

// result is what an attempt got.
type result struct {
	code    int
	latency time.Duration
	err     error
	class   string
}

// healthy reports whether the receiver looked alive, for its breaker: it
// answered, with anything but a server error or 429.
func (r result) healthy() bool {
	return r.class == "refused" || r.code != 0 && r.code < 500 && r.code != http.StatusTooManyRequests
}

// attempt POSTs a delivery once.
func (d *Deliverer) attempt(ctx context.Context, h *hook, dl *Delivery) result {
	if err := d.policy.CheckURL(h.url); err != nil {
		d.m.attempts.WithLabelValues("refused").Inc()
		return result{err: err, class: "refused"}
	}
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, h.url, bytes.NewReader(dl.Body))
	if err != nil {
		d.m.attempts.WithLabelValues("refused").Inc()
		return result{err: fmt.Errorf("%w: %w", ErrRefused, err), class: "refused"}
	}
	hd := req.Header
	hd.Set("Content-Type", "application/json")
	hd.Set("User-Agent", userAgent)
	hd.Set(HeaderSignature, Sign(h.secret, d.cfg.Now().Unix(), dl.Body))
	hd.Set(HeaderEventID, dl.EventID)
	hd.Set(HeaderSubscriptionID, dl.SubscriptionID)
	hd.Set(HeaderDeliveryID, dl.ID)
	hd.Set(HeaderAttempt, strconv.Itoa(dl.Attempts+1))
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		r := result{latency: time.Since(start), err: err, class: "error"}
		switch {
		case errors.Is(err, ErrRefused):
			r.class = "refused"
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			r.class = "timeout"
			r.err = fmt.Errorf("no response within %s; the receiver may have processed it", d.cfg.Timeout)
		}
		d.m.attempts.WithLabelValues(r.class).Inc()
		d.m.latency.Observe(r.latency.Seconds())
		return r
	}
	// Only a bounded prefix of the body is read: a receiver's answer
	// carries nothing the deliverer needs, and it may be huge.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, d.cfg.MaxResponseBytes))
	_ = resp.Body.Close()
	r := result{code: resp.StatusCode, latency: time.Since(start), class: strconv.Itoa(resp.StatusCode/100) + "xx"}
	switch {
	case r.code >= 200 && r.code < 300:
	case r.code >= 300 && r.code < 400:
		r.err = fmt.Errorf("redirect to %q not followed; configure the final URL", resp.Header.Get("Location"))
	default:
		r.err = fmt.Errorf("receiver answered %d %s", r.code, http.StatusText(r.code))
	}
	d.m.attempts.WithLabelValues(r.class).Inc()
	d.m.latency.Observe(r.latency.Seconds())
	return r
}

// outcome adds to ops what records an attempt: the update of a delivery
// staying queued for a retry, or the finished delivery. It returns the
// delivery's new status and, when pending, its next attempt.
func (d *Deliverer) outcome(ops *writeOps, dl *Delivery, r result) (string, time.Time) {
	now := d.cfg.Now().UTC()
	att := Attempt{At: now, Attempt: dl.Attempts + 1, StatusCode: r.code, LatencyMS: r.latency.Milliseconds(), Edge: d.owner}
	if r.err != nil {
		att.Error = r.err.Error()
	}
	status, next := StatusSucceeded, time.Time{}
	switch {
	case r.err == nil:
	case r.code == http.StatusGone:
		status = StatusFailed
		att.Error = "receiver answered 410 Gone: the webhook is disabled"
	case r.class == "refused":
		status = StatusFailed
	case dl.RoundAttempts >= len(d.cfg.Schedule):
		status = StatusDead
		d.m.dead.Inc()
	default:
		status = StatusPending
		next = now.Add(jitter(d.cfg.Schedule[dl.RoundAttempts]))
	}
	if status == StatusPending && dl.held {
		// From the inbox: queued, with this attempt, for its retry.
		q := *dl
		q.Status, q.Last, q.UpdatedAt, q.NextAttemptAt = status, &att, now, next
		q.Attempts++
		q.RoundAttempts++
		q.Log = append(slices.Clip(dl.Log), att)
		q.held, q.msg, q.check = false, nil, false
		ops.pending = append(ops.pending, &q)
		if dl.msg != nil {
			ops.acks = append(ops.acks, dl.msg)
		}
		return status, next
	}
	if status == StatusPending {
		ops.updates = append(ops.updates, updateByID(dl.ID).SetUpdate(bson.M{
			"$set":  bson.M{"status": status, "last": att, "updated_at": now, "next_attempt_at": next},
			"$inc":  bson.M{"attempts": 1, "round_attempts": 1},
			"$push": bson.M{"attempts_log": att},
		}))
		return status, next
	}
	f := *dl
	f.Status, f.Last, f.UpdatedAt = status, &att, now
	f.Attempts++
	f.RoundAttempts++
	f.Log = append(slices.Clip(dl.Log), att)
	ops.finish(&f)
	return status, next
}

// finished returns dl ended without an attempt.
func finished(dl *Delivery, status, reason string, now time.Time) *Delivery {
	f := *dl
	f.Status, f.UpdatedAt = status, now
	f.Last = &Attempt{At: now, Attempt: dl.Attempts, Error: reason}
	return &f
}

// jitter spreads a wait by ±10 %, so receivers coming back are not hit by
// every retry at once.
func jitter(d time.Duration) time.Duration {
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(mrand.Int64N(spread+1))
}

// disable records that the webhook at url answered 410 Gone, and tells
// every edge.
func (d *Deliverer) disable(ctx context.Context, subID, url string) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	var s subscription.Subscription
	err := d.cfg.DB.Collection(store.Subscriptions).FindOneAndUpdate(wctx,
		bson.M{"_id": subID, "webhook.url": url},
		bson.M{"$set": bson.M{disabledField: bson.M{"url": url, "at": d.cfg.Now().UTC(), "reason": "410 Gone"}}, "$inc": bson.M{"version": 1}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&s)
	if err != nil {
		if !errors.Is(err, mongo.ErrNoDocuments) {
			d.cfg.Logger.Error("webhook: disable", "subscription_id", subID, "err", err)
		}
		return
	}
	d.cfg.Logger.Info("webhook disabled: receiver answered 410 Gone", "subscription_id", subID)
	d.changed(s)
}

// enable clears a 410's disabling of a subscription's webhook.
func (d *Deliverer) enable(ctx context.Context, subID string) error {
	var s subscription.Subscription
	err := d.cfg.DB.Collection(store.Subscriptions).FindOneAndUpdate(ctx,
		bson.M{"_id": subID, disabledField: bson.M{"$exists": true}},
		bson.M{"$unset": bson.M{disabledField: ""}, "$inc": bson.M{"version": 1}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&s)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("webhook: enable: %w", err)
	}
	d.changed(s)
	return nil
}

// changed drops the cached webhook here and tells the other edges.
func (d *Deliverer) changed(s subscription.Subscription) {
	d.hooks.invalidate(s.ID)
	b, err := json.Marshal(bus.SubscriptionChange{Op: bus.OpUpsert, SubscriptionID: s.ID, Tenant: s.Tenant, Version: s.Version})
	if err == nil {
		err = d.cfg.NATS.Publish(bus.SubscriptionsSubject, b)
	}
	if err != nil {
		d.cfg.Logger.Warn("webhook: publish change", "subscription_id", s.ID, "err", err)
	}
}

// List returns a page of a subscription's deliveries in cursor order and
// the id to continue after, or "" at the end. The caller checks that the
// subscription is the tenant's.
func (d *Deliverer) List(ctx context.Context, subID string, q ListQuery) ([]View, string, error) {
	return d.store.list(ctx, subID, q)
}

// Retry makes a delivery due now with a fresh retry schedule, whatever its
// status, and enables a webhook a 410 disabled.
func (d *Deliverer) Retry(ctx context.Context, subID, deliveryID string) (*View, error) {
	if err := d.enable(ctx, subID); err != nil {
		return nil, err
	}
	v, err := d.store.resend(ctx, subID, deliveryID, d.cfg.Now().UTC())
	if err != nil {
		return nil, err
	}
	d.wake(ctx, subID)
	return v, nil
}

// Replay makes the stored events of a subscription after cursor after due
// again, at most [MaxReplay] of them, creating the deliveries missing. It
// returns how many, and the cursor to replay after next, or "" when there
// are no more.
func (d *Deliverer) Replay(ctx context.Context, subID, after string) (int, string, error) {
	d.hooks.invalidate(subID)
	h, err := d.hooks.get(ctx, subID)
	if err != nil {
		return 0, "", err
	}
	if h == nil {
		return 0, "", ErrNoWebhook
	}
	if err := d.enable(ctx, subID); err != nil {
		return 0, "", err
	}
	n, last, err := d.store.replay(ctx, subID, after, MaxReplay, d.cfg.Now().UTC())
	if err != nil {
		return 0, "", err
	}
	d.wake(ctx, subID)
	if n < MaxReplay {
		last = ""
	}
	return n, last, nil
}

// wake ends a parked lane's wait here and in MongoDB, and starts it here
// when Run runs.
func (d *Deliverer) wake(ctx context.Context, subID string) {
	if err := d.store.wakeLane(ctx, subID, d.cfg.Now().UTC()); err != nil {
		d.cfg.Logger.Warn("webhook: wake lane", "subscription_id", subID, "err", err)
	}
	d.mu.Lock()
	delete(d.notBefore, subID)
	runCtx := d.runCtx
	d.mu.Unlock()
	if runCtx != nil && runCtx.Err() == nil {
		d.kick(runCtx, subID, true)
	}
}
