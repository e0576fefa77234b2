package sim

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"
)

// Defaults the zero values of [Config] stand for.
const (
	DefaultTxsPerBlock   = 300
	DefaultAddresses     = 10000
	DefaultStartBlock    = 60_000_000
	DefaultBlockInterval = 3 * time.Second
	DefaultCacheBlocks   = 256
	// SolidDepth is how far the solidified block trails the head by
	// default ([Config.SolidLag]): Tron solidifies a block once 19 of the
	// 27 producers have built on it.
	SolidDepth = 19
	// DefaultTrapRate is the default [Config.TrapRate]: a few percent of
	// transactions, as on mainnet, where memo spam and poisoning are
	// common but far from the bulk.
	DefaultTrapRate = 0.03
	// NoTxs as [Config.TxsPerBlock] makes every block empty.
	NoTxs = -1
	// NoTraps as [Config.TrapRate] makes no trap.
	NoTraps = -1
	// NoSolidLag as [Config.SolidLag] solidifies the head at once.
	NoSolidLag = -1
)

// defaultStartTime is the timestamp of the first block when none is given:
// fixed, so that a seed alone determines every block id.
var defaultStartTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Config configures a [Sim]. The zero value is a synthetic chain with seed
// 0, one block at 60000000, producing a block every 3 s once Run is called.
type Config struct {
	// Chain.

	// Seed determines the synthetic chain: the same seed, start block and
	// start time give the same blocks and ids.
	Seed uint64
	// TxsPerBlock is the mean number of transactions of a synthetic block.
	// Zero means 300; negative (see [NoTxs]) means empty blocks.
	TxsPerBlock int
	// Addresses is the size of the account population whose activity is
	// Zipf-skewed. Zero means 10000.
	Addresses int
	// StartBlock is the number of the first block. Zero means 60000000.
	StartBlock int64
	// InitialBlocks is how many blocks exist when the simulator starts.
	// Zero means 1 (the start block alone); in replay mode it is how many
	// recorded blocks are released at once without Instant.
	InitialBlocks int
	// StartTime is the timestamp of the start block; later blocks follow
	// 3 s apart. Zero means 2025-01-01T00:00:00Z.
	StartTime time.Time
	// TrapRate is the fraction of synthetic transactions that are traps
	// (internal transactions, rejected and failed ones, a fake USDT,
	// address poisoning, memos: see [Sim.Traps]), at most 1. Zero means
	// 0.03 ([DefaultTrapRate]); negative (see [NoTraps]) means none.
	TrapRate float64

	// Replay.

	// BlocksDir, when set, replays recorded blocks instead of generating
	// them: one <number>.json file per block holding
	// {"block": <getblockbynum answer>, "transaction_info": <array>}.
	// Empty means a synthetic chain.
	BlocksDir string

	// Time.

	// BlockInterval is how often Run produces (or releases) a block. Zero
	// means 3 s.
	BlockInterval time.Duration
	// Instant makes Run produce nothing: the initial blocks (every recorded
	// block in replay mode) are there at once and [Sim.Mine] adds more.
	Instant bool

	// Node.

	// NoInternalTxs makes the node keep no internal transactions, as
	// java-tron with vm.saveInternalTx = false: transaction infos carry no
	// internal_transactions even where the chain has them (recorded
	// blocks included). False serves them.
	NoInternalTxs bool
	// SolidLag is how many blocks the solidified block trails the head:
	// /walletsolidity serves up to it, getnodeinfo reports it, and no
	// reorg replaces it or anything below. Zero means 19 ([SolidDepth]);
	// negative (see [NoSolidLag]) means the head is solidified at once.
	SolidLag int

	// Reorgs.

	// ReorgEvery replaces the last ReorgDepth blocks every ReorgEvery
	// blocks produced. Zero means never.
	ReorgEvery int
	// ReorgDepth is how many blocks an automatic reorg replaces, at most
	// the solid lag. Zero means 1.
	ReorgDepth int

	// Faults of the default endpoint ([Sim.Handler]), applied to the node
	// API (/wallet/…, /walletsolidity/…) only; see [Faults] for more.

	// ErrorRate is the fraction of requests answered 500, 503 or with a
	// dropped connection. Zero means none.
	ErrorRate float64
	// Latency is added to every request. Zero means none.
	Latency time.Duration
	// RateLimit is the number of requests per second above which requests
	// are answered 429 with Retry-After. Zero means unlimited.
	RateLimit float64

	// Limits.

	// CacheBlocks is how many generated or loaded blocks are kept in
	// memory; older ones are regenerated (or re-read) on demand. A 300
	// transaction block takes about 1 MB with its rendered JSON, and more
	// once served over gRPC too (its protobuf messages are kept as well).
	// Zero means 256.
	CacheBlocks int

	// Hooks.

	// Logger receives the simulator's logs. Nil means none.
	Logger *slog.Logger
}

// RegisterFlags registers the flags of the simulator on fs, with the
// defaults of the command (which differ from the zero Config where a
// running node wants them to: a start time of "now", 100 initial blocks).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the synthetic chain")
	fs.IntVar(&c.TxsPerBlock, "txs-per-block", DefaultTxsPerBlock, "mean transactions per synthetic block (0: empty blocks)")
	fs.IntVar(&c.Addresses, "addresses", DefaultAddresses, "size of the synthetic account population")
	fs.Int64Var(&c.StartBlock, "start-block", DefaultStartBlock, "number of the first synthetic block")
	fs.IntVar(&c.InitialBlocks, "initial-blocks", 100, "blocks that exist at start")
	fs.Var(&startTimeFlag{t: &c.StartTime}, "start-time", "`timestamp` of the first block, RFC 3339, or \"now\" (so that the head is about now)")
	fs.Float64Var(&c.TrapRate, "trap-rate", DefaultTrapRate, "fraction of synthetic transactions that are traps, listed by GET /sim/traps (0: none; 1: all)")
	fs.BoolVar(&c.NoInternalTxs, "no-internal-tx", false, "keep no internal transactions, as java-tron with vm.saveInternalTx=false: infos carry no internal_transactions")
	fs.IntVar(&c.SolidLag, "solid-lag", SolidDepth, "blocks the solidified block trails the head; no reorg goes below it (0: the head is solid)")
	fs.StringVar(&c.BlocksDir, "blocks", "", "replay the recorded blocks of this directory (<number>.json files) instead of generating")
	fs.DurationVar(&c.BlockInterval, "block-interval", DefaultBlockInterval, "time between blocks")
	fs.BoolVar(&c.Instant, "instant", false, "release the initial (or all recorded) blocks at once and produce more only on POST /sim/mine")
	fs.IntVar(&c.ReorgEvery, "reorg-every", 0, "replace the last --reorg-depth blocks every N blocks (0: never)")
	fs.IntVar(&c.ReorgDepth, "reorg-depth", 1, "blocks an automatic reorg replaces, at most --solid-lag")
	fs.Float64Var(&c.ErrorRate, "error-rate", 0, "fraction of API requests answered 500/503 or dropped")
	fs.DurationVar(&c.Latency, "latency", 0, "latency added to every API request")
	fs.Float64Var(&c.RateLimit, "rate-limit", 0, "API requests per second above which 429 is answered (0: unlimited)")
	fs.IntVar(&c.CacheBlocks, "cache-blocks", DefaultCacheBlocks, "blocks kept in memory")
}

// startTimeFlag parses --start-time. Until set, it leaves the time zero
// and [Config.ResolveStartTime] picks "now".
type startTimeFlag struct {
	t   *time.Time
	set bool
}

func (f *startTimeFlag) String() string {
	if f == nil || f.t == nil || f.t.IsZero() {
		return "now"
	}
	return f.t.Format(time.RFC3339)
}

// Get returns the flag's text, so that help quotes its default as a
// string's.
func (f *startTimeFlag) Get() any { return f.String() }

func (f *startTimeFlag) Set(s string) error {
	f.set = true
	if s == "now" {
		*f.t = time.Time{}
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf(`want RFC 3339 or "now": %w`, err)
	}
	*f.t = t
	return nil
}

// StartNow sets StartTime so that the last initial block is about now, as a
// node that is in sync would have it, unless StartTime is already set.
func (c *Config) StartNow(now time.Time) {
	if !c.StartTime.IsZero() {
		return
	}
	n := max(c.InitialBlocks, 1)
	c.StartTime = now.Truncate(3 * time.Second).Add(-3 * time.Second * time.Duration(n-1))
}

// Validate reports every invalid field at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Addresses < 0 {
		errs = append(errs, fmt.Errorf("addresses %d: must not be negative", c.Addresses))
	}
	if c.StartBlock < 0 {
		errs = append(errs, fmt.Errorf("start block %d: must not be negative", c.StartBlock))
	}
	if c.InitialBlocks < 0 {
		errs = append(errs, fmt.Errorf("initial blocks %d: must not be negative", c.InitialBlocks))
	}
	if c.BlockInterval < 0 {
		errs = append(errs, fmt.Errorf("block interval %s: must not be negative", c.BlockInterval))
	}
	if c.ReorgEvery < 0 || c.ReorgDepth < 0 {
		errs = append(errs, fmt.Errorf("reorg every %d, depth %d: must not be negative", c.ReorgEvery, c.ReorgDepth))
	}
	if lag, depth := c.solidLag(), max(c.ReorgDepth, 1); c.ReorgEvery > 0 && depth > lag {
		errs = append(errs, fmt.Errorf("reorg depth %d: deeper than the solid lag %d, it would replace solidified blocks", depth, lag))
	}
	if c.TrapRate > 1 {
		errs = append(errs, fmt.Errorf("trap rate %g: must be at most 1", c.TrapRate))
	}
	if c.ReorgEvery > 0 && c.BlocksDir != "" {
		errs = append(errs, errors.New("reorgs: a replayed chain cannot reorg"))
	}
	if c.ErrorRate < 0 || c.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error rate %g: must be between 0 and 1", c.ErrorRate))
	}
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %s: must not be negative", c.Latency))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("rate limit %g: must not be negative", c.RateLimit))
	}
	if c.CacheBlocks < 0 {
		errs = append(errs, fmt.Errorf("cache blocks %d: must not be negative", c.CacheBlocks))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tronsim: invalid config: %w", err)
	}
	return nil
}

// withDefaults returns c with zero values replaced by what they stand for.
func (c Config) withDefaults() Config {
	switch {
	case c.TxsPerBlock == 0:
		c.TxsPerBlock = DefaultTxsPerBlock
	case c.TxsPerBlock < 0:
		c.TxsPerBlock = 0
	}
	switch {
	case c.TrapRate == 0:
		c.TrapRate = DefaultTrapRate
	case c.TrapRate < 0:
		c.TrapRate = 0
	}
	c.SolidLag = c.solidLag()
	if c.Addresses == 0 {
		c.Addresses = DefaultAddresses
	}
	if c.StartBlock == 0 {
		c.StartBlock = DefaultStartBlock
	}
	c.InitialBlocks = max(c.InitialBlocks, 1)
	if c.StartTime.IsZero() {
		c.StartTime = defaultStartTime
	}
	if c.BlockInterval == 0 {
		c.BlockInterval = DefaultBlockInterval
	}
	if c.ReorgDepth == 0 {
		c.ReorgDepth = 1
	}
	if c.CacheBlocks == 0 {
		c.CacheBlocks = DefaultCacheBlocks
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// solidLag returns the lag SolidLag stands for.
func (c *Config) solidLag() int {
	switch {
	case c.SolidLag == 0:
		return SolidDepth
	case c.SolidLag < 0:
		return 0
	}
	return c.SolidLag
}

// ReadHeaderTimeout is the header read timeout of the servers that serve a
// [Sim]: a zero http.Server has none.
const ReadHeaderTimeout = 10 * time.Second
