package sim_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

const (
	topicTransfer = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
	usdtAddress   = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
)

// trapChain is a chain with many traps, and its report.
func trapChain(t testing.TB, cfg sim.Config) (*sim.Sim, string, sim.TrapReport) {
	t.Helper()
	if cfg.TrapRate == 0 {
		cfg.TrapRate = 0.4
	}
	if cfg.InitialBlocks == 0 {
		cfg.InitialBlocks = 40
	}
	if cfg.TxsPerBlock == 0 {
		cfg.TxsPerBlock = 30
	}
	s, base := newSim(t, cfg)
	rep, err := s.Traps(s.First(), 1<<62)
	require.NoError(t, err)
	return s, base, rep
}

// located is a trap with its transaction and info.
type located struct {
	trap sim.Trap
	tx   tron.Transaction
	info tron.TxInfo
}

func locate(t testing.TB, s *sim.Sim, rep sim.TrapReport) []located {
	t.Helper()
	var out []located
	for _, b := range rep.Blocks {
		blk, infos, err := s.Block(b.Number)
		require.NoError(t, err)
		require.Equal(t, blk.BlockID, b.BlockID)
		for _, tr := range b.Traps {
			tx := blk.Transactions[tr.TxIndex]
			require.Equal(t, tx.TxID, tr.TxID, "block %d tx %d", b.Number, tr.TxIndex)
			out = append(out, located{trap: tr, tx: tx, info: infos[tr.TxIndex]})
		}
	}
	return out
}

func hexAddr(t testing.TB, h string) tron.Address {
	t.Helper()
	a, err := tron.ParseHex(h)
	require.NoError(t, err)
	return a
}

func shareEnds(a, b tron.Address) bool {
	x, y := a.String(), b.String()
	return x[:4] == y[:4] && x[len(x)-4:] == y[len(y)-4:]
}

// requireFrame checks the internal transaction a trap points at.
func requireFrame(t *testing.T, l located, wantRejected bool) {
	t.Helper()
	require.NotNil(t, l.trap.Frame)
	require.Equal(t, "SUCCESS", l.tx.Ret[0].ContractRet)
	require.Empty(t, l.info.Result)
	f := l.info.InternalTransactions[*l.trap.Frame]
	require.Equal(t, l.trap.From, hexAddr(t, f.CallerAddress))
	require.Equal(t, l.trap.To, hexAddr(t, f.TransferToAddress))
	require.Len(t, f.CallValueInfo, 1)
	require.Equal(t, tron.AmountFromInt64(f.CallValueInfo[0].CallValue), l.trap.Amount)
	require.Positive(t, f.CallValueInfo[0].CallValue)
	require.Equal(t, l.trap.TokenID, f.CallValueInfo[0].TokenID)
	require.Equal(t, wantRejected, f.Rejected)
	require.Equal(t, "63616c6c", f.Note)
	require.Len(t, f.Hash, 64)
	require.Equal(t, "TriggerSmartContract", l.tx.RawData.Contract[0].Type)
}

// requireTransferLog checks the Transfer log a trap points at.
func requireTransferLog(t *testing.T, l located) tron.Log {
	t.Helper()
	require.NotNil(t, l.trap.LogIndex)
	require.Equal(t, "SUCCESS", l.tx.Ret[0].ContractRet)
	lg := l.info.Log[*l.trap.LogIndex]
	require.Equal(t, hex.EncodeToString(l.trap.Contract.EVM()), lg.Address)
	require.Equal(t, []string{topicTransfer, word(l.trap.From), word(l.trap.To)}, lg.Topics)
	amount, err := hex.DecodeString(lg.Data)
	require.NoError(t, err)
	require.Equal(t, 0, tron.AmountFromWord(amount).Cmp(l.trap.Amount), "amount %s, trap %s", tron.AmountFromWord(amount), l.trap.Amount)
	return lg
}

func word(a tron.Address) string { return strings.Repeat("0", 24) + hex.EncodeToString(a.EVM()) }

// requireMemo checks a memo trap against the transfer that carries it.
func requireMemo(t *testing.T, l located) []byte {
	t.Helper()
	c := l.tx.RawData.Contract[0]
	require.Contains(t, []string{"TransferContract", "TransferAssetContract"}, c.Type)
	require.Equal(t, l.trap.From, hexAddr(t, c.Parameter.Value.OwnerAddress))
	require.Equal(t, l.trap.To, hexAddr(t, c.Parameter.Value.ToAddress))
	require.Equal(t, tron.AmountFromInt64(c.Parameter.Value.Amount), l.trap.Amount)
	if c.Type == "TransferAssetContract" {
		name, err := hex.DecodeString(c.Parameter.Value.AssetName)
		require.NoError(t, err)
		require.Equal(t, l.trap.TokenID, string(name))
	}
	memo, err := hex.DecodeString(l.tx.RawData.Data)
	require.NoError(t, err)
	require.NotEmpty(t, memo)
	return memo
}

func TestSim_Traps_EachKindAsListed(t *testing.T) {
	t.Parallel()
	s, _, rep := trapChain(t, sim.Config{Seed: 21})
	contracts := s.TrapContracts()
	checks := map[sim.TrapKind]func(t *testing.T, l located){
		sim.TrapInternalTRX: func(t *testing.T, l located) {
			requireFrame(t, l, false)
			require.Empty(t, l.trap.TokenID)
			require.Contains(t, []string{"swap_to_trx", "swap_from_trx", "multisend", "multisig"}, l.trap.Scenario)
		},
		sim.TrapInternalTRC10: func(t *testing.T, l located) {
			requireFrame(t, l, false)
			require.NotEmpty(t, l.trap.TokenID)
		},
		sim.TrapRejectedFrame: func(t *testing.T, l located) {
			requireFrame(t, l, true)
		},
		sim.TrapFailedWithFrames: func(t *testing.T, l located) {
			require.Equal(t, "REVERT", l.tx.Ret[0].ContractRet)
			require.Equal(t, "FAILED", l.info.Result)
			require.Equal(t, "REVERT", l.info.Receipt.Result)
			require.Empty(t, l.info.Log)
			require.Len(t, l.info.InternalTransactions, l.trap.Frames)
			valued := 0
			for _, f := range l.info.InternalTransactions {
				require.Equal(t, l.trap.FramesRejected, f.Rejected)
				if f.CallValueInfo[0].CallValue > 0 {
					valued++
				}
			}
			require.Positive(t, valued, "the frames carry values that did not move")
		},
		sim.TrapFakeUSDT: func(t *testing.T, l located) {
			requireTransferLog(t, l)
			require.Equal(t, contracts.FakeUSDT, l.trap.Contract)
			require.NotEqual(t, usdtAddress, l.trap.Contract.String())
			require.True(t, shareEnds(l.trap.Contract, contracts.USDT), l.trap.Contract.String())
		},
		sim.TrapPoisoning: func(t *testing.T, l located) {
			requireTransferLog(t, l)
			tr := l.trap
			require.Equal(t, usdtAddress, tr.Contract.String())
			require.Equal(t, "0", tr.Amount.String())
			require.Equal(t, tr.Victim, tr.From)
			require.Equal(t, tr.Lookalike, tr.To)
			v := l.tx.RawData.Contract[0].Parameter.Value
			require.Equal(t, tr.Signer, hexAddr(t, v.OwnerAddress), "the signer is the transaction's owner")
			require.NotEqual(t, tr.Signer, tr.Victim)
			require.NotEqual(t, tr.Signer, tr.Lookalike)
			require.Equal(t, tr.Contract, hexAddr(t, v.ContractAddress))
			require.True(t, strings.HasPrefix(v.Data, "23b872dd"), "transferFrom")
			require.NotEqual(t, tr.Victim, tr.Lookalike)
			require.True(t, shareEnds(tr.Victim, tr.Lookalike), "%s %s", tr.Victim, tr.Lookalike)
			require.Contains(t, rep.Lookalikes, sim.Lookalike{Victim: tr.Victim, Lookalike: tr.Lookalike})
		},
		sim.TrapNoDecimals: func(t *testing.T, l located) {
			requireTransferLog(t, l)
			require.Equal(t, contracts.NoDecimals, l.trap.Contract)
		},
		sim.TrapMemoUTF8: func(t *testing.T, l located) {
			memo := requireMemo(t, l)
			require.True(t, utf8.Valid(memo))
			require.Equal(t, l.trap.Memo, string(memo))
			require.Equal(t, l.trap.HasURL, strings.Contains(l.trap.Memo, "http"))
		},
		sim.TrapMemoHex: func(t *testing.T, l located) {
			memo := requireMemo(t, l)
			require.False(t, utf8.Valid(memo))
			require.Equal(t, l.trap.Memo, l.tx.RawData.Data)
		},
	}
	byKind := map[sim.TrapKind][]located{}
	for _, l := range locate(t, s, rep) {
		byKind[l.trap.Kind] = append(byKind[l.trap.Kind], l)
	}
	require.Len(t, checks, len(sim.TrapKinds()))
	for _, kind := range sim.TrapKinds() {
		t.Run(string(kind), func(t *testing.T) {
			require.NotEmpty(t, byKind[kind], "no %s trap in %d blocks", kind, rep.To-rep.From+1)
			for _, l := range byKind[kind] {
				checks[kind](t, l)
			}
		})
	}
	urls := 0
	for _, l := range byKind[sim.TrapMemoUTF8] {
		if l.trap.HasURL {
			urls++
		}
	}
	require.Positive(t, urls, "memos with links")
}

// TestSim_Traps_ListIsComplete scans every block for what a trap is made
// of and requires it to be listed: a test may then require a pipeline to
// flag nothing else.
func TestSim_Traps_ListIsComplete(t *testing.T) {
	t.Parallel()
	s, _, rep := trapChain(t, sim.Config{Seed: 22})
	type key struct {
		tx   string
		kind sim.TrapKind
		at   int
	}
	listed := map[key]bool{}
	for _, l := range locate(t, s, rep) {
		at := -1
		switch {
		case l.trap.Frame != nil:
			at = *l.trap.Frame
		case l.trap.LogIndex != nil:
			at = *l.trap.LogIndex
		}
		listed[key{l.trap.TxID, l.trap.Kind, at}] = true
	}
	contracts := s.TrapContracts()
	head, _ := s.Head()
	for n := s.First(); n <= head; n++ {
		b, infos, err := s.Block(n)
		require.NoError(t, err)
		for i, tx := range b.Transactions {
			info := infos[i]
			id := tx.TxID
			if tx.RawData.Data != "" {
				require.True(t, listed[key{id, sim.TrapMemoUTF8, -1}] || listed[key{id, sim.TrapMemoHex, -1}], "memo of %s", id)
			}
			failed := tx.Ret[0].ContractRet != "SUCCESS"
			if failed && len(info.InternalTransactions) > 0 {
				require.True(t, listed[key{id, sim.TrapFailedWithFrames, -1}], "failed %s", id)
				continue
			}
			for j, f := range info.InternalTransactions {
				v := f.CallValueInfo[0]
				if v.CallValue == 0 {
					continue
				}
				kind := sim.TrapInternalTRX
				switch {
				case f.Rejected:
					kind = sim.TrapRejectedFrame
				case v.TokenID != "":
					kind = sim.TrapInternalTRC10
				}
				require.True(t, listed[key{id, kind, j}], "frame %d of %s", j, id)
			}
			for j, lg := range info.Log {
				if len(lg.Topics) != 3 || lg.Topics[0] != topicTransfer {
					continue
				}
				switch lg.Address {
				case hex.EncodeToString(contracts.FakeUSDT.EVM()):
					require.True(t, listed[key{id, sim.TrapFakeUSDT, j}], "fake USDT log %d of %s", j, id)
				case hex.EncodeToString(contracts.NoDecimals.EVM()):
					require.True(t, listed[key{id, sim.TrapNoDecimals, j}], "no-decimals log %d of %s", j, id)
				}
				if strings.Trim(lg.Data, "0") == "" {
					require.True(t, listed[key{id, sim.TrapPoisoning, j}], "zero transfer log %d of %s", j, id)
				}
			}
		}
	}
}

func TestSim_Traps_BlocksStayValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rate float64
	}{
		{"default rate", 0},
		{"every transaction a trap", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, base := newSim(t, sim.Config{Seed: 23, TxsPerBlock: 60, InitialBlocks: 12, TrapRate: tc.rate})
			dec := decode.NewDecoder(decode.DecoderConfig{})
			head, _ := s.Head()
			prev := ""
			for n := s.First(); n <= head; n++ {
				b, infos := fetchBlock(t, base, n)
				require.NoError(t, tron.VerifyBlockID(&b), "block %d", n)
				if prev != "" {
					require.Equal(t, prev, b.BlockHeader.RawData.ParentHash)
				}
				prev = b.BlockID
				require.Len(t, infos, len(b.Transactions))
				for i := range b.Transactions {
					require.NoError(t, tron.VerifyTxID(&b.Transactions[i]), "block %d tx %d", n, i)
					require.Equal(t, b.Transactions[i].TxID, infos[i].ID)
					require.Equal(t, n, infos[i].BlockNumber)
				}
				_, err := dec.DecodeBlock(&b, infos)
				require.NoError(t, err, "block %d", n)
			}
		})
	}
}

// TestSim_Traps_RateAndPlace checks the share of traps, and that a trap
// only replaces the transaction at its position: block ids and every
// other transaction are those of the chain without traps.
func TestSim_Traps_RateAndPlace(t *testing.T) {
	t.Parallel()
	cfg := sim.Config{Seed: 24, TxsPerBlock: 300, InitialBlocks: 20}
	plain, _ := newSim(t, sim.Config{Seed: cfg.Seed, TxsPerBlock: cfg.TxsPerBlock, InitialBlocks: cfg.InitialBlocks, TrapRate: sim.NoTraps})
	trapped, _ := newSim(t, cfg)
	rep, err := trapped.Traps(0, 1<<62)
	require.NoError(t, err)
	trapTx := map[string]bool{}
	for _, b := range rep.Blocks {
		for _, tr := range b.Traps {
			if tr.Scenario == "ordinary" {
				// Ordinary memos are listed too; they are no trap
				// transaction of their own.
				continue
			}
			trapTx[tr.TxID] = true
		}
	}
	plainRep, err := plain.Traps(0, 1<<62)
	require.NoError(t, err)
	require.Equal(t, plainRep.Count(""), plainRep.Count(sim.TrapMemoUTF8), "without traps only ordinary memos are listed")

	total, replaced := 0, 0
	head, _ := trapped.Head()
	for n := trapped.First(); n <= head; n++ {
		a, _, err := plain.Block(n)
		require.NoError(t, err)
		b, _, err := trapped.Block(n)
		require.NoError(t, err)
		require.Equal(t, a.BlockID, b.BlockID)
		require.Len(t, b.Transactions, len(a.Transactions))
		for i := range a.Transactions {
			total++
			if a.Transactions[i].TxID != b.Transactions[i].TxID {
				replaced++
				require.True(t, trapTx[b.Transactions[i].TxID], "block %d tx %d changed but is no trap", n, i)
			}
		}
	}
	require.InDelta(t, sim.DefaultTrapRate, float64(replaced)/float64(total), 0.01, "%d of %d", replaced, total)
}

func TestSim_Traps_Deterministic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		seedB     uint64
		wantEqual bool
	}{
		{"same seed", 25, true},
		{"other seed", 26, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, baseA, _ := trapChain(t, sim.Config{Seed: 25, InitialBlocks: 10})
			_, baseB, _ := trapChain(t, sim.Config{Seed: tc.seedB, InitialBlocks: 10, CacheBlocks: 2})
			_, _, a := get(t, baseA+"/sim/traps?from=0&to=99999999999")
			_, _, b := get(t, baseB+"/sim/traps?from=0&to=99999999999")
			_, ia := call(t, baseA, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": sim.DefaultStartBlock + 3})
			_, ib := call(t, baseB, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": sim.DefaultStartBlock + 3})
			if tc.wantEqual {
				require.Equal(t, string(a), string(b))
				require.Equal(t, string(ia), string(ib))
				return
			}
			require.NotEqual(t, string(a), string(b))
			require.NotEqual(t, string(ia), string(ib))
		})
	}
}

func TestSim_Traps_HTTP(t *testing.T) {
	t.Parallel()
	s, base, _ := trapChain(t, sim.Config{Seed: 27, InitialBlocks: 130})
	head, _ := s.Head()
	tests := []struct {
		name      string
		query     string
		wantCode  int
		wantFrom  int64
		wantTo    int64
		wantKinds []sim.TrapKind
	}{
		{"default: the last 100 blocks", "", http.StatusOK, head - 99, head, nil},
		{"range clipped to the chain", "?from=5&to=" + itoa(s.First()+4), http.StatusOK, s.First(), s.First() + 4, nil},
		{"one kind", "?kind=poisoning", http.StatusOK, head - 99, head, []sim.TrapKind{sim.TrapPoisoning}},
		{"two kinds", "?kind=memo_hex,%20rejected_frame", http.StatusOK, head - 99, head, []sim.TrapKind{sim.TrapMemoHex, sim.TrapRejectedFrame}},
		{"unknown kind", "?kind=nope", http.StatusBadRequest, 0, 0, nil},
		{"malformed number", "?from=x", http.StatusBadRequest, 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, body := get(t, base+"/sim/traps"+tc.query)
			require.Equal(t, tc.wantCode, code, string(body))
			if code != http.StatusOK {
				var e map[string]string
				require.NoError(t, json.Unmarshal(body, &e))
				require.NotEmpty(t, e["error"])
				return
			}
			var rep sim.TrapReport
			require.NoError(t, json.Unmarshal(body, &rep))
			require.Equal(t, tc.wantFrom, rep.From)
			require.Equal(t, tc.wantTo, rep.To)
			require.True(t, rep.InternalTransactionsSaved)
			require.Len(t, rep.Lookalikes, 4)
			require.Equal(t, s.TrapContracts(), rep.Contracts)
			require.NotEmpty(t, rep.Blocks)
			for _, b := range rep.Blocks {
				require.GreaterOrEqual(t, b.Number, tc.wantFrom)
				require.LessOrEqual(t, b.Number, tc.wantTo)
				for _, tr := range b.Traps {
					if tc.wantKinds != nil {
						require.Contains(t, tc.wantKinds, tr.Kind)
					}
				}
			}
		})
	}
	long, longBase := newSim(t, sim.Config{Seed: 27, TxsPerBlock: 1, InitialBlocks: sim.MaxTrapBlocks + 1})
	code, _, body := get(t, longBase+"/sim/traps?from=0&to=99999999999")
	require.Equal(t, http.StatusBadRequest, code, "a range longer than MaxTrapBlocks")
	require.Contains(t, string(body), "too long")
	_, err := long.Traps(0, 1<<62)
	require.ErrorIs(t, err, sim.ErrTrapRange)
	code, _, _ = get(t, longBase+"/sim/traps?to=99999999999")
	require.Equal(t, http.StatusOK, code, "the default range is 100 blocks")

	req, err := http.NewRequest(http.MethodPost, base+"/sim/traps", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// TestSim_InternalTxs_JSON pins the shape of internal transactions as
// served: java-tron's, with an empty callValueInfo entry for a call that
// moves nothing, tokenId as a string, and base58 addresses when visible.
func TestSim_InternalTxs_JSON(t *testing.T) {
	t.Parallel()
	_, base, rep := trapChain(t, sim.Config{Seed: 28})
	var swap, trc10, rejected *sim.Trap
	for _, b := range rep.Blocks {
		for i := range b.Traps {
			tr := &b.Traps[i]
			switch {
			case tr.Scenario == "swap_to_trx" && swap == nil && tr.Kind == sim.TrapInternalTRX:
				swap = tr
			case tr.Kind == sim.TrapInternalTRC10 && trc10 == nil:
				trc10 = tr
			case tr.Kind == sim.TrapRejectedFrame && rejected == nil:
				rejected = tr
			}
		}
	}
	require.NotNil(t, swap)
	require.NotNil(t, trc10)
	require.NotNil(t, rejected)
	raw := func(id string, visible bool) map[string]json.RawMessage {
		_, body := call(t, base, "/wallet/gettransactioninfobyid", map[string]any{"value": id, "visible": visible})
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(body, &m))
		return m
	}
	its := string(raw(swap.TxID, false)["internal_transactions"])
	require.Contains(t, its, `"callValueInfo":[{}],"note":"63616c6c"}`, "a call moving nothing")
	require.Contains(t, its, fmt.Sprintf(`"callValueInfo":[{"callValue":%s}]`, swap.Amount))
	require.Contains(t, its, `"caller_address":"41`)
	require.NotContains(t, its, "rejected")
	require.Contains(t, string(raw(trc10.TxID, false)["internal_transactions"]), fmt.Sprintf(`"callValueInfo":[{"callValue":%s,"tokenId":"%s"}]`, trc10.Amount, trc10.TokenID))
	require.Contains(t, string(raw(rejected.TxID, false)["internal_transactions"]), `"rejected":true`)
	visible := string(raw(swap.TxID, true)["internal_transactions"])
	require.Contains(t, visible, `"caller_address":"T`)
	require.Contains(t, visible, fmt.Sprintf(`"transferTo_address":"%s"`, swap.To))
}

func TestSim_NoInternalTxs(t *testing.T) {
	t.Parallel()
	with, baseWith, repWith := trapChain(t, sim.Config{Seed: 29, InitialBlocks: 10})
	_, baseWithout, repWithout := trapChain(t, sim.Config{Seed: 29, InitialBlocks: 10, NoInternalTxs: true})
	require.True(t, repWith.InternalTransactionsSaved)
	require.False(t, repWithout.InternalTransactionsSaved)
	require.Equal(t, repWith.Blocks, repWithout.Blocks, "the chain has the same traps")
	require.Positive(t, repWith.Count(sim.TrapInternalTRX))
	head, _ := with.Head()
	frames := 0
	for n := with.First(); n <= head; n++ {
		a, infosWith := fetchBlock(t, baseWith, n)
		b, infosWithout := fetchBlock(t, baseWithout, n)
		require.Equal(t, a, b)
		_, body := call(t, baseWithout, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": n})
		require.NotContains(t, string(body), "internal_transactions")
		for i := range infosWith {
			frames += len(infosWith[i].InternalTransactions)
			require.Empty(t, infosWithout[i].InternalTransactions)
			infosWith[i].InternalTransactions = nil
		}
		require.Equal(t, infosWith, infosWithout, "block %d: nothing else differs", n)
	}
	require.Positive(t, frames)
}

func TestReplay_NoInternalTxs(t *testing.T) {
	t.Parallel()
	// Record a synthetic block with internal transactions.
	src, _, rep := trapChain(t, sim.Config{Seed: 30, InitialBlocks: 5})
	rep = rep.Only(sim.TrapInternalTRX)
	require.NotEmpty(t, rep.Blocks)
	n := rep.Blocks[0].Number
	b, infos, err := src.Block(n)
	require.NoError(t, err)
	bj, err := json.Marshal(b)
	require.NoError(t, err)
	ij, err := json.Marshal(infos)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, itoa(n)+".json"), []byte(`{"block":`+string(bj)+`,"transaction_info":`+string(ij)+`}`), 0o600))

	tests := []struct {
		name       string
		noInternal bool
	}{
		{"served verbatim", false},
		{"internal transactions dropped", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := newSim(t, sim.Config{BlocksDir: dir, NoInternalTxs: tc.noInternal})
			_, body := call(t, base, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": n})
			if !tc.noInternal {
				require.Equal(t, string(ij), string(body))
				return
			}
			require.NotContains(t, string(body), "internal_transactions")
			var got []tron.TxInfo
			require.NoError(t, json.Unmarshal(body, &got))
			want := append([]tron.TxInfo(nil), infos...)
			for i := range want {
				want[i].InternalTransactions = nil
			}
			require.Equal(t, want, got)
		})
	}
}

func TestSim_Lookalikes(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			s, _ := newSim(t, sim.Config{Seed: seed})
			pairs := s.Lookalikes()
			require.Len(t, pairs, 4)
			seen := map[tron.Address]bool{}
			for _, p := range pairs {
				for _, a := range []tron.Address{p.Victim, p.Lookalike} {
					back, err := tron.ParseBase58(a.String())
					require.NoError(t, err, "valid base58check")
					require.Equal(t, a, back)
					require.Equal(t, byte(tron.AddressPrefix), a[0])
					require.False(t, seen[a], "each address once")
					seen[a] = true
				}
				v, l := p.Victim.String(), p.Lookalike.String()
				require.Equal(t, v[:4], l[:4], "%s %s", v, l)
				require.Equal(t, v[30:], l[30:], "%s %s", v, l)
				require.NotEqual(t, v[4:30], l[4:30])
			}
		})
	}
}

// constantCall asks contract for a view by signature, as the token
// resolver does, and returns the answer.
func constantCall(t testing.TB, base string, contract tron.Address, selector string) (ok bool, code string, result string) {
	t.Helper()
	_, body := call(t, base, "/wallet/triggerconstantcontract", map[string]any{
		"owner_address": "410000000000000000000000000000000000000000", "contract_address": contract.Hex(), "function_selector": selector,
	})
	var got struct {
		Result struct {
			Result bool
			Code   string
		}
		ConstantResult []string `json:"constant_result"`
	}
	require.NoError(t, json.Unmarshal(body, &got), string(body))
	if len(got.ConstantResult) > 0 {
		result = got.ConstantResult[0]
	}
	return got.Result.Result, got.Result.Code, result
}

// abiString decodes an ABI-encoded string return value.
func abiString(t testing.TB, h string) string {
	t.Helper()
	b, err := hex.DecodeString(h)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), 64)
	n, ok := tron.AmountFromWord(b[32:64]).Uint64()
	require.True(t, ok)
	return string(b[64 : 64+int(n)])
}

func TestSim_ConstantCalls(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 34})
	contracts := s.TrapContracts()
	usdt, err := tron.ParseBase58(usdtAddress)
	require.NoError(t, err)
	tests := []struct {
		name         string
		contract     tron.Address
		wantSymbol   string
		wantName     string
		wantDecimals int // -1: decimals() reverts
	}{
		{"real USDT", usdt, "USDT", "Tether USD", 6},
		{"fake USDT at its own address", contracts.FakeUSDT, "USDT", "Tether USD", 6},
		{"no decimals", contracts.NoDecimals, "PTS", "Loyalty Points", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ok, code, res := constantCall(t, base, tc.contract, "decimals()")
			if tc.wantDecimals < 0 {
				require.False(t, ok)
				require.Equal(t, "CONTRACT_EXE_ERROR", code)
			} else {
				require.True(t, ok, code)
				b, err := hex.DecodeString(res)
				require.NoError(t, err)
				require.Equal(t, tron.AmountFromInt64(int64(tc.wantDecimals)), tron.AmountFromWord(b))
			}
			ok, _, res = constantCall(t, base, tc.contract, "symbol()")
			require.True(t, ok)
			require.Equal(t, tc.wantSymbol, abiString(t, res))
			ok, _, res = constantCall(t, base, tc.contract, "name()")
			require.True(t, ok)
			require.Equal(t, tc.wantName, abiString(t, res))
		})
	}
}

// TestSim_ConstantCalls_EveryToken requires an answer from every TRC20
// contract whose Transfer logs are on the chain (but the one without
// decimals), and counts the calls per contract and method.
func TestSim_ConstantCalls_EveryToken(t *testing.T) {
	t.Parallel()
	s, base, _ := trapChain(t, sim.Config{Seed: 35, InitialBlocks: 15})
	contracts := s.TrapContracts()
	tokens := map[tron.Address]bool{}
	head, _ := s.Head()
	for n := s.First(); n <= head; n++ {
		_, infos, err := s.Block(n)
		require.NoError(t, err)
		for _, info := range infos {
			for _, lg := range info.Log {
				if len(lg.Topics) == 3 && lg.Topics[0] == topicTransfer {
					tokens[hexAddr(t, lg.Address)] = true
				}
			}
		}
	}
	require.True(t, tokens[contracts.FakeUSDT])
	require.True(t, tokens[contracts.NoDecimals])
	require.GreaterOrEqual(t, len(tokens), 6)
	for tok := range tokens {
		ok, _, _ := constantCall(t, base, tok, "decimals()")
		require.Equal(t, tok != contracts.NoDecimals, ok, "decimals() of %s", tok)
		ok, _, _ = constantCall(t, base, tok, "symbol()")
		require.True(t, ok, "symbol() of %s", tok)
	}
	// Unknown contracts are counted too; data calls by selector name.
	stranger := hexAddr(t, "41"+strings.Repeat("ab", 20))
	constantCall(t, base, stranger, "decimals()")
	_, body := call(t, base, "/wallet/triggerconstantcontract", map[string]any{"contract_address": contracts.FakeUSDT.String(), "data": "95d89b41", "visible": true})
	require.Contains(t, string(body), `"result":true`)

	calls := s.ConstantCalls()
	require.Len(t, calls, len(tokens)+1)
	for tok := range tokens {
		want := map[string]int64{"decimals()": 1, "symbol()": 1}
		if tok == contracts.FakeUSDT {
			want["symbol()"] = 2
		}
		require.Equal(t, want, calls[tok].Methods, "%s", tok)
	}
	require.Equal(t, sim.ContractCalls{Total: 1, Methods: map[string]int64{"decimals()": 1}}, calls[stranger])
	var st sim.Status
	_, _, body = get(t, base+"/sim/status")
	require.NoError(t, json.Unmarshal(body, &st))
	require.Equal(t, int64(3), st.ConstantCalls[contracts.FakeUSDT.String()].Total)
}
