package decode_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// syntheticBlock builds a mainnet-like block of n transactions with its
// infos: TRX and TRC10 transfers (a tenth of them with a memo), USDT
// transfers with their logs, swaps with three Transfer logs and four
// internal frames (one paying TRX out), staking, and about 2 % failures.
// Ids are valid, so the decoder's checks run as in production.
func syntheticBlock(tb testing.TB, seed uint64, n int) (*tron.Block, []tron.TxInfo) {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	addr := func() string {
		var a [21]byte
		a[0] = 0x41
		for i := 1; i < 21; i++ {
			a[i] = byte(r.IntN(256))
		}
		return hex.EncodeToString(a[:])
	}
	word := func(h string) string { return fmt.Sprintf("%064s", h) }
	usdt := "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
	b := &tron.Block{BlockHeader: tron.BlockHeader{RawData: tron.BlockHeaderRaw{
		Number: 70_000_000, Timestamp: 1_740_000_000_000, Version: 31,
		ParentHash:     "0000000004c4b3ff" + hex.EncodeToString(make([]byte, 24)),
		TxTrieRoot:     hex.EncodeToString(make([]byte, 32)),
		WitnessAddress: addr(),
	}}}
	infos := make([]tron.TxInfo, 0, n)
	for range n {
		raw := make([]byte, 180+r.IntN(120))
		for j := range raw {
			raw[j] = byte(r.IntN(256))
		}
		sum := sha256.Sum256(raw)
		tx := tron.Transaction{TxID: hex.EncodeToString(sum[:]), RawDataHex: hex.EncodeToString(raw), Ret: []tron.TxRet{{ContractRet: "SUCCESS"}}}
		info := tron.TxInfo{ID: tx.TxID, BlockNumber: b.BlockHeader.RawData.Number, Receipt: tron.Receipt{NetUsage: 268}}
		owner, to := addr(), addr()
		c := tron.Contract{}
		switch p := r.IntN(100); {
		case p < 35:
			c.Type, c.Parameter.Value = "TransferContract", tron.ContractValue{OwnerAddress: owner, ToAddress: to, Amount: r.Int64N(1e10)}
			if r.IntN(10) == 0 {
				tx.RawData.Data = hex.EncodeToString([]byte("deposit 4815162342 — see https://example.invalid"))
			}
		case p < 40:
			c.Type, c.Parameter.Value = "TransferAssetContract", tron.ContractValue{OwnerAddress: owner, ToAddress: to, Amount: r.Int64N(1e6), AssetName: "31303032303030"}
			if r.IntN(10) == 0 {
				tx.RawData.Data = "ff" + hex.EncodeToString([]byte("not utf-8"))
			}
		case p < 90:
			c.Type, c.Parameter.Value = "TriggerSmartContract", tron.ContractValue{OwnerAddress: owner, ContractAddress: usdt, Data: "a9059cbb" + word(to[2:]) + word("f4240")}
			info.Receipt.Result = "SUCCESS"
			logs := 1
			if p >= 85 {
				logs = 3 // a swap: several tokens move
			}
			for k := 0; k < logs; k++ {
				info.Log = append(info.Log, tron.Log{Address: usdt[2:], Topics: []string{decode.TopicTransfer, word(owner[2:]), word(to[2:])}, Data: word(fmt.Sprintf("%x", r.Int64N(1e12)))})
			}
			if logs == 3 {
				// A swap: the router calls the pair and the tokens, and
				// pays TRX out to the swapper.
				pair, router := addr(), usdt
				for k := 0; k < 3; k++ {
					info.InternalTransactions = append(info.InternalTransactions, tron.InternalTx{
						Hash: hex.EncodeToString(raw[:32]), CallerAddress: router, TransferToAddress: pair,
						CallValueInfo: []tron.CallValueInfo{{}}, Note: "63616c6c",
					})
				}
				info.InternalTransactions = append(info.InternalTransactions, tron.InternalTx{
					Hash: hex.EncodeToString(raw[32:64]), CallerAddress: router, TransferToAddress: owner,
					CallValueInfo: []tron.CallValueInfo{{CallValue: r.Int64N(1e10) + 1}}, Note: "63616c6c",
				})
			}
		case p < 95:
			c.Type, c.Parameter.Value = "DelegateResourceContract", tron.ContractValue{OwnerAddress: owner, ReceiverAddress: to, Balance: r.Int64N(1e12), Resource: "ENERGY"}
		default:
			c.Type, c.Parameter.Value = "VoteWitnessContract", tron.ContractValue{OwnerAddress: owner, Votes: []tron.VoteWitness{{VoteAddress: to, VoteCount: 10}}}
		}
		if r.IntN(100) < 2 {
			tx.Ret[0].ContractRet = "REVERT"
			info.Receipt.Result, info.Result, info.Log = "REVERT", "FAILED", nil
			for k := range info.InternalTransactions {
				info.InternalTransactions[k].Rejected = true
			}
		}
		tx.RawData.Contract = []tron.Contract{c}
		b.Transactions = append(b.Transactions, tx)
		infos = append(infos, info)
	}
	id, err := tron.ComputeBlockID(&b.BlockHeader.RawData)
	if err != nil {
		tb.Fatal(err)
	}
	b.BlockID = id
	return b, infos
}

// BenchmarkDecodeBlock300 measures decoding of parsed 300-transaction blocks,
// with every id verified: what the ingest does per block once the JSON is
// read, internal transfers, memos and flags included. The figures that
// matter are blocks/s and events/s on one core (run with -cpu 1; see
// docs/benchmarks.md); blocks/cpu-s divides by the CPU time the process
// used instead of the wall time, so that it stays a per-core figure on a
// busy machine.
func BenchmarkDecodeBlock300(b *testing.B) {
	blk, infos := syntheticBlock(b, 1, 300)
	d := decode.NewDecoder(decode.DecoderConfig{})
	evs, err := d.DecodeBlock(blk, infos)
	if err != nil {
		b.Fatal(err)
	}
	internal := 0
	for _, e := range evs {
		if e.Kind == event.KindTRXInternalTransfer {
			internal++
		}
	}
	if internal == 0 {
		b.Fatal("the synthetic block has no internal transfer")
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := d.DecodeBlock(blk, infos); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/s, "blocks/s")
	b.ReportMetric(float64(b.N*len(evs))/s, "events/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "blocks/cpu-s")
	}
}

// BenchmarkParseAndDecodeBlock300 adds reading the node's JSON with the
// reader the client uses (goccy/go-json): the whole cost of a block from
// bytes to events.
func BenchmarkParseAndDecodeBlock300(b *testing.B) {
	blk, infos := syntheticBlock(b, 1, 300)
	bj, _ := json.Marshal(blk)
	ij, _ := json.Marshal(infos)
	d := decode.NewDecoder(decode.DecoderConfig{})
	b.SetBytes(int64(len(bj) + len(ij)))
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	for b.Loop() {
		var blk tron.Block
		var infos []tron.TxInfo
		if err := gojson.Unmarshal(bj, &blk); err != nil {
			b.Fatal(err)
		}
		if err := gojson.Unmarshal(ij, &infos); err != nil {
			b.Fatal(err)
		}
		evs, err := d.DecodeBlock(&blk, infos)
		if err != nil {
			b.Fatal(err)
		}
		events += len(evs)
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/s, "blocks/s")
	b.ReportMetric(float64(events)/s, "events/s")
}

// BenchmarkMarshalEvent is the cost the ingest pays per matched event.
func BenchmarkMarshalEvent(b *testing.B) {
	blk, infos := syntheticBlock(b, 1, 300)
	evs, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeBlock(blk, infos)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := json.Marshal(&evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
