package nodes

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// fakeNode serves a simulated chain straight from the simulator, without
// HTTP, with the faults a test sets: a lag, a stalled head, an error on
// every call, or tampered data.
type fakeNode struct {
	s *sim.Sim

	mu      sync.Mutex
	lag     int64
	stallAt int64 // 0: not stalled
	err     error
	corrupt string // "", "block", "tx", "link", "infos" or "noinfos"
	// gate, when set, holds BlocksByRange until closed.
	gate  chan struct{}
	solid int64
	calls map[string]int
}

func newFakeNode(s *sim.Sim) *fakeNode { return &fakeNode{s: s, calls: map[string]int{}} }

func (f *fakeNode) set(fn func(f *fakeNode)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeNode) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[call]
}

// enter counts call and returns the node's head and faults.
func (f *fakeNode) enter(call string) (head int64, corrupt string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[call]++
	head, _ = f.s.Head()
	head -= f.lag
	if f.stallAt > 0 {
		head = min(head, f.stallAt)
	}
	return head, f.corrupt, f.err
}

// block returns a copy of block n, spoilt as corrupt says.
func (f *fakeNode) block(n int64, corrupt string) (*tron.Block, error) {
	b, _, err := f.s.Block(n)
	if err != nil {
		return nil, err
	}
	b.Transactions = append([]tron.Transaction(nil), b.Transactions...)
	switch corrupt {
	case "block":
		b.BlockHeader.RawData.Timestamp++
	case "tx":
		if len(b.Transactions) > 0 {
			tx := &b.Transactions[0]
			tx.RawDataHex = strings.Repeat("0", len(tx.RawDataHex))
		}
	}
	return &b, nil
}

func (f *fakeNode) NowBlock(context.Context) (*tron.Block, error) {
	head, corrupt, err := f.enter("now")
	if err != nil {
		return nil, err
	}
	return f.block(head, corrupt)
}

func (f *fakeNode) BlockByNum(_ context.Context, num int64) (*tron.Block, error) {
	head, corrupt, err := f.enter("block")
	if err != nil {
		return nil, err
	}
	if num > head {
		return nil, fmt.Errorf("fake: block %d: %w", num, tron.ErrNotFound)
	}
	return f.block(num, corrupt)
}

func (f *fakeNode) BlocksByRange(ctx context.Context, start, end int64) ([]tron.Block, error) {
	head, corrupt, err := f.enter("range")
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	var out []tron.Block
	for n := start; n < end && n <= head; n++ {
		c := corrupt
		if c == "link" {
			c = ""
		}
		b, err := f.block(n, c)
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
	}
	if corrupt == "link" && len(out) > 1 {
		// A valid block of another branch in the middle: each id is
		// right, the chain is not.
		out[1] = out[0]
		out[1].BlockHeader.RawData.Number++
		out[1].BlockHeader.RawData.ParentHash = strings.Repeat("ab", 32)
		id, err := tron.ComputeBlockID(&out[1].BlockHeader.RawData)
		if err != nil {
			return nil, err
		}
		out[1].BlockID = id
	}
	return out, nil
}

func (f *fakeNode) TxInfosByBlockNum(_ context.Context, num int64) ([]tron.TxInfo, error) {
	head, corrupt, err := f.enter("infos")
	if err != nil {
		return nil, err
	}
	if num > head {
		return []tron.TxInfo{}, nil
	}
	_, infos, err := f.s.Block(num)
	if err != nil {
		return nil, err
	}
	infos = append([]tron.TxInfo{}, infos...)
	switch {
	case corrupt == "infos" && len(infos) > 1:
		infos[0], infos[1] = infos[1], infos[0]
	case corrupt == "noinfos":
		infos = infos[:0]
	}
	return infos, nil
}

func (f *fakeNode) SolidHeight(context.Context) (int64, error) {
	_, _, err := f.enter("solid")
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.solid, nil
}

func (f *fakeNode) TriggerConstant(context.Context, tron.Address, tron.Address, string, []byte) ([]byte, error) {
	_, _, err := f.enter("trigger")
	if err != nil {
		return nil, err
	}
	return []byte{1}, nil
}

func (f *fakeNode) Close() error { return nil }

// testChain returns an instant simulator of 40 small blocks.
func testChain(t testing.TB) *sim.Sim {
	t.Helper()
	s, err := sim.New(sim.Config{Seed: 5, Instant: true, InitialBlocks: 40, TxsPerBlock: 4, Addresses: 50})
	require.NoError(t, err)
	return s
}

// bed is a pool over fake nodes, on a hand-moved clock.
type bed struct {
	p     *Pool
	fakes []*fakeNode
	clock *testenv.Clock
	reg   *prometheus.Registry
}

func newBed(t testing.TB, s *sim.Sim, n int, mod func(*Config)) *bed {
	t.Helper()
	b := &bed{clock: testenv.NewClock(), reg: prometheus.NewRegistry()}
	byURL := map[string]*fakeNode{}
	var urls []string
	for i := range n {
		u := fmt.Sprintf("http://127.0.0.1:%d", 18090+i)
		f := newFakeNode(s)
		byURL[u] = f
		b.fakes = append(b.fakes, f)
		urls = append(urls, u)
	}
	cfg := Config{
		URLs: urls, Registerer: b.reg, Now: b.clock.Now,
		NewClient: func(cc tron.ClientConfig) (Client, error) { return byURL[cc.BaseURL], nil },
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	b.p = p
	return b
}

// round moves the clock one health interval on and polls every node due,
// as one tick of Run does.
func (b *bed) round(t testing.TB) {
	t.Helper()
	b.clock.Advance(b.p.cfg.HealthInterval)
	var wg sync.WaitGroup
	b.p.pollDue(t.Context(), &wg)
	wg.Wait()
	b.p.evaluate()
}

func (b *bed) rounds(t testing.TB, n int) {
	t.Helper()
	for range n {
		b.round(t)
	}
}

// states returns every node's state, the selected one as "selected".
func (b *bed) states() []State {
	var out []State
	for _, s := range b.p.Status() {
		out = append(out, s.State)
	}
	return out
}

func (b *bed) selected() int {
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	return b.p.selected
}

// errDown stands for a node answering 503.
var errDown = &tron.HTTPError{Path: "/wallet/x", StatusCode: 503}
