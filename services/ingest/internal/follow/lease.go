package follow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/store"
)

// LeaseID names the ingest leader lease in store.Leases: each tenure is a
// document with the _id LeaseID#<token> (see [TenureID]).
const LeaseID = "ingest"

// TenureID returns the _id of the lease's tenure with the given token. The
// token is zero-padded, so ids sort in token order.
func TenureID(token int64) string { return fmt.Sprintf("%s#%016d", LeaseID, token) }

// DefaultLeaseTTL is how long a lease lasts without renewal unless
// configured: two missed renewals (every TTL/3) still keep it.
const DefaultLeaseTTL = 6 * time.Second

// ErrNotLeader is returned by [Lease.Acquire] when another ingest holds an
// unexpired lease.
var ErrNotLeader = errors.New("follow: the lease is held by another ingest")

// leaseDoc is one tenure of the lease in store.Leases. Token grows by one
// at every acquisition, by whoever acquires: it is the fencing token every
// checkpoint write carries. The tenure with the highest token is the
// lease.
type leaseDoc struct {
	ID        string    `bson:"_id"`
	Lease     string    `bson:"lease"`
	Holder    string    `bson:"holder"`
	Token     int64     `bson:"token"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// LeaseConfig configures a [Lease].
type LeaseConfig struct {
	// DB holds store.Leases. Required.
	DB *mongo.Database
	// Logger receives the lease's logs. Nil discards them.
	Logger *slog.Logger
	// Registerer receives the leadership metrics. Nil registers nothing.
	Registerer prometheus.Registerer

	// Holder names this process in the lease document. Empty means
	// hostname-pid-random, unique per process: two ingests must never
	// share one.
	Holder string
	// TTL is how long the lease lasts without renewal. Zero means
	// [DefaultLeaseTTL].
	TTL time.Duration
	// RenewInterval is how often the leader renews, and how often a
	// standby tries to acquire. Zero means TTL/3.
	RenewInterval time.Duration

	// KeepOnStop leaves the lease to expire when Run stops instead of
	// releasing it, as a crash would. Tests use it to prove a takeover
	// after a crash.
	KeepOnStop bool
}

// Lease is the ingest leader lease. It is taken by inserting the next
// tenure, a document whose _id carries the new token: of two ingests taking
// it at once exactly one insert succeeds, on MongoDB and on FerretDB alike
// (FerretDB has no transactions, and applies an update as a read then a
// write, so a conditional update is no compare-and-set there: two ingests
// could both take an expired lease with the same token). Only the holder
// of a tenure writes to it afterwards (renewal, release).
//
// Why a paused old leader cannot commit after losing the lease: every
// checkpoint write is (1) preceded by [Term.Check], which reads the lease
// and requires the newest tenure to be ours and unexpired, and (2)
// itself conditional on the checkpoint's fence being at most our token. A
// new leader acquires with token+1 and, before it reads the checkpoint,
// stamps that token on it ([Follower] does this at start). An old leader
// that passed its check and then paused (GC, SIGSTOP, a slow network)
// wakes up to a checkpoint whose fence is above its token, so its write
// matches nothing and fails with [ErrFenced]; if it wakes before the stamp,
// its write lands before the new leader reads the checkpoint, which then
// resumes after it. Either way each block is committed once. Clocks only
// decide when a lease expires (liveness), never whether a write is
// accepted (safety).
type Lease struct {
	cfg    LeaseConfig
	log    *slog.Logger
	leader atomic.Bool
	token  atomic.Int64

	mLeader  prometheus.Gauge
	mToken   prometheus.Gauge
	mChanges prometheus.Counter
}

// NewLease checks cfg and returns a lease. It does no I/O.
func NewLease(cfg LeaseConfig) (*Lease, error) {
	if cfg.DB == nil {
		return nil, errors.New("follow: lease: DB is required")
	}
	if cfg.TTL < 0 || cfg.RenewInterval < 0 {
		return nil, errors.New("follow: lease: negative TTL or renew interval")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultLeaseTTL
	}
	if cfg.RenewInterval == 0 {
		cfg.RenewInterval = cfg.TTL / 3
	}
	if cfg.RenewInterval >= cfg.TTL {
		return nil, fmt.Errorf("follow: lease: renew interval %s must be below the TTL %s", cfg.RenewInterval, cfg.TTL)
	}
	if cfg.Holder == "" {
		cfg.Holder = defaultHolder()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Lease{
		cfg: cfg, log: cfg.Logger,
		mLeader:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongotron_ingest_leader", Help: "1 while this ingest holds the leader lease, 0 on standby."}),
		mToken:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongotron_ingest_lease_token", Help: "Fencing token of the lease this ingest last acquired."}),
		mChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_leadership_changes_total", Help: "Times this ingest became leader or stepped down."}),
	}
	if cfg.Registerer != nil {
		if err := errors.Join(cfg.Registerer.Register(l.mLeader), cfg.Registerer.Register(l.mToken), cfg.Registerer.Register(l.mChanges)); err != nil {
			return nil, fmt.Errorf("follow: lease metrics: %w", err)
		}
	}
	return l, nil
}

func defaultHolder() string {
	host, err := os.Hostname()
	if err != nil {
		host = "ingest"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Holder returns the name this lease writes in the document.
func (l *Lease) Holder() string { return l.cfg.Holder }

// IsLeader reports whether this ingest currently leads.
func (l *Lease) IsLeader() bool { return l.leader.Load() }

// Token returns the fencing token of the last acquisition, 0 before one.
func (l *Lease) Token() int64 { return l.token.Load() }

// Term is one tenure of the lease, from an acquisition until it is lost or
// released. It implements [Fence] for the follower of that tenure.
type Term struct {
	l     *Lease
	token int64

	mu      sync.Mutex
	expires time.Time // by our monotonic clock

	lost     chan struct{}
	loseOnce sync.Once
}

// Token implements [Fence].
func (t *Term) Token() int64 { return t.token }

// Lost returns a channel closed once the term is over: the follower then
// aborts the block in hand at once instead of finishing it.
func (t *Term) Lost() <-chan struct{} { return t.lost }

func (t *Term) lose() { t.loseOnce.Do(func() { close(t.lost) }) }

func (t *Term) isLost() bool {
	select {
	case <-t.lost:
		return true
	default:
		return false
	}
}

func (t *Term) extend(until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expires = until
}

func (t *Term) expiry() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expires
}

// Check implements [Fence]: the term must be live by our clock and the
// lease document must still name us, with our token, unexpired.
func (t *Term) Check(ctx context.Context) error {
	now := time.Now()
	if t.isLost() || !now.Before(t.expiry()) {
		t.lose()
		return fmt.Errorf("follow: lease token %d expired: %w", t.token, ErrFenced)
	}
	d, err := t.l.latest(ctx)
	if err != nil {
		return fmt.Errorf("follow: lease check: %w", err)
	}
	if d == nil || d.Token != t.token || d.Holder != t.l.cfg.Holder || !d.ExpiresAt.After(now.UTC()) {
		t.lose()
		return fmt.Errorf("follow: lease token %d no longer ours: %w", t.token, ErrFenced)
	}
	return nil
}

// latest returns the lease's newest tenure, or nil before the first.
func (l *Lease) latest(ctx context.Context) (*leaseDoc, error) {
	cur, err := l.cfg.DB.Collection(store.Leases).Find(ctx, bson.M{"lease": LeaseID})
	if err != nil {
		return nil, err
	}
	var ds []leaseDoc
	if err := cur.All(ctx, &ds); err != nil {
		return nil, err
	}
	var last *leaseDoc
	for i := range ds {
		if last == nil || ds[i].Token > last.Token {
			last = &ds[i]
		}
	}
	return last, nil
}

// Acquire takes the lease if it is free, expired or already ours, with a
// new fencing token; it returns [ErrNotLeader] when another ingest holds
// it, or took it first.
func (l *Lease) Acquire(ctx context.Context) (*Term, error) {
	start := time.Now()
	now := start.UTC()
	last, err := l.latest(ctx)
	if err != nil {
		return nil, fmt.Errorf("follow: acquire lease: %w", err)
	}
	var token int64 = 1
	if last != nil {
		if last.Holder != l.cfg.Holder && last.ExpiresAt.After(now) {
			return nil, ErrNotLeader
		}
		token = last.Token + 1
	}
	d := leaseDoc{ID: TenureID(token), Lease: LeaseID, Holder: l.cfg.Holder, Token: token, ExpiresAt: now.Add(l.cfg.TTL)}
	_, err = l.cfg.DB.Collection(store.Leases).InsertOne(ctx, d)
	if mongo.IsDuplicateKeyError(err) {
		return nil, ErrNotLeader
	}
	if err != nil {
		return nil, fmt.Errorf("follow: acquire lease: %w", err)
	}
	// Earlier tenures are history; losing this cleanup is harmless.
	_, _ = l.cfg.DB.Collection(store.Leases).DeleteMany(ctx, bson.M{"lease": LeaseID, "token": bson.M{"$lt": token}})
	t := &Term{l: l, token: token, expires: start.Add(l.cfg.TTL), lost: make(chan struct{})}
	return t, nil
}

// Renew extends t by the TTL. It returns an error wrapping [ErrFenced]
// when the lease is no longer ours (a newer tenure), and a plain error
// when MongoDB did not answer.
func (l *Lease) Renew(ctx context.Context, t *Term) error {
	start := time.Now()
	last, err := l.latest(ctx)
	if err != nil {
		return fmt.Errorf("follow: renew lease: %w", err)
	}
	if last == nil || last.Token != t.token || last.Holder != l.cfg.Holder {
		t.lose()
		return fmt.Errorf("follow: lease token %d taken over: %w", t.token, ErrFenced)
	}
	res, err := l.cfg.DB.Collection(store.Leases).UpdateOne(ctx,
		bson.M{"_id": TenureID(t.token)},
		bson.M{"$set": bson.M{"expires_at": start.UTC().Add(l.cfg.TTL)}})
	if err != nil {
		return fmt.Errorf("follow: renew lease: %w", err)
	}
	if res.MatchedCount == 0 {
		t.lose()
		return fmt.Errorf("follow: lease token %d taken over: %w", t.token, ErrFenced)
	}
	t.extend(start.Add(l.cfg.TTL))
	return nil
}

// Release ends t and expires the lease at once, if it is still ours, so a
// standby takes over without waiting for the TTL.
func (l *Lease) Release(ctx context.Context, t *Term) error {
	t.lose()
	_, err := l.cfg.DB.Collection(store.Leases).UpdateOne(ctx,
		bson.M{"_id": TenureID(t.token)},
		bson.M{"$set": bson.M{"expires_at": time.Now().UTC()}})
	if err != nil {
		return fmt.Errorf("follow: release lease: %w", err)
	}
	return nil
}

func (l *Lease) setLeader(on bool, token int64) {
	l.leader.Store(on)
	l.mChanges.Inc()
	if on {
		l.token.Store(token)
		l.mToken.Set(float64(token))
		l.mLeader.Set(1)
	} else {
		l.mLeader.Set(0)
	}
}

// Run campaigns until ctx is done. On standby it tries to acquire every
// RenewInterval; once it leads it runs lead with a context cancelled when
// ctx is done or the lease is lost, and the term as lead's [Fence]. It
// renews every RenewInterval; a renewal that finds another holder, or
// renewals failing until the TTL passes, end the term at once and return
// to standby. When ctx is done it waits for lead to return (the follower
// finishes the block in hand, still under a renewed lease), then releases
// the lease unless KeepOnStop. An error from lead other than [ErrFenced]
// also releases the lease and is returned.
func (l *Lease) Run(ctx context.Context, lead func(ctx context.Context, fence *Term) error) error {
	for {
		t, err := l.campaign(ctx)
		if err != nil {
			return nil // ctx done on standby
		}
		err = l.serve(ctx, t, lead)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, ErrFenced) {
			return err
		}
	}
}

// campaign waits until it acquires the lease or ctx is done.
func (l *Lease) campaign(ctx context.Context) (*Term, error) {
	tick := time.NewTicker(l.cfg.RenewInterval)
	defer tick.Stop()
	logged := false
	for {
		actx, cancel := context.WithTimeout(ctx, l.cfg.RenewInterval)
		t, err := l.Acquire(actx)
		cancel()
		if err == nil {
			l.setLeader(true, t.token)
			l.log.Info("leading", "holder", l.cfg.Holder, "token", t.token)
			return t, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !logged {
			logged = true
			if errors.Is(err, ErrNotLeader) {
				l.log.Info("standby: another ingest leads", "holder", l.cfg.Holder)
			} else {
				l.log.Warn("standby: cannot reach the lease", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// serve runs one term: lead in a goroutine, renewals here.
func (l *Lease) serve(ctx context.Context, t *Term, lead func(context.Context, *Term) error) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-t.lost:
			cancel()
		case <-lctx.Done():
		}
	}()
	done := make(chan error, 1)
	go func() { done <- lead(lctx, t) }()

	tick := time.NewTicker(l.cfg.RenewInterval)
	defer tick.Stop()
	// Renewals go on after ctx is done, until lead has committed the
	// block in hand.
	rctx := context.WithoutCancel(ctx)
	var leadErr error
loop:
	for {
		select {
		case leadErr = <-done:
			break loop
		case <-tick.C:
			if t.isLost() {
				continue
			}
			c, ccancel := context.WithTimeout(rctx, l.cfg.RenewInterval)
			err := l.Renew(c, t)
			ccancel()
			switch {
			case errors.Is(err, ErrFenced):
				l.log.Error("lease lost: another ingest took over", "token", t.token)
			case err != nil && !time.Now().Before(t.expiry()):
				t.lose()
				l.log.Error("lease lost: renewals failed for longer than the TTL", "token", t.token, "err", err)
			case err != nil:
				l.log.Warn("lease renewal failed", "token", t.token, "err", err)
			}
		}
	}
	lost := t.isLost()
	l.setLeader(false, t.token)
	if lost {
		l.log.Info("standby after losing the lease", "token", t.token)
		return fmt.Errorf("follow: lease token %d lost: %w", t.token, ErrFenced)
	}
	if !l.cfg.KeepOnStop {
		c, ccancel := context.WithTimeout(rctx, l.cfg.TTL)
		err := l.Release(c, t)
		ccancel()
		if err != nil {
			l.log.Warn("lease not released; it expires by itself", "err", err)
		} else {
			l.log.Info("lease released", "token", t.token)
		}
	} else {
		t.lose()
	}
	return leadErr
}
