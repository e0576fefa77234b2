package sim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

func TestSim_Block_DecodesOverHTTP(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 3, TxsPerBlock: 300, InitialBlocks: 12, Addresses: 2000})
	head, headID := s.Head()
	require.Equal(t, int64(sim.DefaultStartBlock+11), head)
	dec := decode.NewDecoder(decode.DecoderConfig{})
	kinds := map[event.Kind]int{}
	failed, swaps := 0, 0
	var prevID string
	for n := int64(sim.DefaultStartBlock); n <= head; n++ {
		b, infos := fetchBlock(t, base, n)
		require.Equal(t, n, b.BlockHeader.RawData.Number)
		if prevID != "" {
			require.Equal(t, prevID, b.BlockHeader.RawData.ParentHash, "block %d parent", n)
		}
		prevID = b.BlockID
		evs, err := dec.DecodeBlock(&b, infos)
		require.NoError(t, err, "block %d", n)
		for _, e := range evs {
			kinds[e.Kind]++
		}
		for i, tx := range b.Transactions {
			if tx.Ret[0].ContractRet != "SUCCESS" {
				failed++
				require.Equal(t, "FAILED", infos[i].Result)
				require.Empty(t, infos[i].Log)
			}
			if len(infos[i].Log) >= 4 {
				swaps++
			}
		}
	}
	require.Equal(t, headID, prevID)
	require.Positive(t, failed)
	require.Positive(t, swaps)
	for _, k := range []event.Kind{
		event.KindTRXTransfer, event.KindTRC10Transfer, event.KindTRC20Transfer, event.KindContractCall,
		event.KindStake, event.KindUnstake, event.KindDelegateResource, event.KindUndelegateResource,
		event.KindVote, event.KindRewardClaim, event.KindWithdrawUnstake, event.KindAccountCreate,
	} {
		require.Positive(t, kinds[k], "no %s in %v", k, kinds)
	}
}

func TestSim_Block_USDT(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, sim.Config{Seed: 3, TxsPerBlock: 300})
	head, _ := s.Head()
	b, infos, err := s.Block(head)
	require.NoError(t, err)
	evs, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeBlock(&b, infos)
	require.NoError(t, err)
	usdt := 0
	for _, e := range evs {
		if e.Kind == event.KindTRC20Transfer && e.Contract.String() == "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t" {
			usdt++
			require.Equal(t, "USDT", e.Token.Symbol)
			require.Equal(t, 6, *e.Token.Decimals)
		}
	}
	require.Greater(t, usdt, 50)
}

func TestSim_Deterministic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		a, b      sim.Config
		wantEqual bool
	}{
		{"same seed", sim.Config{Seed: 9, InitialBlocks: 30}, sim.Config{Seed: 9, InitialBlocks: 30}, true},
		{"same seed, tiny cache", sim.Config{Seed: 9, InitialBlocks: 30}, sim.Config{Seed: 9, InitialBlocks: 30, CacheBlocks: 2}, true},
		{"other seed", sim.Config{Seed: 9, InitialBlocks: 30}, sim.Config{Seed: 10, InitialBlocks: 30}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, baseA := newSim(t, tc.a)
			sb, baseB := newSim(t, tc.b)
			// Touch later blocks first so that with a tiny cache the
			// early ones must be regenerated.
			for n := int64(sim.DefaultStartBlock + 29); n >= sim.DefaultStartBlock+20; n-- {
				_, _, err := sb.Block(n)
				require.NoError(t, err)
			}
			for _, n := range []int64{sim.DefaultStartBlock, sim.DefaultStartBlock + 5, sim.DefaultStartBlock + 29} {
				_, a := call(t, baseA, "/wallet/getblockbynum", map[string]any{"num": n})
				_, b := call(t, baseB, "/wallet/getblockbynum", map[string]any{"num": n})
				_, ai := call(t, baseA, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": n})
				_, bi := call(t, baseB, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": n})
				if tc.wantEqual {
					require.Equal(t, string(a), string(b), "block %d", n)
					require.Equal(t, string(ai), string(bi), "infos %d", n)
				} else {
					require.NotEqual(t, string(a), string(b), "block %d", n)
				}
			}
		})
	}
}

func TestSim_Reorg(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		depth int
		want  int // blocks replaced
	}{
		{"one", 1, 1},
		{"three", 3, 3},
		// The first block is the solidified one while the chain is
		// shorter than the lag.
		{"deeper than the chain", 15, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newSim(t, sim.Config{Seed: 5, InitialBlocks: 10})
			head, _ := s.Head()
			before := blocks(t, s, head)
			require.NoError(t, s.Reorg(tc.depth))
			newHead, newID := s.Head()
			require.Equal(t, head, newHead)
			after := blocks(t, s, head)
			require.Equal(t, after[len(after)-1].BlockID, newID)
			for i := range before {
				replaced := i >= len(before)-tc.want
				if replaced {
					require.NotEqual(t, before[i].BlockID, after[i].BlockID, "block %d", i)
					require.NotEqual(t, before[i].Transactions[0].TxID, after[i].Transactions[0].TxID, "block %d", i)
				} else {
					require.Equal(t, before[i].BlockID, after[i].BlockID, "block %d", i)
				}
				if i > 0 {
					require.Equal(t, after[i-1].BlockID, after[i].BlockHeader.RawData.ParentHash)
				}
				require.NoError(t, tron.VerifyBlockID(&after[i]))
			}
			require.Equal(t, 1, s.Status().Reorgs)
		})
	}
}

func TestSim_ReorgEvery(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, sim.Config{Seed: 5, InitialBlocks: 1, ReorgEvery: 5, ReorgDepth: 2})
	require.Equal(t, int64(sim.DefaultStartBlock+20), s.Mine(20))
	require.Equal(t, 4, s.Status().Reorgs)
	head, _ := s.Head()
	all := blocks(t, s, head)
	for i := 1; i < len(all); i++ {
		require.Equal(t, all[i-1].BlockID, all[i].BlockHeader.RawData.ParentHash)
	}
	// A fresh simulator given the same history agrees: reorgs are
	// deterministic too.
	s2, _ := newSim(t, sim.Config{Seed: 5, InitialBlocks: 1, ReorgEvery: 5, ReorgDepth: 2})
	s2.Mine(20)
	_, id := s.Head()
	_, id2 := s2.Head()
	require.Equal(t, id, id2)
}

func blocks(t testing.TB, s *sim.Sim, head int64) []tron.Block {
	t.Helper()
	var out []tron.Block
	for n := s.First(); n <= head; n++ {
		b, _, err := s.Block(n)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func TestSim_EmptyBlock(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 1, TxsPerBlock: sim.NoTxs, InitialBlocks: 3})
	head, _ := s.Head()
	_, body := call(t, base, "/wallet/getblockbynum", map[string]any{"num": head})
	require.NotContains(t, string(body), "transactions")
	require.Contains(t, string(body), `"blockID"`)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw))
	require.Len(t, raw, 2) // blockID and block_header
	_, body = call(t, base, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": head})
	require.Equal(t, "[]", string(body))
}

func TestSim_PastHead(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 1, InitialBlocks: 3})
	head, _ := s.Head()
	tests := []struct {
		name, path string
		body       any
		want       string
	}{
		{"block past head", "/wallet/getblockbynum", map[string]any{"num": head + 1}, "{}"},
		{"block before start", "/wallet/getblockbynum", map[string]any{"num": 5}, "{}"},
		{"infos past head", "/wallet/gettransactioninfobyblocknum", map[string]any{"num": head + 1}, "[]"},
		{"range past head", "/wallet/getblockbylimitnext", map[string]any{"startNum": head + 1, "endNum": head + 5}, "{}"},
		{"unknown tx", "/wallet/gettransactionbyid", map[string]any{"value": strings.Repeat("ab", 32)}, "{}"},
		{"unknown tx info", "/wallet/gettransactioninfobyid", map[string]any{"value": strings.Repeat("ab", 32)}, "{}"},
		{"solid past solid", "/walletsolidity/getblockbynum", map[string]any{"num": head}, "{}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := call(t, base, tc.path, tc.body)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, tc.want, string(body))
		})
	}
}

func TestSim_GetBlockByLimitNext(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 1, TxsPerBlock: 2, InitialBlocks: 150})
	first := s.First()
	head, _ := s.Head()
	tests := []struct {
		name       string
		start, end int64
		want       []int64 // first and last number, nil for {}
	}{
		{"end exclusive", first, first + 3, []int64{first, first + 2}},
		{"exactly the cap", first, first + 100, []int64{first, first + 99}},
		{"over the cap", first, first + 101, nil},
		{"empty range", first + 5, first + 5, nil},
		{"reversed", first + 5, first + 1, nil},
		{"clipped at head", head - 1, head + 10, []int64{head - 1, head}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, body := call(t, base, "/wallet/getblockbylimitnext", map[string]any{"startNum": tc.start, "endNum": tc.end})
			if tc.want == nil {
				require.Equal(t, "{}", string(body))
				return
			}
			var got struct{ Block []tron.Block }
			require.NoError(t, json.Unmarshal(body, &got))
			require.Len(t, got.Block, int(tc.want[1]-tc.want[0]+1))
			require.Equal(t, tc.want[0], got.Block[0].BlockHeader.RawData.Number)
			require.Equal(t, tc.want[1], got.Block[len(got.Block)-1].BlockHeader.RawData.Number)
		})
	}
	// GET with query parameters answers the same.
	_, _, body := get(t, base+"/wallet/getblockbylimitnext?startNum="+itoa(first)+"&endNum="+itoa(first+2))
	var got struct{ Block []tron.Block }
	require.NoError(t, json.Unmarshal(body, &got))
	require.Len(t, got.Block, 2)
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestSim_NowBlockAndSolidity(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 1, TxsPerBlock: 2, InitialBlocks: 50})
	head, headID := s.Head()
	var b tron.Block
	_, body := call(t, base, "/wallet/getnowblock", nil)
	require.NoError(t, json.Unmarshal(body, &b))
	require.Equal(t, headID, b.BlockID)
	_, _, body = get(t, base+"/walletsolidity/getnowblock")
	require.NoError(t, json.Unmarshal(body, &b))
	require.Equal(t, head-sim.SolidDepth, b.BlockHeader.RawData.Number)
	require.Equal(t, head-sim.SolidDepth, s.Solid())
	_, _, body = get(t, base+"/walletsolidity/getblockbynum?num="+itoa(head-sim.SolidDepth))
	require.NoError(t, json.Unmarshal(body, &b))
	require.Equal(t, head-sim.SolidDepth, b.BlockHeader.RawData.Number)

	var info map[string]any
	_, body = call(t, base, "/wallet/getnodeinfo", nil)
	require.NoError(t, json.Unmarshal(body, &info))
	require.Equal(t, "Num:"+itoa(head)+",ID:"+headID, info["block"])
	require.True(t, strings.HasPrefix(info["solidityBlock"].(string), "Num:"+itoa(head-sim.SolidDepth)+",ID:"))
}

func TestSim_TransactionByID(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 1, InitialBlocks: 40, CacheBlocks: 4})
	head, _ := s.Head()
	// An old block, surely evicted from the tiny cache: found by
	// regenerating recent blocks.
	b, infos, err := s.Block(head - 30)
	require.NoError(t, err)
	for range 3 {
		_, _, err := s.Block(head)
		require.NoError(t, err)
	}
	tx := b.Transactions[3]
	var gotTx tron.Transaction
	_, body := call(t, base, "/wallet/gettransactionbyid", map[string]any{"value": tx.TxID})
	require.NoError(t, json.Unmarshal(body, &gotTx))
	require.Equal(t, tx.RawDataHex, gotTx.RawDataHex)
	var gotInfo tron.TxInfo
	_, _, body = get(t, base+"/wallet/gettransactioninfobyid?value="+tx.TxID)
	require.NoError(t, json.Unmarshal(body, &gotInfo))
	require.Equal(t, infos[3], gotInfo)
	// Not solidified yet for a head transaction.
	hb, _, err := s.Block(head)
	require.NoError(t, err)
	_, body = call(t, base, "/walletsolidity/gettransactionbyid", map[string]any{"value": hb.Transactions[0].TxID})
	require.Equal(t, "{}", string(body))
}

func TestSim_Visible(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 2, TxsPerBlock: 100})
	head, _ := s.Head()
	hexBlock, _, err := s.Block(head)
	require.NoError(t, err)
	for _, path := range []string{"/wallet/getblockbynum", "/wallet/getnowblock"} {
		_, body := call(t, base, path, map[string]any{"num": head, "visible": true})
		var b tron.Block
		require.NoError(t, json.Unmarshal(body, &b))
		require.True(t, strings.HasPrefix(b.BlockHeader.RawData.WitnessAddress, "T"), path)
		require.Equal(t, hexBlock.BlockID, b.BlockID)
		for i, tx := range b.Transactions {
			v := tx.RawData.Contract[0].Parameter.Value
			require.True(t, strings.HasPrefix(v.OwnerAddress, "T"), "%s tx %d owner %q", path, i, v.OwnerAddress)
			want, err := tron.ParseHex(hexBlock.Transactions[i].RawData.Contract[0].Parameter.Value.OwnerAddress)
			require.NoError(t, err)
			require.Equal(t, want.String(), v.OwnerAddress)
			if v.ToAddress != "" {
				require.True(t, strings.HasPrefix(v.ToAddress, "T"))
			}
			if v.ContractAddress != "" {
				require.True(t, strings.HasPrefix(v.ContractAddress, "T"))
			}
		}
	}
	_, _, body := get(t, base+"/wallet/getblockbynum?visible=true&num="+itoa(head))
	require.Contains(t, string(body), `"owner_address":"T`)
	_, _, body = get(t, base+"/wallet/getblockbynum?num="+itoa(head))
	require.Contains(t, string(body), `"owner_address":"41`)
}

func TestSim_TriggerConstantContract(t *testing.T) {
	t.Parallel()
	_, base := newSim(t, sim.Config{Seed: 2})
	const usdt = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
	tests := []struct {
		name     string
		body     map[string]any
		want     string // constant_result[0]
		wantCode string
	}{
		{"decimals by data", map[string]any{"contract_address": usdt, "data": "313ce567", "visible": true},
			"0000000000000000000000000000000000000000000000000000000000000006", ""},
		{"decimals by selector, hex address", map[string]any{"contract_address": "41a614f803b6fd780986a42c78ec9c7f77e6ded13c", "function_selector": "decimals()", "owner_address": "4160bb513e91aa723a10a4020ae6fcce39bce7e240"},
			"0000000000000000000000000000000000000000000000000000000000000006", ""},
		{"symbol", map[string]any{"contract_address": usdt, "data": "95d89b41", "visible": true},
			"0000000000000000000000000000000000000000000000000000000000000020" +
				"0000000000000000000000000000000000000000000000000000000000000004" +
				"5553445400000000000000000000000000000000000000000000000000000000", ""},
		{"name", map[string]any{"contract_address": usdt, "function_selector": "name()", "visible": true},
			"0000000000000000000000000000000000000000000000000000000000000020" +
				"000000000000000000000000000000000000000000000000000000000000000a" +
				"5465746865722055534400000000000000000000000000000000000000000000", ""},
		{"unknown method", map[string]any{"contract_address": usdt, "data": "deadbeef", "visible": true}, "", "CONTRACT_EXE_ERROR"},
		{"unknown contract", map[string]any{"contract_address": "TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vx", "data": "313ce567", "visible": true}, "", "CONTRACT_VALIDATE_ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := call(t, base, "/wallet/triggerconstantcontract", tc.body)
			require.Equal(t, http.StatusOK, code)
			var got struct {
				Result struct {
					Result  bool
					Code    string
					Message string
				}
				ConstantResult []string `json:"constant_result"`
				Transaction    *tron.Transaction
			}
			require.NoError(t, json.Unmarshal(body, &got), string(body))
			if tc.wantCode != "" {
				require.False(t, got.Result.Result)
				require.Equal(t, tc.wantCode, got.Result.Code)
				require.NotEmpty(t, got.Result.Message)
				return
			}
			require.True(t, got.Result.Result, string(body))
			require.Equal(t, []string{tc.want}, got.ConstantResult)
			require.NotNil(t, got.Transaction)
			require.NoError(t, tron.VerifyTxID(got.Transaction))
		})
	}
}

func TestSim_Control(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 11, InitialBlocks: 5})
	code, body := call(t, base, "/sim/mine", map[string]any{"n": 3})
	require.Equal(t, http.StatusOK, code)
	var ans struct {
		Head   int64  `json:"head"`
		HeadID string `json:"head_id"`
		Reorgs int    `json:"reorgs"`
	}
	require.NoError(t, json.Unmarshal(body, &ans))
	require.Equal(t, int64(sim.DefaultStartBlock+7), ans.Head)
	_, id := s.Head()
	require.Equal(t, id, ans.HeadID)

	code, body = call(t, base, "/sim/reorg", map[string]any{"depth": 2})
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal(body, &ans))
	require.NotEqual(t, id, ans.HeadID)
	require.Equal(t, 1, ans.Reorgs)

	code, body = call(t, base, "/sim/mine", map[string]any{"n": -1})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	code, _, _ = get(t, base+"/sim/mine")
	require.Equal(t, http.StatusMethodNotAllowed, code)

	call(t, base, "/wallet/getnowblock", nil)
	code, _, body = get(t, base+"/sim/status")
	require.Equal(t, http.StatusOK, code)
	var st sim.Status
	require.NoError(t, json.Unmarshal(body, &st))
	require.Equal(t, "synthetic", st.Mode)
	require.Equal(t, ans.Head, st.Head)
	require.Equal(t, ans.HeadID, st.HeadID)
	require.Equal(t, uint64(11), st.Seed)
	require.Equal(t, 1, st.Reorgs)
	require.Equal(t, int64(1), st.Requests)
	require.Equal(t, sim.DefaultStartBlock, int(st.First))
}

func TestSim_MalformedBody(t *testing.T) {
	t.Parallel()
	_, base := newSim(t, sim.Config{Seed: 1})
	code, body := call(t, base, "/wallet/getblockbynum", "{not json")
	require.Equal(t, http.StatusOK, code)
	var got map[string]string
	require.NoError(t, json.Unmarshal(body, &got))
	require.NotEmpty(t, got["Error"])
	req, err := http.NewRequest(http.MethodDelete, base+"/wallet/getnowblock", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestSim_Run(t *testing.T) {
	t.Parallel()
	s, err := sim.New(sim.Config{Seed: 1, TxsPerBlock: 5, BlockInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	start, _ := s.Head()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = s.Run(ctx) })
	require.Eventually(t, func() bool {
		h, _ := s.Head()
		return h >= start+3
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	wg.Wait()
	require.NoError(t, runErr)
	// Stopped: no block is produced any more.
	h, _ := s.Head()
	time.Sleep(30 * time.Millisecond)
	h2, _ := s.Head()
	require.Equal(t, h, h2)
}

func TestSim_RunInstant(t *testing.T) {
	t.Parallel()
	s, err := sim.New(sim.Config{Seed: 1, TxsPerBlock: 5, Instant: true, InitialBlocks: 4000})
	require.NoError(t, err)
	h, _ := s.Head()
	require.Equal(t, int64(sim.DefaultStartBlock+3999), h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	require.NoError(t, <-done)
	h2, _ := s.Head()
	require.Equal(t, h, h2)
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     sim.Config
		wantErr string
	}{
		{"zero is valid", sim.Config{}, ""},
		{"error rate", sim.Config{ErrorRate: 1.5}, "error rate"},
		{"negative latency", sim.Config{Latency: -1}, "latency"},
		{"replay reorgs", sim.Config{BlocksDir: "x", ReorgEvery: 3}, "replayed"},
		{"several at once", sim.Config{RateLimit: -1, CacheBlocks: -1}, "cache blocks"},
		{"trap rate above 1", sim.Config{TrapRate: 1.5}, "trap rate"},
		{"no traps", sim.Config{TrapRate: sim.NoTraps}, ""},
		{"reorg deeper than the default lag", sim.Config{ReorgEvery: 5, ReorgDepth: 20}, "solid lag 19"},
		{"reorg deeper than the lag", sim.Config{ReorgEvery: 5, ReorgDepth: 4, SolidLag: 3}, "solid lag 3"},
		{"reorg with the head solid", sim.Config{ReorgEvery: 5, SolidLag: sim.NoSolidLag}, "solid lag 0"},
		{"reorg at the lag", sim.Config{ReorgEvery: 5, ReorgDepth: 3, SolidLag: 3}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			require.True(t, strings.HasPrefix(err.Error(), "tronsim: "))
		})
	}
}
