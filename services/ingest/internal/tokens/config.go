package tokens

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Defaults of [Config]'s zero fields.
const (
	DefaultRefreshInterval      = 7 * 24 * time.Hour
	DefaultRetryInterval        = time.Minute
	DefaultUnknownRetryInterval = time.Hour
	DefaultMaxRetryInterval     = 24 * time.Hour
	DefaultCallTimeout          = 30 * time.Second
	DefaultConcurrency          = 4
	DefaultQueueSize            = 10000
	DefaultMaxEntries           = 200000
)

// Config configures a [Cache]. The zero value is a memory-only cache
// that knows the built-in mainnet table and nothing else.
type Config struct {
	// DB holds the [Collection]. Nil keeps the cache in memory only:
	// nothing is loaded at start or stored, so a restart asks the node
	// again.
	DB *mongo.Database
	// Node answers the constant calls (decimals(), symbol(), name());
	// *tron.Client implements it. Nil means no node: every contract
	// outside the built-in table (and, with DB, the collection) stays
	// unknown.
	Node tron.ConstantCaller
	// Network selects the built-in table, which answers first and which
	// nothing a contract says of itself overrides. Empty means mainnet.
	Network string
	// SkipName leaves name() unasked, one call fewer per token; Name is
	// then empty outside the built-in table. False asks for it.
	SkipName bool

	// Logger receives the cache's logs. Nil discards them.
	Logger *slog.Logger
	// Registerer gets the cache's metrics. Nil registers none.
	Registerer prometheus.Registerer

	// RefreshInterval is how long a contract's answer (with decimals)
	// is served before the contract is asked again; the old answer is
	// served meanwhile. Zero means [DefaultRefreshInterval] (7 days).
	RefreshInterval time.Duration
	// RetryInterval is the wait after a failed resolution (the node
	// unreachable, failing or slower than CallTimeout), doubled after
	// each consecutive failure up to MaxRetryInterval. Zero means
	// [DefaultRetryInterval] (1 min).
	RetryInterval time.Duration
	// UnknownRetryInterval is the wait after a contract answered without
	// decimals() (not a token, or a proxy not set up yet): its decimals
	// stay unknown until then. It is doubled after each consecutive such
	// answer up to MaxRetryInterval. Zero means
	// [DefaultUnknownRetryInterval] (1 h).
	UnknownRetryInterval time.Duration
	// MaxRetryInterval bounds both retry backoffs; it is lowered to
	// RefreshInterval if above it. Zero means [DefaultMaxRetryInterval]
	// (24 h).
	MaxRetryInterval time.Duration
	// CallTimeout bounds one resolution: every call it makes to the node.
	// Zero means [DefaultCallTimeout] (30 s).
	CallTimeout time.Duration

	// Concurrency is how many contracts are resolved at once. Zero (or
	// negative) means [DefaultConcurrency] (4).
	Concurrency int
	// QueueSize bounds the contracts waiting for resolution. A lookup
	// that finds it full queues nothing (the contract is queued at a
	// later lookup); no lookup ever waits. Zero (or negative) means
	// [DefaultQueueSize] (10,000).
	QueueSize int
	// MaxEntries bounds the contracts kept in memory, and the documents
	// loaded at start. When full, a random entry makes room; an evicted
	// contract is read back from MongoDB by _id at its next lookup rather
	// than asked of the node again. Zero (or negative) means
	// [DefaultMaxEntries] (200,000).
	MaxEntries int

	// Now returns the time for the refresh and retry schedule. Nil means
	// time.Now.
	Now func() time.Time
}

// RegisterFlags registers the tokens.* flags: the refresh schedule and
// the bounds of the resolution.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.RefreshInterval, "tokens.refresh-interval", DefaultRefreshInterval, "how long a token's decimals and symbol are served before the contract is asked again")
	fs.DurationVar(&c.RetryInterval, "tokens.retry-interval", DefaultRetryInterval, "first wait before a token whose resolution failed is asked again (doubled per failure)")
	fs.DurationVar(&c.UnknownRetryInterval, "tokens.unknown-retry-interval", DefaultUnknownRetryInterval, "first wait before a contract without decimals() is asked again (doubled per answer)")
	fs.DurationVar(&c.MaxRetryInterval, "tokens.max-retry-interval", DefaultMaxRetryInterval, "longest wait between retries of a token")
	fs.DurationVar(&c.CallTimeout, "tokens.call-timeout", DefaultCallTimeout, "how long one token's calls to the node may take")
	fs.IntVar(&c.Concurrency, "tokens.concurrency", DefaultConcurrency, "tokens resolved at once")
	fs.IntVar(&c.QueueSize, "tokens.queue-size", DefaultQueueSize, "tokens waiting for resolution at most (more are queued at a later lookup)")
	fs.IntVar(&c.MaxEntries, "tokens.max-entries", DefaultMaxEntries, "tokens kept in memory (more are read back from MongoDB)")
	fs.BoolVar(&c.SkipName, "tokens.skip-name", false, "do not ask token contracts for name()")
}

// Validate reports every value out of range at once.
func (c *Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"tokens.refresh-interval", c.RefreshInterval},
		{"tokens.retry-interval", c.RetryInterval},
		{"tokens.unknown-retry-interval", c.UnknownRetryInterval},
		{"tokens.max-retry-interval", c.MaxRetryInterval},
		{"tokens.call-timeout", c.CallTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("config: %s %s is negative", d.name, d.v))
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"tokens.concurrency", c.Concurrency},
		{"tokens.queue-size", c.QueueSize},
		{"tokens.max-entries", c.MaxEntries},
	} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("config: %s %d is negative", n.name, n.v))
		}
	}
	return config.Join(errs...)
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
	def(&c.RefreshInterval, DefaultRefreshInterval)
	def(&c.RetryInterval, DefaultRetryInterval)
	def(&c.UnknownRetryInterval, DefaultUnknownRetryInterval)
	def(&c.MaxRetryInterval, DefaultMaxRetryInterval)
	def(&c.CallTimeout, DefaultCallTimeout)
	defInt(&c.Concurrency, DefaultConcurrency)
	defInt(&c.QueueSize, DefaultQueueSize)
	defInt(&c.MaxEntries, DefaultMaxEntries)
	c.MaxRetryInterval = min(c.MaxRetryInterval, c.RefreshInterval)
	if c.Network == "" {
		c.Network = tron.NetworkMainnet
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// errRunning is what a second concurrent [Cache.Run] returns.
var errRunning = errors.New("tokens: Run is already running")
