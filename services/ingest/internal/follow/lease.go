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
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/lease"
	"github.com/mongotron/mongotron/pkg/store"
)

// LeaseID names the ingest leader lease in store.Leases: each tenure is a
// document with the _id LeaseID#<token> (see [TenureID] and package
// lease).
const LeaseID = "ingest"

// TenureID returns the _id of the lease's tenure with the given token.
func TenureID(token int64) string { return lease.TenureID(LeaseID, token) }

// DefaultLeaseTTL is how long a lease lasts without renewal unless
// configured: two missed renewals (every TTL/3) still keep it.
const DefaultLeaseTTL = 6 * time.Second

// ErrNotLeader is returned by [Lease.Acquire] when another ingest holds an
// unexpired lease.
var ErrNotLeader = errors.New("follow: the lease is held by another ingest")

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

	// Now returns the time, which decides when a term expires. Nil
	// means time.Now.
	Now func() time.Time
}

// Lease is the ingest leader lease, a lease of package lease named
// [LeaseID]: of two ingests taking it at once exactly one gets it, on
// MongoDB and on FerretDB alike, with a fencing token one above the last.
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
	store  *lease.Store
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st, err := lease.New(lease.Config{Collection: cfg.DB.Collection(store.Leases), Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("follow: %w", err)
	}
	l := &Lease{
		cfg: cfg, log: cfg.Logger, store: st,
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

	mu     sync.Mutex
	tenure lease.Tenure
	// expires is when the term ends by this ingest's clock, measured
	// from before the lease was taken or last renewed.
	expires time.Time

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

func (t *Term) extend(tn lease.Tenure, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tenure, t.expires = tn, until
}

func (t *Term) current() (lease.Tenure, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tenure, t.expires
}

func (t *Term) expiry() time.Time {
	_, e := t.current()
	return e
}

// Held reports, without I/O, whether the lease can still be ours: it was
// not found lost and has not run out.
func (t *Term) Held() bool {
	_, expires := t.current()
	return !t.isLost() && t.l.cfg.Now().Before(expires)
}

// Check implements [Fence]: the term must be live by our clock and the
// lease document must still name us, with our token, unexpired.
func (t *Term) Check(ctx context.Context) error {
	tn, expires := t.current()
	if t.isLost() || !t.l.cfg.Now().Before(expires) {
		t.lose()
		return fmt.Errorf("follow: lease token %d expired: %w", t.token, ErrFenced)
	}
	err := t.l.store.Check(ctx, tn)
	if errors.Is(err, lease.ErrLost) {
		t.lose()
		return fmt.Errorf("follow: lease token %d no longer ours: %w", t.token, ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("follow: lease check: %w", err)
	}
	return nil
}

// Acquire takes the lease if it is free, expired or already ours, with a
// new fencing token; it returns [ErrNotLeader] when another ingest holds
// it, or took it first.
func (l *Lease) Acquire(ctx context.Context) (*Term, error) {
	start := l.cfg.Now()
	tn, err := l.store.Acquire(ctx, LeaseID, l.cfg.Holder, l.cfg.TTL)
	if errors.Is(err, lease.ErrHeld) {
		return nil, ErrNotLeader
	}
	if err != nil {
		return nil, fmt.Errorf("follow: acquire lease: %w", err)
	}
	return &Term{l: l, token: tn.Token, tenure: tn, expires: start.Add(l.cfg.TTL), lost: make(chan struct{})}, nil
}

// Renew extends t by the TTL. It returns an error wrapping [ErrFenced]
// when the lease is no longer ours (a newer tenure), and a plain error
// when MongoDB did not answer.
func (l *Lease) Renew(ctx context.Context, t *Term) error {
	start := l.cfg.Now()
	tn, _ := t.current()
	tn, err := l.store.Renew(ctx, tn, l.cfg.TTL)
	if errors.Is(err, lease.ErrLost) {
		t.lose()
		return fmt.Errorf("follow: lease token %d taken over: %w", t.token, ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("follow: renew lease: %w", err)
	}
	t.extend(tn, start.Add(l.cfg.TTL))
	return nil
}

// Release ends t and expires the lease at once, if it is still ours, so a
// standby takes over without waiting for the TTL.
func (l *Lease) Release(ctx context.Context, t *Term) error {
	t.lose()
	tn, _ := t.current()
	if err := l.store.Release(ctx, tn); err != nil {
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
			case err != nil && !l.cfg.Now().Before(t.expiry()):
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
