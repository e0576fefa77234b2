// Package stream is the edge's WebSocket stream (docs/api.md "WebSocket
// stream"): it replays a subscription's events after a cursor — from the
// JetStream events stream as far as the ingest's links vouch for it, then
// from MongoDB — and then forwards the live events the ingest publishes
// on NATS, with no gap and no duplicate at the seam.
//
// Each connection has one reader and one sender goroutine, and only they
// touch the socket; the sender alone drains the connection's queue and
// writes. Everyone else (NATS fan-out, subscription deletion, key
// revocation, shutdown, slow-consumer eviction) cancels the connection's
// context with a [Disconnect] as the cause, and the sender tears the
// connection down once.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/bus"
)

// Defaults of [Config]'s zero values.
const (
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultPingInterval      = 25 * time.Second
	DefaultPongTimeout       = 10 * time.Second
	DefaultQueueMaxBytes     = 1 << 20
	DefaultQueueMaxMessages  = 4096
	DefaultMaxConns          = 100_000
	DefaultReplayBatch       = 500
	DefaultBrokerGrace       = 5 * time.Second
	DefaultFillTimeout       = 10 * time.Second
	// closeWait bounds how long Close waits for the peer's close frame.
	closeWait = time.Second
)

// Config configures a [Hub].
type Config struct {
	// NATS is the connection events and control messages arrive on. It
	// is required; the caller owns it.
	NATS *nats.Conn
	// DB is the database holding store.Events, for replay. It is
	// required; the caller owns it.
	DB *mongo.Database
	// Logger receives the hub's logs. Nil discards them.
	Logger *slog.Logger
	// Registerer receives the hub's metrics. Nil registers none.
	Registerer prometheus.Registerer

	// HeartbeatInterval is how often a stream gets a heartbeat frame; it
	// is announced in the hello as heartbeat_s (whole seconds, so values
	// under a second are sent as 0). Zero means
	// [DefaultHeartbeatInterval] (15 s).
	HeartbeatInterval time.Duration
	// WriteTimeout bounds one write pass to a socket: a pass that has not
	// finished within it (at least half of it, as the deadline is moved
	// only when less than half is left) closes the stream. Zero means
	// [DefaultWriteTimeout] (10 s).
	WriteTimeout time.Duration
	// PingInterval is how often the server pings a client. Zero means
	// [DefaultPingInterval] (25 s).
	PingInterval time.Duration
	// PongTimeout is how long after a ping is due the client may stay
	// silent before the stream closes (1001): the read deadline is
	// PingInterval+PongTimeout past the last frame read. Zero means
	// [DefaultPongTimeout] (10 s).
	PongTimeout time.Duration

	// QueueMaxBytes is the most a stream's outgoing queue may hold; one
	// more message closes it with 4008. Zero means
	// [DefaultQueueMaxBytes] (1 MiB).
	QueueMaxBytes int
	// QueueMaxMessages is the most messages a stream's queue may hold.
	// Zero means [DefaultQueueMaxMessages] (4096).
	QueueMaxMessages int
	// MaxConns is the most streams this hub serves at once; the next one
	// is closed with 4029 right after the upgrade. Zero means
	// [DefaultMaxConns] (100,000); negative means no limit.
	MaxConns int
	// ReplayBatch is how many events a replay reads and writes at a time
	// (the batch of a MongoDB query, the pull of the events stream).
	// Zero means [DefaultReplayBatch] (500).
	ReplayBatch int

	// BrokerGrace is how long streams stay open while the NATS connection
	// is down and reconnecting; on reconnect each subscription fills what
	// it missed from history, and past the grace every stream closes
	// with 1012 so its client resumes elsewhere. Zero means
	// [DefaultBrokerGrace] (5 s).
	BrokerGrace time.Duration
	// FillTimeout bounds how long a subscription may keep failing to read
	// history while it fills a gap in its live events; past it, its
	// streams close with 1012. Zero means [DefaultFillTimeout] (10 s).
	FillTimeout time.Duration
}

// RegisterFlags registers the stream.* flags: the bounds of the live
// path's fault handling.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.BrokerGrace, "stream.broker-grace", DefaultBrokerGrace, "how long streams stay open while NATS reconnects; past it they close with 1012")
	fs.DurationVar(&c.FillTimeout, "stream.fill-timeout", DefaultFillTimeout, "how long a gap in the live events may fail to fill from history before its streams close with 1012")
}

// Validate reports the flag values out of range.
func (c *Config) Validate() error {
	var errs []error
	if c.BrokerGrace < 0 {
		errs = append(errs, fmt.Errorf("config: stream.broker-grace %s is negative", c.BrokerGrace))
	}
	if c.FillTimeout < 0 {
		errs = append(errs, fmt.Errorf("config: stream.fill-timeout %s is negative", c.FillTimeout))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(i *int, v int) {
		if *i <= 0 {
			*i = v
		}
	}
	def(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.PongTimeout, DefaultPongTimeout)
	defInt(&c.QueueMaxBytes, DefaultQueueMaxBytes)
	defInt(&c.QueueMaxMessages, DefaultQueueMaxMessages)
	defInt(&c.ReplayBatch, DefaultReplayBatch)
	def(&c.BrokerGrace, DefaultBrokerGrace)
	def(&c.FillTimeout, DefaultFillTimeout)
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Request is one authenticated stream request.
type Request struct {
	// SubscriptionID is the subscription to stream; the caller checked
	// that it exists and belongs to Tenant.
	SubscriptionID string
	// Tenant owns the subscription.
	Tenant string
	// KeyID is the API key the request authenticated with; revoking it
	// closes the stream with 1008.
	KeyID string
	// After is the cursor to resume after, already validated, or "" for
	// live events only.
	After string
}

// Hub serves the WebSocket streams of one edge process.
type Hub struct {
	cfg      Config
	broker   Broker
	history  History
	log      *slog.Logger
	metrics  *metrics
	upgrader websocket.Upgrader
	// frames pools the buffers streams frame their writes into.
	frames *sync.Pool
	// tickOnce starts the ticker that tells every stream to check its
	// heartbeat and ping: one for the hub, where a ticker per stream
	// would hold a timer per idle stream.
	tickOnce sync.Once
	// beat is the heartbeat frame of the latest tick, built once for
	// every stream it is due on.
	beat  atomic.Pointer[[]byte]
	head  atomic.Int64
	solid atomic.Int64
	// running is closed once Run listens to the control subjects.
	running     chan struct{}
	runningOnce sync.Once
	// ctx is the parent of every topic's context; closing the hub ends
	// it, with the Disconnect its streams get as the cause.
	ctx    context.Context
	cancel context.CancelCauseFunc

	// bgMu guards bgClosed and the Add of bg: the topics' fills, which
	// Close waits for.
	bgMu     sync.Mutex
	bgClosed bool
	bg       sync.WaitGroup

	mu     sync.Mutex
	closed bool // after Shutdown or Close: new streams get 1012
	// brokerDown is set while the NATS connection is down; new streams
	// get 1012, and grace closes the open ones if it lasts.
	brokerDown bool
	grace      *time.Timer
	conns      map[*conn]struct{}
	topics     map[string]*topic
	byKey      map[string]map[*conn]struct{}
	wg         sync.WaitGroup // both goroutines of every registered conn
	// refusals tracks the goroutines closing refused streams (4029,
	// 1012); each ends within the close wait.
	refusals sync.WaitGroup
}

// New returns a hub; call [Hub.Run] to follow the control subjects and
// [Hub.Shutdown] or [Hub.Close] to end it.
func New(cfg Config) (*Hub, error) {
	return newNATSHub(cfg, func(b Broker) Broker { return b })
}

// newNATSHub is New with the NATS broker passed through wrap, so tests can
// put faults between NATS and the hub.
func newNATSHub(cfg Config, wrap func(Broker) Broker) (*Hub, error) {
	if cfg.NATS == nil {
		return nil, errors.New("stream: Config.NATS is required")
	}
	if cfg.DB == nil {
		return nil, errors.New("stream: Config.DB is required")
	}
	js, err := jetstream.New(cfg.NATS)
	if err != nil {
		return nil, fmt.Errorf("stream: jetstream: %w", err)
	}
	hub, err := newHub(cfg, wrap(natsBroker{nc: cfg.NATS, flushTimeout: 5 * time.Second}), newMongoHistory(cfg.DB))
	if err != nil {
		return nil, err
	}
	hub.history = &jetstreamHistory{
		js: js, stream: bus.EventsStream, fallback: hub.history,
		log: hub.log, replays: hub.metrics.replays,
	}
	return hub, nil
}

// newHub is New with its dependencies given, for tests.
func newHub(cfg Config, b Broker, h History) (*Hub, error) {
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	hub := &Hub{
		ctx:     ctx,
		cancel:  cancel,
		cfg:     cfg,
		broker:  b,
		history: h,
		log:     cfg.Logger,
		metrics: m,
		running: make(chan struct{}),
		conns:   make(map[*conn]struct{}),
		topics:  make(map[string]*topic),
		byKey:   make(map[string]map[*conn]struct{}),
	}
	hub.frames = newFramePool()
	hub.upgrader = websocket.Upgrader{
		// Only the handshake is gorilla's (wsTransport frames and parses
		// itself), so its connection needs no buffers of its own: with
		// no read buffer size it reuses the HTTP server's reader, and its
		// write buffer would come from this pool, which it never takes.
		WriteBufferSize: 256,
		WriteBufferPool: &sync.Pool{},
		// The caller authenticated the request (API key or ?token=),
		// and the stream exposes nothing a cross-origin page could not
		// get with the same key over REST.
		CheckOrigin: func(*http.Request) bool { return true },
		// Every refusal carries the JSON error body of docs/api.md, this
		// one too: a request that passed every check but is no WebSocket
		// handshake.
		Error: RefuseHandshake,
	}
	return hub, nil
}

// Run listens to subscription deletions (closing their streams with
// 4404), key revocations (1008) and chain heads (for heartbeats) until ctx
// ends; it returns nil then, and an error only when it cannot subscribe.
func (h *Hub) Run(ctx context.Context) error {
	subs := []struct {
		subject string
		handle  func([]byte)
	}{
		{bus.SubscriptionsSubject, h.onSubscriptionChange},
		{bus.KeysSubject, h.onKeyChange},
		{bus.HeadSubject, h.onHead},
	}
	for _, s := range subs {
		sub, err := h.broker.Subscribe(s.subject, func(m Message) { s.handle(m.Data) })
		if err != nil {
			return fmt.Errorf("stream: run: %w", err)
		}
		defer sub.Unsubscribe()
	}
	h.runningOnce.Do(func() { close(h.running) })
	t := time.NewTicker(dropCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			h.checkDropped()
		}
	}
}

// dropCheckInterval is how often the topics' NATS subscriptions are
// asked whether they dropped messages.
const dropCheckInterval = time.Second

// checkDropped makes every topic whose NATS subscription dropped messages
// since it last looked fill what it missed: the client reports a slow
// consumer once per episode, and a drop with no later message to show a
// broken link would otherwise wait for the subscription's next event.
func (h *Hub) checkDropped() {
	h.mu.Lock()
	topics := make([]*topic, 0, len(h.topics))
	for _, t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.Unlock()
	for _, t := range topics {
		select {
		case <-t.ready:
		default:
			continue // still starting
		}
		if t.sub == nil {
			continue
		}
		if n := int64(t.sub.Dropped()); n > t.dropped.Load() {
			t.dropped.Store(n)
			h.log.Warn("stream: NATS dropped live events; checking history", "subscription_id", t.id, "dropped", n)
			t.check(gapDropped)
		}
	}
}

// Open returns the API keys and the subscriptions with open streams, for
// a check after a NATS outage (see [Hub.CloseRevoked]).
func (h *Hub) Open() (keyIDs, subscriptionIDs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.byKey {
		keyIDs = append(keyIDs, k)
	}
	for id := range h.topics {
		subscriptionIDs = append(subscriptionIDs, id)
	}
	return keyIDs, subscriptionIDs
}

// CloseRevoked closes the streams of revoked keys with 1008 and those of
// deleted subscriptions with 4404, as the control messages would have: an
// edge calls it with what it finds in MongoDB after a NATS outage, during
// which those messages were lost.
func (h *Hub) CloseRevoked(keyIDs, subscriptionIDs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keyIDs {
		for cn := range h.byKey[k] {
			cn.cancel(DisconnectKeyRevoked)
		}
	}
	for _, id := range subscriptionIDs {
		if t := h.topics[id]; t != nil {
			t.mu.RLock()
			for cn := range t.conns {
				cn.cancel(DisconnectSubscriptionDeleted)
			}
			t.mu.RUnlock()
		}
	}
}

func (h *Hub) onSubscriptionChange(data []byte) {
	var c bus.SubscriptionChange
	if err := json.Unmarshal(data, &c); err != nil {
		h.log.Warn("stream: bad subscription change", "err", err)
		return
	}
	if c.Op != bus.OpDelete {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.topics[c.SubscriptionID]; t != nil {
		t.mu.RLock()
		for cn := range t.conns {
			cn.cancel(DisconnectSubscriptionDeleted)
		}
		t.mu.RUnlock()
	}
}

func (h *Hub) onKeyChange(data []byte) {
	var k bus.KeyChange
	if err := json.Unmarshal(data, &k); err != nil {
		h.log.Warn("stream: bad key change", "err", err)
		return
	}
	if k.Op != bus.OpRevoke {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for cn := range h.byKey[k.KeyID] {
		cn.cancel(DisconnectKeyRevoked)
	}
}

func (h *Hub) onHead(data []byte) {
	var hd bus.Head
	if err := json.Unmarshal(data, &hd); err != nil {
		h.log.Warn("stream: bad head", "err", err)
		return
	}
	h.head.Store(hd.Block)
	h.solid.Store(hd.Solidified)
}

// RefuseHandshake answers a request the WebSocket library refused (no
// Upgrade header, a version other than 13) with the JSON error body;
// the library has set Sec-WebSocket-Version already where it applies.
func RefuseHandshake(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{
		"code":    "websocket_required",
		"message": "this route takes a WebSocket handshake: " + reason.Error(),
	}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Serve upgrades r to a WebSocket stream for req and returns at once; the
// stream runs on its own goroutines. The caller has authenticated r and
// checked the subscription; req.After is a valid cursor or "".
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, req Request) {
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered with an HTTP error.
		h.log.Debug("stream: upgrade failed", "err", err)
		return
	}
	t := newWSTransport(ws, wsTransportConfig{
		WriteTimeout: h.cfg.WriteTimeout,
		ReadTimeout:  h.cfg.PingInterval + h.cfg.PongTimeout,
		CloseWait:    closeWait,
		Frames:       h.frames,
	})
	h.serveTransport(t, req)
}

// pingNotifier is implemented by transports that pass client pings to the
// sender to answer.
type pingNotifier interface {
	setPingHandler(func(payload []byte))
}

// serveTransport starts a stream on t; it returns the connection, or nil
// when the stream was refused (and t closed).
func (h *Hub) serveTransport(t Transport, req Request) *conn {
	h.mu.Lock()
	var refuse *Disconnect
	switch {
	case h.closed:
		refuse = &DisconnectServiceRestart
	case h.brokerDown:
		refuse = &DisconnectBrokerLost
	case h.cfg.MaxConns > 0 && len(h.conns) >= h.cfg.MaxConns:
		refuse = &DisconnectTooManyConnections
	}
	if refuse != nil {
		// Nobody else knows this transport: a reader and this closer are
		// its goroutine pair, so the close frame's answer is read and
		// Close returns as soon as the peer replies.
		h.refusals.Add(2)
		h.mu.Unlock()
		go func() {
			defer h.refusals.Done()
			for {
				if err := t.ReadFrame(); err != nil {
					return // closed: the peer's answer, or the transport gave up
				}
			}
		}()
		go func() {
			defer h.refusals.Done()
			t.Close(*refuse)
			h.metrics.closed(*refuse)
		}()
		return nil
	}
	tp := h.topics[req.SubscriptionID]
	created := tp == nil
	if created {
		// The topic outlives this request: its id must not keep the
		// request's memory (the id may be a slice of the request line).
		tp = newTopic(h, strings.Clone(req.SubscriptionID))
		h.topics[tp.id] = tp
	}
	// Nor may the stream: it shares its topic's id, and copies the
	// cursor.
	req.SubscriptionID, req.After = tp.id, strings.Clone(req.After)
	c := newConn(h, t, req)
	h.conns[c] = struct{}{}
	keyConns := h.byKey[req.KeyID]
	if keyConns == nil {
		keyConns = make(map[*conn]struct{})
		h.byKey[req.KeyID] = keyConns
	}
	keyConns[c] = struct{}{}
	tp.add(c)
	c.subscribes = created
	c.topic = tp
	if pn, ok := t.(pingNotifier); ok {
		pn.setPingHandler(c.requestPong)
	}
	h.wg.Add(2)
	h.mu.Unlock()
	h.tickOnce.Do(func() { h.goBackground(h.tick) })
	h.metrics.connections.Inc()
	go c.readLoop()
	go c.sendLoop()
	return c
}

// tick wakes, every tickPeriod until the hub closes, each stream whose
// heartbeat or ping is due within half a period. One ticker for the hub:
// a ticker per stream would hold a timer per idle stream, and the sweep
// reads an atomic per stream, waking only those with something to write.
func (h *Hub) tick() {
	p := h.tickPeriod()
	t := time.NewTicker(p)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-t.C:
			msg := heartbeatMessage(h.head.Load(), h.solid.Load(), now)
			h.beat.Store(&msg)
			soon := now.Add(p / 2).UnixNano()
			h.mu.Lock()
			for c := range h.conns {
				if c.due.Load() <= soon {
					c.ticked.Store(true)
					c.signal()
				}
			}
			h.mu.Unlock()
		}
	}
}

// tickPeriod is the period of the hub's ticker: a heartbeat or ping
// comes within half of it of its time.
func (h *Hub) tickPeriod() time.Duration {
	return min(h.cfg.HeartbeatInterval, h.cfg.PingInterval) / 4
}

// remove takes c out of the hub's indexes (teardown step 4). It reports
// whether c was the last local stream of its topic, whose NATS
// subscription the caller must then drop.
func (h *Hub) remove(c *conn) (last bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
	if kc := h.byKey[c.req.KeyID]; kc != nil {
		delete(kc, c)
		if len(kc) == 0 {
			delete(h.byKey, c.req.KeyID)
		}
	}
	if c.topic.remove(c) == 0 {
		if h.topics[c.topic.id] == c.topic {
			delete(h.topics, c.topic.id)
		}
		return true
	}
	return false
}

// Shutdown closes every stream with 1012 and waits for them to finish
// (bounded by ctx). Streams requested afterwards are closed with 1012 at
// once.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.closeAll(DisconnectServiceRestart)
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stream: shutdown: %w", ctx.Err())
	}
}

// Close closes every stream with 1001 (those not already closing) and
// waits for their goroutines, each bounded by the write timeout. Call it
// once the HTTP server no longer calls [Hub.Serve].
func (h *Hub) Close() {
	h.closeAll(DisconnectGoingAway)
	h.wg.Wait()
	h.refusals.Wait()
	h.bgMu.Lock()
	h.bgClosed = true
	h.bgMu.Unlock()
	h.cancel(DisconnectGoingAway)
	h.bg.Wait()
	h.mu.Lock()
	if h.grace != nil {
		h.grace.Stop()
	}
	h.mu.Unlock()
}

// goBackground runs fn on a goroutine Close waits for; it reports false
// (and runs nothing) once Close has begun.
func (h *Hub) goBackground(fn func()) bool {
	h.bgMu.Lock()
	defer h.bgMu.Unlock()
	if h.bgClosed {
		return false
	}
	h.bg.Go(fn)
	return true
}

// retryHistory runs fn until it succeeds, ctx ends, it returns a
// [Disconnect] (a decision, not a failure of history), or it has failed
// for longer than the fill timeout, with a backoff in between.
func (h *Hub) retryHistory(ctx context.Context, subscriptionID, what string, fn func(context.Context) error) error {
	wait := mendMinBackoff
	deadline := time.Now().Add(h.cfg.FillTimeout)
	for {
		err := fn(ctx)
		var d Disconnect
		if err == nil || ctx.Err() != nil || errors.As(err, &d) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream: %s: %w", what, err)
		}
		h.log.Warn("stream: history failed; retrying", "subscription_id", subscriptionID, "op", what, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, mendMaxBackoff)
	}
}

// BrokerDisconnected tells the hub its NATS connection is down (wire it to
// the connection's disconnect handler). Open streams stay open for
// [Config.BrokerGrace] while the client reconnects; past it they close
// with 1012. New streams are refused with 1012 until it is back.
func (h *Hub) BrokerDisconnected(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.brokerDown || h.closed {
		return
	}
	h.brokerDown = true
	h.metrics.brokerDisconnects.Inc()
	h.log.Warn("stream: NATS connection lost; streams wait for it", "err", err, "grace", h.cfg.BrokerGrace, "streams", len(h.conns))
	if h.grace != nil {
		h.grace.Stop()
	}
	h.grace = time.AfterFunc(h.cfg.BrokerGrace, h.brokerLost)
}

// brokerLost closes every stream once the grace after a disconnect ran
// out with NATS still down.
func (h *Hub) brokerLost() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.brokerDown {
		return
	}
	n := 0
	for c := range h.conns {
		if c.ctx.Err() == nil {
			n++
		}
		c.cancel(DisconnectBrokerLost)
	}
	h.metrics.brokerCloses.Add(float64(n))
	h.log.Warn("stream: NATS still down after the grace; streams closed with 1012", "grace", h.cfg.BrokerGrace, "streams", n)
}

// BrokerReconnected tells the hub its NATS connection is back (wire it to
// the connection's reconnect handler). Each subscription with local
// streams asks history for its newest event (one request each) and fills
// what it missed while the connection was down.
func (h *Hub) BrokerReconnected() {
	h.mu.Lock()
	if !h.brokerDown {
		h.mu.Unlock()
		return
	}
	h.brokerDown = false
	if h.grace != nil {
		h.grace.Stop()
	}
	topics := make([]*topic, 0, len(h.topics))
	for _, t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.Unlock()
	h.metrics.brokerReconnects.Inc()
	h.log.Warn("stream: NATS connection back; checking each subscription for missed events", "subscriptions", len(topics))
	for _, t := range topics {
		t.check(gapReconnect)
	}
}

// BrokerDropped tells the hub that the NATS client dropped messages of
// subject (wire it to the connection's error handler, for
// nats.ErrSlowConsumer). If subject is a subscription's events, that
// subscription fills what it missed from history.
func (h *Hub) BrokerDropped(subject string) {
	id := bus.SubscriptionFromSubject(subject)
	if id == "" {
		return
	}
	h.mu.Lock()
	t := h.topics[id]
	h.mu.Unlock()
	if t != nil {
		h.log.Warn("stream: NATS dropped live events; checking history", "subscription_id", id)
		t.check(gapDropped)
	}
}

func (h *Hub) closeAll(d Disconnect) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		// Every topic's fill (or start) stops: its streams are closing.
		h.cancel(d)
	}
	for c := range h.conns {
		c.cancel(d)
	}
}

// closeReason returns the Disconnect the hub is closing its streams with,
// and false while it is not closing.
func (h *Hub) closeReason() (Disconnect, bool) {
	var d Disconnect
	if h.ctx.Err() == nil || !errors.As(context.Cause(h.ctx), &d) {
		return Disconnect{}, false
	}
	return d, true
}

// count returns the number of registered streams.
func (h *Hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// closing returns the number of registered streams that were asked to
// close and have not finished.
func (h *Hub) closing() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for c := range h.conns {
		if c.ctx.Err() != nil {
			n++
		}
	}
	return n
}
