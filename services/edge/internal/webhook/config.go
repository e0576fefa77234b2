package webhook

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/config"
)

// Defaults of [Config].
const (
	// DefaultTimeout bounds one attempt: connect, send, and the response
	// headers. A receiver answering later has failed that attempt.
	DefaultTimeout = 10 * time.Second
	// DefaultConcurrencyPerEndpoint bounds attempts in flight from one
	// edge to one endpoint (scheme and host).
	DefaultConcurrencyPerEndpoint = 8
	// DefaultBreakerThreshold is how many consecutive failed attempts to
	// one endpoint open its circuit breaker.
	DefaultBreakerThreshold = 5
	// DefaultBreakerCooldown is how long an open breaker refuses attempts
	// before it lets one through to probe the endpoint.
	DefaultBreakerCooldown = 30 * time.Second
	// DefaultPollInterval is how often an edge looks in MongoDB for due
	// deliveries it did not take from JetStream itself (retries, work of
	// a dead edge, manual retries and replays).
	DefaultPollInterval = time.Second
	// DefaultConsumer is the durable JetStream consumer every edge shares.
	DefaultConsumer = "webhooks"
	// DefaultMaxResponseBytes is how much of a response body is read.
	DefaultMaxResponseBytes = 4 << 10
	// DefaultFetchBatch is how many JetStream messages one fetch takes.
	DefaultFetchBatch = 256
	// DefaultRetention is how long a finished delivery stays listed.
	DefaultRetention = 7 * 24 * time.Hour
	// minLease is the shortest lane lease whatever the timeout.
	minLease = 15 * time.Second
)

// DefaultSchedule returns the default delays between attempts: 11 attempts
// spread over about 24 hours. The n-th entry is the wait after the n-th
// failed attempt; each wait is jittered by ±10 %.
func DefaultSchedule() []time.Duration {
	return []time.Duration{
		5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour,
	}
}

// Config configures [New]. Its flags are registered by [Config.RegisterFlags]
// under the "webhook." prefix; the dependencies are set by the caller.
type Config struct {
	// NATS reads the events stream and the subscription changes. Required.
	NATS *nats.Conn
	// DB holds subscriptions and the webhook collections.
	// Required.
	DB *mongo.Database
	// Logger receives delivery failures. Nil discards them.
	Logger *slog.Logger
	// Registerer takes the metrics. Nil registers them nowhere.
	Registerer prometheus.Registerer

	// Replicas is the replica count of the durable consumer (the
	// nats.replicas flag). Zero means the events stream's.
	Replicas int

	// Timeout bounds one attempt. Zero means [DefaultTimeout].
	Timeout time.Duration
	// Schedule is the wait after each failed attempt; after the last
	// one the delivery is dead-lettered. Nil means [DefaultSchedule].
	Schedule []time.Duration
	// MaxAttempts, when positive, cuts Schedule (or stretches it by
	// repeating its last wait) to that many attempts in all. Zero keeps
	// len(Schedule)+1.
	MaxAttempts int
	// AllowHTTPHosts are the host names (as in the URL) that may be
	// reached over plain http. Empty means https only.
	AllowHTTPHosts []string
	// AllowPrivate are the loopback, private, link-local or otherwise
	// internal addresses or prefixes ("10.0.0.0/8", "127.0.0.1") that
	// webhooks may reach. Empty means none: every such address is
	// refused at dial time.
	AllowPrivate []netip.Prefix
	// ConcurrencyPerEndpoint bounds attempts in flight from this edge to
	// one endpoint. Zero means [DefaultConcurrencyPerEndpoint].
	ConcurrencyPerEndpoint int
	// BreakerThreshold is how many consecutive failures open an
	// endpoint's breaker. Zero means [DefaultBreakerThreshold]; negative
	// disables the breaker.
	BreakerThreshold int
	// BreakerCooldown is how long an open breaker waits before a probe.
	// Zero means [DefaultBreakerCooldown].
	BreakerCooldown time.Duration
	// PollInterval is how often MongoDB is searched for due work. Zero
	// means [DefaultPollInterval].
	PollInterval time.Duration
	// LeaseDuration is how long a subscription's delivery lane stays
	// with an edge that stopped renewing it (it died); another edge
	// takes the lane over after it. Zero means three timeouts, at least
	// 15 s. It must exceed twice Timeout, so that an attempt started
	// with half the lease left ends before the lease does.
	LeaseDuration time.Duration
	// MaxResponseBytes is how much of a response body is read. Zero
	// means [DefaultMaxResponseBytes].
	MaxResponseBytes int64
	// Retention is how long a finished delivery (succeeded, failed or
	// dead) stays in MongoDB after its last change; pending ones stay
	// until they finish. Zero means [DefaultRetention].
	Retention time.Duration
	// Consumer names the durable JetStream consumer. Empty means
	// [DefaultConsumer].
	Consumer string
	// FetchBatch is how many messages one JetStream fetch takes. Zero
	// means [DefaultFetchBatch].
	FetchBatch int

	// Now returns the time. Nil means time.Now.
	Now func() time.Time
}

// RegisterFlags registers the webhook.* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Timeout, "webhook.timeout", DefaultTimeout, "how long a receiver has to answer one attempt with a 2xx")
	fs.Var((*durationList)(&c.Schedule), "webhook.schedule", "comma-separated `waits` after each failed attempt (default about 24 h: "+durationList(DefaultSchedule()).String()+")")
	fs.IntVar(&c.MaxAttempts, "webhook.max-attempts", 0, "attempts per delivery before it is dead-lettered (0: one more than the schedule's waits)")
	fs.Var((*stringList)(&c.AllowHTTPHosts), "webhook.allow-http-hosts", "comma-separated `hosts` webhooks may reach over plain http (default none: https only)")
	fs.Var((*prefixList)(&c.AllowPrivate), "webhook.allow-private", "comma-separated private, loopback or link-local `addresses or CIDR prefixes` webhooks may reach (default none)")
	fs.IntVar(&c.ConcurrencyPerEndpoint, "webhook.concurrency-per-endpoint", DefaultConcurrencyPerEndpoint, "attempts in flight from one edge to one receiver host")
	fs.IntVar(&c.BreakerThreshold, "webhook.breaker-threshold", DefaultBreakerThreshold, "consecutive failures that open a receiver's circuit breaker (negative: no breaker)")
	fs.DurationVar(&c.BreakerCooldown, "webhook.breaker-cooldown", DefaultBreakerCooldown, "how long an open circuit breaker waits before probing the receiver")
	fs.DurationVar(&c.Retention, "webhook.retention", DefaultRetention, "how long finished deliveries (succeeded, failed, dead) stay listed after their last change")
	fs.DurationVar(&c.PollInterval, "webhook.poll-interval", DefaultPollInterval, "how often MongoDB is searched for due retries")
}

// Validate reports every invalid value at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("config: webhook.timeout %s is negative", c.Timeout))
	}
	for _, d := range c.Schedule {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("config: webhook.schedule: %s is not positive", d))
			break
		}
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("config: webhook.max-attempts %d is negative", c.MaxAttempts))
	}
	if c.ConcurrencyPerEndpoint < 0 {
		errs = append(errs, fmt.Errorf("config: webhook.concurrency-per-endpoint %d is negative", c.ConcurrencyPerEndpoint))
	}
	if c.Retention < 0 {
		errs = append(errs, fmt.Errorf("config: webhook.retention %s is negative", c.Retention))
	} else if c.Retention > 0 && c.Retention < time.Second {
		errs = append(errs, fmt.Errorf("config: webhook.retention %s is under a second", c.Retention))
	}
	if c.BreakerCooldown < 0 || c.PollInterval < 0 || c.LeaseDuration < 0 {
		errs = append(errs, errors.New("config: webhook durations must not be negative"))
	}
	if c.LeaseDuration > 0 && c.LeaseDuration <= 2*c.timeout() {
		errs = append(errs, fmt.Errorf("config: webhook lease %s must exceed twice the timeout %s", c.LeaseDuration, c.timeout()))
	}
	return config.Join(errs...)
}

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// withDefaults returns c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	c.Timeout = c.timeout()
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule()
	}
	if c.MaxAttempts > 0 {
		s := make([]time.Duration, c.MaxAttempts-1)
		for i := range s {
			if len(c.Schedule) == 0 {
				s[i] = DefaultSchedule()[0]
			} else {
				s[i] = c.Schedule[min(i, len(c.Schedule)-1)]
			}
		}
		c.Schedule = s
	}
	if c.ConcurrencyPerEndpoint <= 0 {
		c.ConcurrencyPerEndpoint = DefaultConcurrencyPerEndpoint
	}
	if c.BreakerThreshold == 0 {
		c.BreakerThreshold = DefaultBreakerThreshold
	}
	if c.BreakerCooldown <= 0 {
		c.BreakerCooldown = DefaultBreakerCooldown
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = max(3*c.Timeout, minLease)
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Consumer == "" {
		c.Consumer = DefaultConsumer
	}
	if c.FetchBatch <= 0 {
		c.FetchBatch = DefaultFetchBatch
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// durationList is a comma-separated flag of durations.
type durationList []time.Duration

func (l durationList) String() string {
	s := make([]string, len(l))
	for i, d := range l {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
}

func (l *durationList) Set(v string) error {
	*l = nil
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return fmt.Errorf("webhook: schedule entry %q: %w", f, err)
		}
		*l = append(*l, d)
	}
	return nil
}

// stringList is a comma-separated flag of strings.
type stringList []string

func (l stringList) String() string { return strings.Join(l, ",") }

func (l *stringList) Set(v string) error {
	*l = nil
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, strings.ToLower(f))
		}
	}
	return nil
}

// prefixList is a comma-separated flag of addresses or CIDR prefixes.
type prefixList []netip.Prefix

func (l prefixList) String() string {
	s := make([]string, len(l))
	for i, p := range l {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (l *prefixList) Set(v string) error {
	*l = nil
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := ParsePrefix(f)
		if err != nil {
			return err
		}
		*l = append(*l, p)
	}
	return nil
}

// ParsePrefix parses a CIDR prefix or a single address (a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("webhook: %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("webhook: %q is neither an address nor a CIDR prefix: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
