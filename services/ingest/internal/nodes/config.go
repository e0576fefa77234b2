package nodes

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Defaults of [Config]'s zero fields.
const (
	// DefaultHealthInterval is how often every node's head is polled when
	// the ingest does not say; the ingest passes its own poll interval.
	DefaultHealthInterval = time.Second
	// DefaultNearLag is how far behind the highest head a node may be and
	// still be read from: heads reach nodes a little apart, and switching
	// for a block or two would flap.
	DefaultNearLag = 2
	// DefaultMaxLag is the lag beyond which a node is "lagging" and read
	// from only when no node is better.
	DefaultMaxLag = 10
	// DefaultStallAfter is how long a node's head may stay put while
	// another node's advanced before it is "stalled": three blocks.
	DefaultStallAfter = 9 * time.Second
	// DefaultBadFor is how long a node that served data failing
	// verification is set aside.
	DefaultBadFor = time.Minute
	// DefaultRecoverPolls is how many healthy polls in a row a node needs
	// after failing, being bad, stalling or lagging before it counts as
	// good again.
	DefaultRecoverPolls = 3
	// DefaultKeepBlocks is how many recently served blocks the pool
	// remembers per node to check transaction-info lists against. One
	// costs about 100 bytes.
	DefaultKeepBlocks = 4096
)

// Schemes are the URL schemes a node URL may have: java-tron's HTTP API or
// its gRPC API, each plain or over TLS.
var schemes = []string{"http", "https", "grpc", "grpcs"}

// Client is what the pool asks of one node; *tron.Client implements it
// over HTTP and gRPC alike.
type Client interface {
	NowBlock(ctx context.Context) (*tron.Block, error)
	BlockByNum(ctx context.Context, num int64) (*tron.Block, error)
	BlocksByRange(ctx context.Context, start, end int64) ([]tron.Block, error)
	TxInfosByBlockNum(ctx context.Context, num int64) ([]tron.TxInfo, error)
	SolidHeight(ctx context.Context) (int64, error)
	TriggerConstant(ctx context.Context, owner, contract tron.Address, selector string, parameter []byte) ([]byte, error)
	Close() error
}

// Config configures a [Pool]. Only URLs is required.
type Config struct {
	// URLs are the nodes' base URLs (http://, https://, grpc:// or
	// grpcs://), in order of preference: of two equally good nodes the
	// earlier is read from. At least one is required.
	URLs []string
	// Client is the template of every node's client; its BaseURL is
	// replaced by each URL. With several URLs a zero MaxRetries means
	// none: the pool retries a failed call on the next node at once
	// rather than letting one node's retries hold it up. With one URL the
	// client's own defaults apply, as without a pool.
	Client tron.ClientConfig

	// Logger receives the pool's logs. Nil discards them.
	Logger *slog.Logger
	// Registerer gets the per-node metrics. Nil registers none.
	Registerer prometheus.Registerer

	// HealthInterval is how often [Pool.Run] polls each node's head. A
	// node whose head a read saw more recently is not polled. Zero means
	// [DefaultHealthInterval].
	HealthInterval time.Duration
	// NearLag is how many blocks behind the highest head the node read
	// from may fall before the pool moves to a node nearer the head. Zero
	// means [DefaultNearLag]; negative means 0.
	NearLag int
	// MaxLag is the lag beyond which a node is lagging: read from only
	// when every other node is worse. Zero means [DefaultMaxLag].
	MaxLag int
	// StallAfter is how long a node's head may stay put, while another
	// node's is higher, before the node is stalled. Zero means
	// [DefaultStallAfter].
	StallAfter time.Duration
	// BadFor is how long a node that served a block, transaction or
	// transaction-info list failing verification is set aside. Zero means
	// [DefaultBadFor].
	BadFor time.Duration
	// RecoverPolls is how many successful head polls in a row a node that
	// failed, was bad, stalled or lagged needs before it is good again.
	// Zero means [DefaultRecoverPolls].
	RecoverPolls int
	// KeepBlocks bounds the recently served blocks remembered per node.
	// Zero means [DefaultKeepBlocks].
	KeepBlocks int

	// NewClient makes the client of one node from the template, BaseURL
	// set. Nil means [tron.NewClient]; tests pass fakes.
	NewClient func(cfg tron.ClientConfig) (Client, error)
	// Now returns the time for stall and bad-node timing. Nil means
	// time.Now.
	Now func() time.Time
}

// RegisterFlags registers the tron.* flags of the pool: the node list and
// the health thresholds. The single node URL (tron.node-url) and the API
// key belong to the ingest's own configuration.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var((*urlList)(&c.URLs), "tron.node-urls", "comma-separated Tron node API base `URLs` (http(s):// or grpc(s)://), in order of preference; replaces tron.node-url")
	fs.DurationVar(&c.HealthInterval, "tron.health-interval", 0, "how often every node's head is polled (0: poll-interval)")
	fs.IntVar(&c.MaxLag, "tron.max-lag", DefaultMaxLag, "`blocks` behind the highest head beyond which a node is lagging and read from only when no node is better")
	fs.DurationVar(&c.StallAfter, "tron.stall-after", DefaultStallAfter, "how long a node's head may stay put while another's is higher before the node counts as stalled")
	fs.DurationVar(&c.BadFor, "tron.bad-for", DefaultBadFor, "how long a node that served data failing verification is set aside")
}

// Validate reports every invalid value at once.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range c.URLs {
		name := fmt.Sprintf("tron.node-urls[%d]", i)
		if err := config.CheckURL(name, u, false, schemes...); err != nil {
			errs = append(errs, err)
			continue
		}
		if key := strings.TrimRight(u, "/"); seen[key] {
			errs = append(errs, fmt.Errorf("config: %s: %s is listed twice", name, Label(u)))
		} else {
			seen[key] = true
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"tron.health-interval", c.HealthInterval},
		{"tron.stall-after", c.StallAfter},
		{"tron.bad-for", c.BadFor},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("config: %s %s is negative", d.name, d.v))
		}
	}
	if c.MaxLag < 0 {
		errs = append(errs, fmt.Errorf("config: tron.max-lag %d is negative", c.MaxLag))
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
	def(&c.HealthInterval, DefaultHealthInterval)
	def(&c.StallAfter, DefaultStallAfter)
	def(&c.BadFor, DefaultBadFor)
	switch {
	case c.NearLag == 0:
		c.NearLag = DefaultNearLag
	case c.NearLag < 0:
		c.NearLag = 0
	}
	if c.MaxLag <= 0 {
		c.MaxLag = DefaultMaxLag
	}
	c.MaxLag = max(c.MaxLag, c.NearLag)
	if c.RecoverPolls <= 0 {
		c.RecoverPolls = DefaultRecoverPolls
	}
	if c.KeepBlocks <= 0 {
		c.KeepBlocks = DefaultKeepBlocks
	}
	if len(c.URLs) > 1 && c.Client.MaxRetries == 0 {
		c.Client.MaxRetries = -1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewClient == nil {
		c.NewClient = func(cfg tron.ClientConfig) (Client, error) { return tron.NewClient(cfg) }
	}
	return c
}

// Label returns u without credentials, query or fragment, as node metrics
// and logs name it: an API key in the URL must not reach either.
func Label(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return strings.TrimRight(p.String(), "/")
}

// urlList is a comma-separated list flag; Set replaces the list, so that
// the command line wins over the environment as for every other flag.
type urlList []string

func (l *urlList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *urlList) Set(s string) error {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	if len(out) == 0 && strings.TrimSpace(s) != "" {
		return errors.New("no URL in the list")
	}
	*l = out
	return nil
}
