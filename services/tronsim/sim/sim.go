// Package sim is a Tron full node as far as Mongotron can tell: it serves
// the java-tron HTTP API (/wallet/…, /walletsolidity/…) over a synthetic
// chain, deterministic by seed, or over recorded blocks, with reorgs,
// injected faults and a control API (/sim/…). Tests of other modules start
// one in process through package simtest; the tronsim command serves one.
//
// # Traps
//
// A share of the synthetic transactions ([Config.TrapRate], 3 % by
// default) are what real chains hold and deposit pipelines must survive:
//
//   - contract calls paying TRX or TRC10 out through internal transactions
//     (a swap to TRX, a multisend, a multisig payout, a dapp withdrawal),
//     some of them rejected (they moved nothing);
//   - failed (REVERT) calls whose info still lists internal transactions;
//   - a fake USDT: another contract answering "USDT", "Tether USD" and 6,
//     at an address sharing USDT's first and last four characters;
//   - address poisoning: a third party's transferFrom(victim, lookalike, 0)
//     on the real USDT, the lookalike sharing the victim's first and last
//     four base58 characters;
//   - memos: text, text with a link, bytes that are not UTF-8;
//   - transfers of a token whose decimals() reverts.
//
// [Sim.Traps] and GET /sim/traps?from=&to=&kind= list them per block, so
// an end-to-end test can check that a pipeline flags each one exactly
// where it is:
//
//	GET /sim/traps?from=60000000&to=60000009&kind=poisoning
//	{"from":60000000,"to":60000009,"internal_transactions_saved":true,
//	 "contracts":{"usdt":"TR7NHq…","fake_usdt":"TR7NHq…","no_decimals":"T…"},
//	 "lookalikes":[{"victim":"TXyz…","lookalike":"TXyz…"}, …],
//	 "blocks":[{"number":60000004,"block_id":"…","traps":[
//	   {"kind":"poisoning","tx_id":"…","tx_index":7,"scenario":"poisoning",
//	    "log_index":0,"contract":"TR7NHq…","from":"TXyz…","to":"TXyz…",
//	    "amount":"0","signer":"T…","victim":"TXyz…","lookalike":"TXyz…"}]}]}
//
// Internal transactions are served as java-tron serves them, in the
// internal_transactions of the transaction info, unless
// [Config.NoInternalTxs] makes the node keep none. Traps never change
// block ids (a header does not depend on its transactions here), and a
// trap replaces the ordinary transaction at its position, leaving the
// others as they would be without traps.
//
// # Token metadata
//
// /wallet/triggerconstantcontract answers decimals(), symbol(), name()
// and balanceOf(address) for every TRC20 contract of the chain, fake USDT
// included; the no-decimals token reverts decimals(). Every call is
// counted per contract and method in [Status].ConstantCalls (see
// [Sim.ConstantCalls]).
//
// # Finality
//
// The solidified block trails the head by [Config.SolidLag] blocks (19 by
// default): /walletsolidity/… serves up to it, /wallet/getnodeinfo reports
// it as "solidityBlock": "Num:…,ID:…", and no reorg replaces it or any
// block below it.
//
// # Several nodes
//
// One chain can be served by several node endpoints ([Sim.NewEndpoint]),
// each with its own [Faults]: errors, latency, a rate limit, a stalled or
// lagging head, tampered blocks or receipt lists. [Sim.Handler] serves the
// default endpoint, whose faults are the Config's. Each endpoint's handler
// also answers GET and POST /sim/faults, to read or change its faults
// while it runs:
//
//	POST /sim/faults {"stall":true}
//	{"error_rate":0,"latency":"0s","rate_limit":0,"stall":true,"lag":0,
//	 "corrupt_blocks":false,"corrupt_receipts":false}
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/internal/gen"
)

// Sim is a simulated node. Its methods are safe for concurrent use.
type Sim struct {
	cfg Config
	log *slog.Logger
	src source
	// gen is the synthetic chain's generator; nil in replay mode.
	gen    *gen.Generator
	tokens map[tron.Address]gen.Token
	// def is the endpoint of [Sim.Handler], with the faults of the Config.
	def *Endpoint
	// endpoints counts the endpoints made, to seed each one's faults.
	endpoints atomic.Uint64
	// Counters for /sim/status, over every endpoint.
	requests    atomic.Int64
	injected    atomic.Int64
	rateLimited atomic.Int64
	callsMu     sync.Mutex
	calls       map[tron.Address]*ContractCalls
}

// New returns a simulator for cfg, with its initial blocks produced. In
// replay mode it fails when the directory holds no block.
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Sim{cfg: cfg, log: cfg.Logger, tokens: make(map[tron.Address]gen.Token), calls: make(map[tron.Address]*ContractCalls)}
	if cfg.BlocksDir != "" {
		r, err := newReplay(cfg)
		if err != nil {
			return nil, err
		}
		s.src = r
	} else {
		syn := newSynthetic(cfg)
		s.src, s.gen = syn, syn.g
	}
	for _, t := range gen.MainnetTokens() {
		s.tokens[t.Address] = t
	}
	if s.gen != nil {
		for _, t := range s.gen.TrapTokens() {
			s.tokens[t.Address] = t
		}
	}
	s.def = s.NewEndpoint(Faults{ErrorRate: cfg.ErrorRate, Latency: cfg.Latency, RateLimit: cfg.RateLimit})
	return s, nil
}

// Handler returns the HTTP handler of the node and control APIs of the
// default endpoint, whose faults are the Config's (see [Sim.Endpoint]).
func (s *Sim) Handler() http.Handler { return s.def.Handler() }

// Endpoint returns the default endpoint: the one [Sim.Handler] serves,
// with the Config's ErrorRate, Latency and RateLimit as its faults.
func (s *Sim) Endpoint() *Endpoint { return s.def }

// Run produces a block every [Config.BlockInterval] (releases one, in
// replay mode) until ctx ends, and then returns nil. With
// [Config.Instant] it produces nothing and only waits for ctx.
func (s *Sim) Run(ctx context.Context) error {
	if s.cfg.Instant {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.cfg.BlockInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			before := s.src.reorgs()
			head := s.src.mine(1)
			s.log.Debug("block produced", "number", head)
			if after := s.src.reorgs(); after != before {
				s.log.Info("reorg", "head", head, "depth", s.cfg.ReorgDepth, "reorgs", after)
			}
		}
	}
}

// Mine produces n blocks now (releases up to n recorded ones in replay
// mode) and returns the new head number.
func (s *Sim) Mine(n int) int64 { return s.src.mine(n) }

// Reorg replaces the last depth blocks with different ones: new ids, new
// transactions, the same numbers. It never replaces a solidified block: a
// depth beyond [Config.SolidLag] fails with [ErrSolidified], and on a
// chain shorter than the lag the depth is clamped to the blocks above the
// first. It fails in replay mode.
func (s *Sim) Reorg(depth int) error { return s.src.reorg(depth) }

// Head returns the number and id of the newest block.
func (s *Sim) Head() (number int64, id string) { return s.src.head() }

// Solid returns the number of the newest solidified block:
// [Config.SolidLag] (19) below the head, but never below the first block.
func (s *Sim) Solid() int64 {
	h, _ := s.src.head()
	return solidOf(h, s.src.first(), s.cfg.SolidLag)
}

// First returns the number of the oldest block.
func (s *Sim) First() int64 { return s.src.first() }

// Block returns block n and its transaction infos, or an error wrapping
// [ErrNoBlock]. The caller must not modify them: they are shared with the
// cache.
func (s *Sim) Block(n int64) (tron.Block, []tron.TxInfo, error) {
	e, err := s.src.entry(n)
	if err != nil {
		return tron.Block{}, nil, err
	}
	return e.block, e.infos, nil
}

// Status is what GET /sim/status answers.
type Status struct {
	Mode   string `json:"mode"`
	Head   int64  `json:"head"`
	HeadID string `json:"head_id"`
	Solid  int64  `json:"solid"`
	First  int64  `json:"first"`
	Seed   uint64 `json:"seed"`
	Reorgs int    `json:"reorgs"`
	// Requests, ErrorsInjected and RateLimited count over every endpoint.
	Requests       int64 `json:"requests"`
	ErrorsInjected int64 `json:"errors_injected"`
	RateLimited    int64 `json:"rate_limited"`
	// Endpoint is the endpoint that answered GET /sim/status; nil from
	// [Sim.Status].
	Endpoint *EndpointStatus `json:"endpoint,omitempty"`
	// ConstantCalls counts the triggerconstantcontract calls answered,
	// per contract (base58), so a test can check how often a pipeline
	// asks for token metadata.
	ConstantCalls map[string]ContractCalls `json:"constant_calls"`
	Config        StatusConfig             `json:"config"`
}

// ContractCalls counts the constant calls of one contract.
type ContractCalls struct {
	Total int64 `json:"total"`
	// Methods counts per method: "decimals()", "symbol()", "name()",
	// "balanceOf(address)", or the 8 hex digits of another selector.
	Methods map[string]int64 `json:"methods"`
}

// StatusConfig is the configuration part of [Status].
type StatusConfig struct {
	TxsPerBlock   int     `json:"txs_per_block"`
	TrapRate      float64 `json:"trap_rate"`
	Addresses     int     `json:"addresses"`
	StartBlock    int64   `json:"start_block"`
	StartTime     string  `json:"start_time"`
	BlocksDir     string  `json:"blocks_dir,omitempty"`
	BlockInterval string  `json:"block_interval"`
	Instant       bool    `json:"instant"`
	NoInternalTxs bool    `json:"no_internal_tx"`
	SolidLag      int     `json:"solid_lag"`
	ReorgEvery    int     `json:"reorg_every"`
	ReorgDepth    int     `json:"reorg_depth"`
	ErrorRate     float64 `json:"error_rate"`
	Latency       string  `json:"latency"`
	RateLimit     float64 `json:"rate_limit"`
	CacheBlocks   int     `json:"cache_blocks"`
}

// Status returns the simulator's state and counters.
func (s *Sim) Status() Status {
	head, id := s.src.head()
	mode := "synthetic"
	if s.cfg.BlocksDir != "" {
		mode = "replay"
	}
	c := s.cfg
	calls := make(map[string]ContractCalls)
	for a, n := range s.ConstantCalls() {
		calls[a.String()] = n
	}
	return Status{
		Mode:           mode,
		Head:           head,
		HeadID:         id,
		Solid:          solidOf(head, s.src.first(), c.SolidLag),
		First:          s.src.first(),
		Seed:           c.Seed,
		Reorgs:         s.src.reorgs(),
		Requests:       s.requests.Load(),
		ErrorsInjected: s.injected.Load(),
		RateLimited:    s.rateLimited.Load(),
		ConstantCalls:  calls,
		Config: StatusConfig{
			TxsPerBlock:   c.TxsPerBlock,
			TrapRate:      c.TrapRate,
			Addresses:     c.Addresses,
			StartBlock:    c.StartBlock,
			StartTime:     c.StartTime.UTC().Format(time.RFC3339),
			BlocksDir:     c.BlocksDir,
			BlockInterval: c.BlockInterval.String(),
			Instant:       c.Instant,
			NoInternalTxs: c.NoInternalTxs,
			SolidLag:      c.SolidLag,
			ReorgEvery:    c.ReorgEvery,
			ReorgDepth:    c.ReorgDepth,
			ErrorRate:     c.ErrorRate,
			Latency:       c.Latency.String(),
			RateLimit:     c.RateLimit,
			CacheBlocks:   c.CacheBlocks,
		},
	}
}

// findTx returns a transaction and its info, looking at blocks up to
// maxNum.
func (s *Sim) findTx(id string, maxNum int64) (*tron.Transaction, *tron.TxInfo, error) {
	if len(id) != 64 {
		return nil, nil, fmt.Errorf("%w: transaction id %q: want 64 hex digits", ErrNoBlock, id)
	}
	e, i, err := s.src.findTx(id, maxNum)
	if err != nil {
		return nil, nil, err
	}
	var info *tron.TxInfo
	if i < len(e.infos) && e.infos[i].ID == id {
		info = &e.infos[i]
	} else {
		for j := range e.infos {
			if e.infos[j].ID == id {
				info = &e.infos[j]
			}
		}
	}
	if info == nil {
		return nil, nil, errors.New("tronsim: transaction has no info")
	}
	return &e.block.Transactions[i], info, nil
}

// ConstantCalls returns how many triggerconstantcontract calls the node
// answered, per contract (calls with an unparsable contract address are
// not counted; those refused by an injected fault never reached the node).
func (s *Sim) ConstantCalls() map[tron.Address]ContractCalls {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	out := make(map[tron.Address]ContractCalls, len(s.calls))
	for a, c := range s.calls {
		m := make(map[string]int64, len(c.Methods))
		for k, v := range c.Methods {
			m[k] = v
		}
		out[a] = ContractCalls{Total: c.Total, Methods: m}
	}
	return out
}

// countCall counts a constant call of method on contract.
func (s *Sim) countCall(contract tron.Address, method string) {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	c := s.calls[contract]
	if c == nil {
		c = &ContractCalls{Methods: make(map[string]int64)}
		s.calls[contract] = c
	}
	c.Total++
	c.Methods[method]++
}
