// Package sim is a Tron full node as far as Mongotron can tell: it serves
// the java-tron HTTP API (/wallet/…, /walletsolidity/…) over a synthetic
// chain, deterministic by seed, or over recorded blocks, with reorgs,
// injected faults and a control API (/sim/…). Tests of other modules start
// one in process through package simtest; the tronsim command serves one.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/internal/gen"
)

// Sim is a simulated node. Its methods are safe for concurrent use.
type Sim struct {
	cfg     Config
	log     *slog.Logger
	src     source
	tokens  map[tron.Address]gen.Token
	faults  *faults
	handler http.Handler
	// Counters for /sim/status.
	requests    atomic.Int64
	injected    atomic.Int64
	rateLimited atomic.Int64
}

// New returns a simulator for cfg, with its initial blocks produced. In
// replay mode it fails when the directory holds no block.
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Sim{cfg: cfg, log: cfg.Logger, tokens: make(map[tron.Address]gen.Token)}
	if cfg.BlocksDir != "" {
		r, err := newReplay(cfg)
		if err != nil {
			return nil, err
		}
		s.src = r
	} else {
		s.src = newSynthetic(cfg)
	}
	for _, t := range gen.MainnetTokens() {
		s.tokens[t.Address] = t
	}
	s.faults = newFaults(cfg)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler of the node and control APIs.
func (s *Sim) Handler() http.Handler { return s.handler }

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

// Reorg replaces the last depth blocks (at most all of them) with different
// ones: new ids, new transactions, the same numbers. It fails in replay
// mode.
func (s *Sim) Reorg(depth int) error { return s.src.reorg(depth) }

// Head returns the number and id of the newest block.
func (s *Sim) Head() (number int64, id string) { return s.src.head() }

// Solid returns the number of the newest solidified block: 19 below the
// head, but never below the first block.
func (s *Sim) Solid() int64 {
	h, _ := s.src.head()
	return max(h-SolidDepth, s.src.first())
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
	Mode           string       `json:"mode"`
	Head           int64        `json:"head"`
	HeadID         string       `json:"head_id"`
	Solid          int64        `json:"solid"`
	First          int64        `json:"first"`
	Seed           uint64       `json:"seed"`
	Reorgs         int          `json:"reorgs"`
	Requests       int64        `json:"requests"`
	ErrorsInjected int64        `json:"errors_injected"`
	RateLimited    int64        `json:"rate_limited"`
	Config         StatusConfig `json:"config"`
}

// StatusConfig is the configuration part of [Status].
type StatusConfig struct {
	TxsPerBlock   int     `json:"txs_per_block"`
	Addresses     int     `json:"addresses"`
	StartBlock    int64   `json:"start_block"`
	StartTime     string  `json:"start_time"`
	BlocksDir     string  `json:"blocks_dir,omitempty"`
	BlockInterval string  `json:"block_interval"`
	Instant       bool    `json:"instant"`
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
	return Status{
		Mode:           mode,
		Head:           head,
		HeadID:         id,
		Solid:          max(head-SolidDepth, s.src.first()),
		First:          s.src.first(),
		Seed:           c.Seed,
		Reorgs:         s.src.reorgs(),
		Requests:       s.requests.Load(),
		ErrorsInjected: s.injected.Load(),
		RateLimited:    s.rateLimited.Load(),
		Config: StatusConfig{
			TxsPerBlock:   c.TxsPerBlock,
			Addresses:     c.Addresses,
			StartBlock:    c.StartBlock,
			StartTime:     c.StartTime.UTC().Format(time.RFC3339),
			BlocksDir:     c.BlocksDir,
			BlockInterval: c.BlockInterval.String(),
			Instant:       c.Instant,
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
