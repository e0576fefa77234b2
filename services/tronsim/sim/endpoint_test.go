package sim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// newEndpoint serves a second endpoint of s with faults f on loopback.
func newEndpoint(t testing.TB, s *sim.Sim, f sim.Faults) (*sim.Endpoint, string) {
	t.Helper()
	e := s.NewEndpoint(f)
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	return e, srv.URL
}

// verify checks a block as a client that trusts no node does: its id and
// every transaction's id.
func verify(b *tron.Block) error {
	if err := tron.VerifyBlockID(b); err != nil {
		return err
	}
	for i := range b.Transactions {
		if err := tron.VerifyTxID(&b.Transactions[i]); err != nil {
			return err
		}
	}
	return nil
}

// matches says whether infos match the block's transactions one to one.
func matches(b *tron.Block, infos []tron.TxInfo) bool {
	if len(infos) != len(b.Transactions) {
		return false
	}
	for i := range infos {
		if infos[i].ID != b.Transactions[i].TxID {
			return false
		}
	}
	return true
}

func nowNumber(t testing.TB, base, api string) int64 {
	t.Helper()
	_, body := call(t, base, api+"/getnowblock", nil)
	var b tron.Block
	require.NoError(t, json.Unmarshal(body, &b))
	return b.BlockHeader.RawData.Number
}

func nodeInfoNumbers(t testing.TB, base string) (head, solid int64) {
	t.Helper()
	_, body := call(t, base, "/wallet/getnodeinfo", nil)
	var info struct{ Block, SolidityBlock string }
	require.NoError(t, json.Unmarshal(body, &info))
	_, err := fmt.Sscanf(info.Block, "Num:%d,", &head)
	require.NoError(t, err, info.Block)
	_, err = fmt.Sscanf(info.SolidityBlock, "Num:%d,", &solid)
	require.NoError(t, err, info.SolidityBlock)
	return head, solid
}

func rangeOf(t testing.TB, base string, start, end int64) []tron.Block {
	t.Helper()
	_, body := call(t, base, "/wallet/getblockbylimitnext", map[string]any{"startNum": start, "endNum": end})
	var got struct{ Block []tron.Block }
	require.NoError(t, json.Unmarshal(body, &got))
	return got.Block
}

// TestEndpoint_Faults sets each fault on its own on a second endpoint of a
// chain: the endpoint shows it, and the default endpoint of the same chain
// stays healthy.
func TestEndpoint_Faults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults sim.Faults
		check  func(t *testing.T, s *sim.Sim, e *sim.Endpoint, base string)
	}{
		{"error rate", sim.Faults{ErrorRate: 1}, func(t *testing.T, _ *sim.Sim, e *sim.Endpoint, base string) {
			seen := map[int]int{}
			for range 30 {
				code, _ := outcome(t, base)
				seen[code]++
			}
			require.Zero(t, seen[http.StatusOK], "%v", seen)
			for _, code := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, -1} {
				require.Positive(t, seen[code], "%v", seen)
			}
			st := e.Status()
			require.Equal(t, int64(30), st.ErrorsInjected)
			require.Equal(t, int64(30), st.Requests)
			// The control API is never faulted.
			code, _, _ := get(t, base+"/sim/status")
			require.Equal(t, http.StatusOK, code)
		}},
		{"latency", sim.Faults{Latency: 60 * time.Millisecond}, func(t *testing.T, _ *sim.Sim, _ *sim.Endpoint, base string) {
			start := time.Now()
			code, _ := outcome(t, base)
			require.Equal(t, http.StatusOK, code)
			require.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)
		}},
		{"rate limit", sim.Faults{RateLimit: 2}, func(t *testing.T, _ *sim.Sim, e *sim.Endpoint, base string) {
			limited := 0
			for range 6 {
				code, h := outcome(t, base)
				if code == http.StatusTooManyRequests {
					limited++
					require.Equal(t, "1", h.Get("Retry-After"))
					continue
				}
				require.Equal(t, http.StatusOK, code)
			}
			require.GreaterOrEqual(t, limited, 3)
			require.Equal(t, int64(limited), e.Status().RateLimited)
		}},
		{"stall", sim.Faults{Stall: true}, func(t *testing.T, s *sim.Sim, e *sim.Endpoint, base string) {
			stalled, _ := s.Head()
			s.Mine(25)
			head, _ := s.Head()
			require.Equal(t, stalled, nowNumber(t, base, "/wallet"))
			_, body := call(t, base, "/wallet/getblockbynum", map[string]any{"num": stalled + 1})
			require.Equal(t, "{}", string(body), "above the stalled head: not found")
			_, body = call(t, base, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": stalled + 1})
			require.Equal(t, "[]", string(body))
			require.Len(t, rangeOf(t, base, stalled-2, stalled+5), 3)
			nh, ns := nodeInfoNumbers(t, base)
			require.Equal(t, stalled, nh)
			require.Equal(t, min(s.Solid(), stalled), ns)
			require.LessOrEqual(t, nowNumber(t, base, "/walletsolidity"), stalled)

			// Cleared, the endpoint catches up at once.
			f := e.Faults()
			f.Stall = false
			e.SetFaults(f)
			require.Equal(t, head, nowNumber(t, base, "/wallet"))
		}},
		{"lag", sim.Faults{Lag: 20}, func(t *testing.T, s *sim.Sim, e *sim.Endpoint, base string) {
			s.Mine(5)
			head, _ := s.Head()
			require.Equal(t, head-20, nowNumber(t, base, "/wallet"))
			_, body := call(t, base, "/wallet/getblockbynum", map[string]any{"num": head - 19})
			require.Equal(t, "{}", string(body))
			nh, ns := nodeInfoNumbers(t, base)
			require.Equal(t, head-20, nh)
			// The chain's solid block (19 back) is above the lagging head.
			require.Equal(t, head-19, s.Solid())
			require.Equal(t, head-20, ns)
			require.Equal(t, head-20, nowNumber(t, base, "/walletsolidity"))
			// The lag follows the chain.
			s.Mine(3)
			require.Equal(t, head-17, nowNumber(t, base, "/wallet"))
			// Behind by less than the solid lag, the solid block is the
			// chain's.
			e.SetFaults(sim.Faults{Lag: 5})
			_, ns = nodeInfoNumbers(t, base)
			require.Equal(t, s.Solid(), ns)
		}},
		{"corrupt blocks", sim.Faults{CorruptBlocks: true}, func(t *testing.T, s *sim.Sim, _ *sim.Endpoint, base string) {
			head, _ := s.Head()
			var served []tron.Block
			for n := head - 5; n <= head; n++ {
				b, _ := fetchBlock(t, base, n)
				served = append(served, b)
			}
			served = append(served, rangeOf(t, base, head-5, head+1)...)
			var b tron.Block
			_, body := call(t, base, "/wallet/getnowblock", nil)
			require.NoError(t, json.Unmarshal(body, &b))
			served = append(served, b)
			_, body = call(t, base, "/wallet/getblockbynum", map[string]any{"num": head, "visible": true})
			require.NoError(t, json.Unmarshal(body, &b))
			served = append(served, b)
			require.Len(t, served, 14)
			idOnly, txOnly := 0, 0
			for i := range served {
				b := &served[i]
				err := verify(b)
				require.ErrorIs(t, err, tron.ErrIntegrity, "block %d", b.BlockHeader.RawData.Number)
				if tron.VerifyBlockID(b) == nil {
					txOnly++
				} else {
					idOnly++
				}
				// Still the block it claims to be.
				require.True(t, strings.HasPrefix(b.BlockID, fmt.Sprintf("%016x", b.BlockHeader.RawData.Number)))
			}
			require.Positive(t, idOnly)
			require.Positive(t, txOnly)
		}},
		{"corrupt receipts", sim.Faults{CorruptReceipts: true}, func(t *testing.T, s *sim.Sim, _ *sim.Endpoint, base string) {
			head, _ := s.Head()
			for n := head - 5; n <= head; n++ {
				b, infos := fetchBlock(t, base, n)
				require.NoError(t, verify(&b), "blocks stay good")
				require.False(t, matches(&b, infos), "block %d", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, defBase := newSim(t, sim.Config{Seed: 5, TxsPerBlock: 6, InitialBlocks: 40})
			e, base := newEndpoint(t, s, tc.faults)
			require.Equal(t, tc.faults, e.Faults())
			tc.check(t, s, e, base)

			// The default endpoint of the same chain is unaffected.
			head, _ := s.Head()
			for n := head - 3; n <= head; n++ {
				b, infos := fetchBlock(t, defBase, n)
				require.NoError(t, verify(&b))
				require.True(t, matches(&b, infos))
			}
			require.Equal(t, head, nowNumber(t, defBase, "/wallet"))
			code, _ := outcome(t, defBase)
			require.Equal(t, http.StatusOK, code)
		})
	}
}

// TestEndpoint_CorruptReceipts_EmptyBlock: a block without transactions
// gets an info it does not have.
func TestEndpoint_CorruptReceipts_EmptyBlock(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, sim.Config{Seed: 5, TxsPerBlock: sim.NoTxs, InitialBlocks: 3})
	_, base := newEndpoint(t, s, sim.Faults{CorruptReceipts: true, CorruptBlocks: true})
	head, _ := s.Head()
	for n := head - 1; n <= head; n++ {
		b, infos := fetchBlock(t, base, n)
		require.Empty(t, b.Transactions)
		require.Len(t, infos, 1)
		require.ErrorIs(t, tron.VerifyBlockID(&b), tron.ErrIntegrity)
	}
}

// TestEndpoint_Stall_WithLag: a stalled lagging endpoint stops where its
// lagging head was.
func TestEndpoint_Stall_WithLag(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, sim.Config{Seed: 5, TxsPerBlock: 2, InitialBlocks: 40})
	e, base := newEndpoint(t, s, sim.Faults{Lag: 10})
	head, _ := s.Head()
	e.SetFaults(sim.Faults{Lag: 10, Stall: true})
	s.Mine(30)
	require.Equal(t, head-10, nowNumber(t, base, "/wallet"))
	require.Equal(t, head-10, e.Status().Head)
}

// TestEndpoint_FaultsAPI drives /sim/faults: GET answers the faults, POST
// changes the fields it names and keeps the others, and a bad body is
// refused without changing anything.
func TestEndpoint_FaultsAPI(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, sim.Config{Seed: 5, TxsPerBlock: 2, InitialBlocks: 40})
	e, base := newEndpoint(t, s, sim.Faults{Latency: 250 * time.Millisecond})

	code, _, body := get(t, base+"/sim/faults")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"error_rate":0,"latency":"250ms","rate_limit":0,"stall":false,"lag":0,"corrupt_blocks":false,"corrupt_receipts":false}`, string(body))

	code, body = call(t, base, "/sim/faults", `{"lag":20,"corrupt_blocks":true,"latency":"0s"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	want := sim.Faults{Lag: 20, CorruptBlocks: true}
	require.Equal(t, want, e.Faults())
	var got sim.Faults
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, want, got)

	for _, bad := range []string{`{"lagg":1}`, `{"error_rate":2}`, `{"latency":"soon"}`, `[1]`, `{"lag":-1}`} {
		code, body = call(t, base, "/sim/faults", bad)
		require.Equal(t, http.StatusBadRequest, code, bad)
		require.Contains(t, string(body), "error", bad)
		require.Equal(t, want, e.Faults(), bad)
	}

	// /sim/status shows the endpoint that answers.
	head, _ := s.Head()
	st := status(t, base)
	require.NotNil(t, st.Endpoint)
	require.Equal(t, head-20, st.Endpoint.Head)
	require.Equal(t, want, st.Endpoint.Faults)
	require.Equal(t, head, st.Head)
}

func TestFaults_JSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		start   sim.Faults
		body    string
		want    sim.Faults
		wantErr string
	}{
		{"snake case", sim.Faults{}, `{"error_rate":0.5,"latency":"1.5s","rate_limit":3,"stall":true,"lag":4,"corrupt_blocks":true,"corrupt_receipts":true}`,
			sim.Faults{ErrorRate: 0.5, Latency: 1500 * time.Millisecond, RateLimit: 3, Stall: true, Lag: 4, CorruptBlocks: true, CorruptReceipts: true}, ""},
		{"go names", sim.Faults{}, `{"ErrorRate":0.5,"CorruptReceipts":true}`, sim.Faults{ErrorRate: 0.5, CorruptReceipts: true}, ""},
		{"camel case", sim.Faults{}, `{"rateLimit":7,"corruptBlocks":true}`, sim.Faults{RateLimit: 7, CorruptBlocks: true}, ""},
		{"nanoseconds", sim.Faults{}, `{"latency":1000}`, sim.Faults{Latency: time.Microsecond}, ""},
		{"merge keeps the rest", sim.Faults{Lag: 3, Stall: true}, `{"stall":false}`, sim.Faults{Lag: 3}, ""},
		{"unknown field", sim.Faults{}, `{"stal":true}`, sim.Faults{}, "stal: unknown fault"},
		{"bad duration", sim.Faults{}, `{"latency":"soon"}`, sim.Faults{}, "latency"},
		{"not an object", sim.Faults{}, `null`, sim.Faults{}, "want a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tc.start
			err := json.Unmarshal([]byte(tc.body), &f)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, f)
			// And back.
			b, err := json.Marshal(f)
			require.NoError(t, err)
			var again sim.Faults
			require.NoError(t, json.Unmarshal(b, &again))
			require.Equal(t, f, again)
		})
	}
}

func TestFaults_Validate(t *testing.T) {
	t.Parallel()
	require.NoError(t, sim.Faults{ErrorRate: 1, Lag: 3}.Validate())
	err := sim.Faults{ErrorRate: -0.1, Latency: -1, RateLimit: -2, Lag: -3}.Validate()
	for _, want := range []string{"error rate", "latency", "rate limit", "lag"} {
		require.ErrorContains(t, err, want)
	}
}

// TestEndpoint_SetFaults_Clamps: out of range values never reach the
// node.
func TestEndpoint_SetFaults_Clamps(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, sim.Config{Seed: 5, TxsPerBlock: 2})
	e := s.NewEndpoint(sim.Faults{ErrorRate: 3, Latency: -time.Second, RateLimit: -1, Lag: -4})
	require.Equal(t, sim.Faults{ErrorRate: 1}, e.Faults())
}

// TestEndpoint_Deterministic: the same seed gives each endpoint the same
// sequence of injected errors, and two endpoints of one chain different
// ones.
func TestEndpoint_Deterministic(t *testing.T) {
	t.Parallel()
	seq := func(base string) string {
		var b strings.Builder
		for range 40 {
			code, _ := outcome(t, base)
			fmt.Fprintf(&b, "%d,", code)
		}
		return b.String()
	}
	run := func() (string, string) {
		s, _ := newSim(t, sim.Config{Seed: 11, TxsPerBlock: 2})
		_, a := newEndpoint(t, s, sim.Faults{ErrorRate: 0.5})
		_, b := newEndpoint(t, s, sim.Faults{ErrorRate: 0.5})
		return seq(a), seq(b)
	}
	a1, b1 := run()
	a2, b2 := run()
	require.Equal(t, a1, a2)
	require.Equal(t, b1, b2)
	require.NotEqual(t, a1, b1)
}

// TestSim_Endpoint: the default endpoint carries the Config's faults.
func TestSim_Endpoint(t *testing.T) {
	t.Parallel()
	s, err := sim.New(sim.Config{ErrorRate: 0.25, Latency: time.Millisecond, RateLimit: 9})
	require.NoError(t, err)
	require.Equal(t, sim.Faults{ErrorRate: 0.25, Latency: time.Millisecond, RateLimit: 9}, s.Endpoint().Faults())
	require.Same(t, s, s.Endpoint().Sim())
}
