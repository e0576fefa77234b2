package gen_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/internal/gen"
)

// makeBlock generates block number on top of parent ids that are made up
// but well formed.
func makeBlock(t testing.TB, g *gen.Generator, number int64, fork uint32) (tron.Block, []tron.TxInfo) {
	t.Helper()
	recent := []string{fmt.Sprintf("%016x%048x", number-1, 1), fmt.Sprintf("%016x%048x", number-2, 2)}
	h := g.Header(number, fork, recent[0], 1_700_000_000_000+3000*number)
	id, err := tron.ComputeBlockID(&h)
	require.NoError(t, err)
	out, err := g.Block(gen.BlockInput{Header: h, ID: id, Fork: fork, Recent: recent})
	require.NoError(t, err)
	return out.Block, out.Infos
}

func TestGenerator_Block_Decodes(t *testing.T) {
	t.Parallel()
	g := gen.New(gen.Config{Seed: 7, TxsPerBlock: 300, Addresses: 500})
	dec := decode.NewDecoder(decode.DecoderConfig{})
	kinds := map[event.Kind]int{}
	contracts := map[string]int{}
	failed, swaps, txs := 0, 0, 0
	for n := int64(60_000_000); n < 60_000_010; n++ {
		b, infos := makeBlock(t, g, n, 0)
		require.Len(t, infos, len(b.Transactions))
		require.GreaterOrEqual(t, len(b.Transactions), 240)
		require.LessOrEqual(t, len(b.Transactions), 360)
		evs, err := dec.DecodeBlock(&b, infos)
		require.NoError(t, err, "block %d", n)
		for _, e := range evs {
			kinds[e.Kind]++
		}
		for i, tx := range b.Transactions {
			txs++
			contracts[tx.RawData.Contract[0].Type]++
			info := infos[i]
			require.Equal(t, tx.TxID, info.ID)
			require.Equal(t, n, info.BlockNumber)
			if tx.Ret[0].ContractRet != "SUCCESS" {
				failed++
				require.Equal(t, "TriggerSmartContract", tx.RawData.Contract[0].Type)
				require.Equal(t, "FAILED", info.Result)
				require.Equal(t, tx.Ret[0].ContractRet, info.Receipt.Result)
				require.Contains(t, []string{"REVERT", "OUT_OF_ENERGY"}, info.Receipt.Result)
				require.Empty(t, info.Log)
				require.NotEmpty(t, info.ResMessage)
			}
			if transfers := countTopic(info.Log, "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"); transfers >= 2 {
				swaps++
			}
			if tx.RawData.Contract[0].Type == "WithdrawBalanceContract" {
				require.Positive(t, info.WithdrawAmount)
			}
		}
	}
	for _, k := range []event.Kind{
		event.KindTRXTransfer, event.KindTRC10Transfer, event.KindTRC20Transfer, event.KindTRC20Approval,
		event.KindContractCall, event.KindContractLog, event.KindStake, event.KindUnstake,
		event.KindWithdrawUnstake, event.KindDelegateResource, event.KindUndelegateResource,
		event.KindVote, event.KindRewardClaim, event.KindAccountCreate,
	} {
		require.Positive(t, kinds[k], "kind %s missing: %v", k, kinds)
	}
	require.Len(t, contracts, 11, "contract types: %v", contracts)
	require.InDelta(t, 0.02, float64(failed)/float64(txs), 0.01, "failed %d of %d", failed, txs)
	require.InDelta(t, 0.05*(1-0.02), float64(swaps)/float64(txs), 0.02, "swaps %d of %d", swaps, txs)
	require.Greater(t, contracts["TriggerSmartContract"], txs/3)
}

func countTopic(logs []tron.Log, topic string) int {
	n := 0
	for _, l := range logs {
		if len(l.Topics) > 0 && l.Topics[0] == topic {
			n++
		}
	}
	return n
}

func TestGenerator_Block_Deterministic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		seedA     uint64
		seedB     uint64
		forkA     uint32
		forkB     uint32
		wantEqual bool
	}{
		{"same seed", 1, 1, 0, 0, true},
		{"other seed", 1, 2, 0, 0, false},
		{"other fork", 1, 1, 0, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, ai := makeBlock(t, gen.New(gen.Config{Seed: tc.seedA, TxsPerBlock: 50}), 1000, tc.forkA)
			b, bi := makeBlock(t, gen.New(gen.Config{Seed: tc.seedB, TxsPerBlock: 50}), 1000, tc.forkB)
			ja, err := json.Marshal([]any{a, ai})
			require.NoError(t, err)
			jb, err := json.Marshal([]any{b, bi})
			require.NoError(t, err)
			if tc.wantEqual {
				require.Equal(t, string(ja), string(jb))
			} else {
				require.NotEqual(t, a.BlockID, b.BlockID)
				require.NotEqual(t, a.Transactions[0].TxID, b.Transactions[0].TxID)
			}
		})
	}
}

func TestGenerator_Block_Empty(t *testing.T) {
	t.Parallel()
	b, infos := makeBlock(t, gen.New(gen.Config{Seed: 1}), 5, 0)
	require.Empty(t, b.Transactions)
	require.NotNil(t, infos)
	require.Empty(t, infos)
	j, err := json.Marshal(b)
	require.NoError(t, err)
	require.NotContains(t, string(j), "transactions")
}

func TestGenerator_Tokens(t *testing.T) {
	t.Parallel()
	toks := gen.New(gen.Config{Seed: 1}).Tokens()
	require.Equal(t, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", toks[0].Address.String())
	require.Equal(t, 6, toks[0].Decimals)
	known := tron.WellKnownTokens(tron.NetworkMainnet)
	for _, tok := range toks {
		info, ok := known[tok.Address]
		require.True(t, ok, tok.Symbol)
		require.Equal(t, info.Decimals, tok.Decimals, tok.Symbol)
	}
}

func TestEncodeString(t *testing.T) {
	t.Parallel()
	require.Equal(t,
		"0000000000000000000000000000000000000000000000000000000000000020"+
			"0000000000000000000000000000000000000000000000000000000000000004"+
			"5553445400000000000000000000000000000000000000000000000000000000",
		gen.EncodeString("USDT"))
	require.Equal(t,
		"0000000000000000000000000000000000000000000000000000000000000020"+
			"0000000000000000000000000000000000000000000000000000000000000000",
		gen.EncodeString(""))
}

// BenchmarkGenerateBlock measures a mainnet-sized block (300 transactions)
// with its infos; the simulator must produce them far faster than one per
// three seconds.
func BenchmarkGenerateBlock(b *testing.B) {
	g := gen.New(gen.Config{Seed: 1, TxsPerBlock: 300})
	recent := []string{fmt.Sprintf("%064x", 1), fmt.Sprintf("%064x", 2)}
	n := int64(0)
	for b.Loop() {
		n++
		h := g.Header(n, 0, recent[0], 3000*n)
		if _, err := g.Block(gen.BlockInput{Header: h, ID: recent[0], Recent: recent}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

func TestGenerator_TrapTokens(t *testing.T) {
	t.Parallel()
	g := gen.New(gen.Config{Seed: 1})
	toks := g.TrapTokens()
	require.Len(t, toks, 2)
	fake, nd := toks[0], toks[1]
	genuine := g.Tokens()[0].Address.String()
	require.Equal(t, "TR7NtbGtGsDPQybMbwGfxdFMj4h8oeLj6t", fake.Address.String())
	require.NotEqual(t, genuine, fake.Address.String())
	require.Equal(t, genuine[:4], fake.Address.String()[:4])
	require.Equal(t, genuine[30:], fake.Address.String()[30:])
	require.Equal(t, []any{"USDT", "Tether USD", 6, false}, []any{fake.Symbol, fake.Name, fake.Decimals, fake.NoDecimals})
	require.True(t, nd.NoDecimals)
	_, known := tron.WellKnownTokens(tron.NetworkMainnet)[fake.Address]
	require.False(t, known, "the fake is on no list")
	require.NotEqual(t, nd.Address, gen.New(gen.Config{Seed: 2}).TrapTokens()[1].Address, "the no-decimals token depends on the seed")
}

func TestGenerator_Block_Traps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rate      float64
		wantTraps bool
	}{
		{"none", 0, false},
		{"half", 0.5, true},
		{"all", 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := gen.New(gen.Config{Seed: 3, TxsPerBlock: 100, TrapRate: tc.rate})
			recent := []string{fmt.Sprintf("%016x%048x", 99, 1)}
			h := g.Header(100, 0, recent[0], 1_700_000_300_000)
			id, err := tron.ComputeBlockID(&h)
			require.NoError(t, err)
			in := gen.BlockInput{Header: h, ID: id, Recent: recent}
			out, err := g.Block(in)
			require.NoError(t, err)
			again, err := g.Block(in)
			require.NoError(t, err)
			require.Equal(t, out, again, "deterministic")
			trapTxs := map[int]bool{}
			for _, tr := range out.Traps {
				require.Equal(t, out.Block.Transactions[tr.TxIndex].TxID, tr.TxID)
				if tr.Scenario != "ordinary" {
					trapTxs[tr.TxIndex] = true
				}
			}
			if !tc.wantTraps {
				require.Empty(t, trapTxs)
				return
			}
			require.InDelta(t, tc.rate, float64(len(trapTxs))/float64(len(out.Block.Transactions)), 0.2)
		})
	}
}

func TestGenerator_Lookalikes(t *testing.T) {
	t.Parallel()
	a := gen.New(gen.Config{Seed: 4, Addresses: 10}).Lookalikes()
	require.Len(t, a, 4)
	require.Equal(t, a, gen.New(gen.Config{Seed: 4, Addresses: 5000}).Lookalikes(), "the population size does not matter")
	require.NotEqual(t, a, gen.New(gen.Config{Seed: 5}).Lookalikes())
}
