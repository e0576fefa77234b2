package tokens_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/tokens"
)

// testMongo is the client of the FerretDB the package's tests share; each
// test takes its own database.
var testMongo *mongo.Client

func TestMain(m *testing.M) {
	testenv.Main(m, func(s testenv.Servers) { testMongo = s.Client })
}

var dbSeq atomic.Int64

// newDB returns a fresh database of the shared FerretDB.
func newDB(t testing.TB) *mongo.Database {
	t.Helper()
	return testMongo.Database(fmt.Sprintf("tokens_%d", dbSeq.Add(1)))
}

// Function selectors, as the resolver sends them.
const (
	selDecimals = "decimals()"
	selSymbol   = "symbol()"
	selName     = "name()"
)

// nodeMode is how the fake node answers.
type nodeMode int

const (
	modeAnswer nodeMode = iota // as its contracts say
	modeDown                   // an error at once
	modeHang                   // nothing until the call's context ends
)

var errNodeDown = errors.New("fake node down")

// fakeNode is a node with a few token contracts; a selector a contract
// lacks reverts. It counts every call.
type fakeNode struct {
	mu        sync.Mutex
	contracts map[tron.Address]map[string][]byte
	calls     map[tron.Address]map[string]int
	mode      nodeMode
	running   int
	gate      chan struct{} // nil: answer at once
}

func newFakeNode() *fakeNode {
	return &fakeNode{contracts: map[tron.Address]map[string][]byte{}, calls: map[tron.Address]map[string]int{}}
}

// token returns the answers of a token contract; decimals < 0 leaves
// decimals() out, an empty symbol or name leaves the function out.
func token(decimals int, symbol, name string) map[string][]byte {
	m := map[string][]byte{}
	if decimals >= 0 {
		m[selDecimals] = abiWord(uint64(decimals))
	}
	if symbol != "" {
		m[selSymbol] = abiString(symbol)
	}
	if name != "" {
		m[selName] = abiString(name)
	}
	return m
}

func (f *fakeNode) set(a tron.Address, answers map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.contracts[a] = answers
}

func (f *fakeNode) setMode(m nodeMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

func (f *fakeNode) TriggerConstant(ctx context.Context, _, contract tron.Address, selector string, _ []byte) ([]byte, error) {
	f.mu.Lock()
	if f.calls[contract] == nil {
		f.calls[contract] = map[string]int{}
	}
	f.calls[contract][selector]++
	f.running++
	mode, gate := f.mode, f.gate
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	switch mode {
	case modeDown:
		return nil, errNodeDown
	case modeHang:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ret, ok := f.contracts[contract][selector]
	if !ok {
		return nil, &tron.CallError{Code: "REVERT"}
	}
	return ret, nil
}

func (f *fakeNode) count(a tron.Address, selector string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[a][selector]
}

func (f *fakeNode) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.calls {
		for _, c := range m {
			n += c
		}
	}
	return n
}

func (f *fakeNode) inFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running
}

// abiWord is n as a 32-byte big-endian word.
func abiWord(n uint64) []byte {
	w := make([]byte, 32)
	binary.BigEndian.PutUint64(w[24:], n)
	return w
}

// abiString ABI-encodes s as a function's only return value.
func abiString(s string) []byte {
	out := append(abiWord(32), abiWord(uint64(len(s)))...)
	out = append(out, s...)
	if pad := len(s) % 32; pad != 0 {
		out = append(out, make([]byte, 32-pad)...)
	}
	return out
}

// testAddr returns a distinct contract address for each i.
func testAddr(i int) tron.Address {
	a := tron.Address{tron.AddressPrefix}
	binary.BigEndian.PutUint32(a[17:], uint32(i)+1)
	return a
}

// newCache returns a cache for cfg with its metrics on a fresh registry.
func newCache(t testing.TB, cfg tokens.Config) (*tokens.Cache, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	return tokens.New(cfg), reg
}

// start runs c until the returned stop is called, or the test ends; stop
// waits for Run, which must return nil.
func start(t testing.TB, c *tokens.Cache) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10s of its context's end")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// metric returns the value of the counter or gauge name with labels
// (name, value pairs), 0 when it has not been set.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// never fails if cond holds at any poll within d.
func never(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("%s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// resolutions is how many resolutions the cache behind reg has finished.
func resolutions(t testing.TB, reg *prometheus.Registry) int {
	t.Helper()
	n := 0.0
	for _, r := range []string{"ok", "unknown", "error"} {
		n += metric(t, reg, "mongotron_ingest_token_resolutions_total", "result", r)
	}
	return int(n)
}
