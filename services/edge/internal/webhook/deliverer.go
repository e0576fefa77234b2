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
//
// One job per file:
//
//   - deliverer.go: the [Deliverer], its configuration at run time, and
//     Run with its background loops (gauges, retention sweep).
//   - intake.go: taking messages from the shared JetStream consumer.
//   - chain.go: checking each message's link and filling gaps from history.
//   - inbox.go: the events an edge holds in memory, and spilling them to
//     the queue in MongoDB.
//   - schedule.go: which lane runs, here, and when (kick, poll, tenure).
//   - lane.go: one tenure of a lane, delivering in cursor order.
//   - flush.go: writing a lane's outcomes and settling their messages.
//   - attempt.go: one signed POST, and what it got.
//   - outcome.go: what an attempt makes of its delivery (the retry
//     schedule, the dead letter, 410).
//   - admin.go: what the REST API calls: list, retry, replay, and the
//     disabling and enabling of a webhook.
//   - delivery.go: a delivery and its record of attempts, as stored and
//     as the API shows it.
//   - store.go, store_write.go, store_admin.go, writer.go, reader.go: the
//     deliveries and lanes in MongoDB: reads, outcome writes, and the
//     admin operations' writes.
//   - hooks.go: the cache of subscriptions' webhooks.
//   - dialer.go, breaker.go: the target policy, and a circuit breaker
//     and concurrency cap per receiver.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/lease"
	"github.com/mongotron/mongotron/pkg/store"
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
	// one, as it could if two edges took messages side by side.
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
	cfg   Config
	js    jetstream.JetStream
	store mongoStore
	// leases holds a lease per subscription: its lane, held by the edge
	// delivering its webhook.
	leases *lease.Store
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
	lanes, err := newLanes(cfg.DB, cfg.Now)
	if err != nil {
		return nil, err
	}
	st := mongoStore{db: cfg.DB, lanes: lanes, pages: store.NewPages(cfg.DB)}
	p := policy{allowHTTP: cfg.AllowHTTPHosts, allowPrivate: cfg.AllowPrivate}
	return &Deliverer{
		cfg:       cfg,
		js:        js,
		store:     st,
		leases:    lanes,
		writer:    &groupWriter{store: st, timeout: cfg.LeaseDuration / 2},
		reader:    newQueueReader(st),
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
