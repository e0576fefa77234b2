package sim_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// grpcClients serves e's gRPC services on loopback and returns clients of
// them, every call carrying an API key the node must ignore.
func grpcClients(t testing.TB, e *sim.Endpoint) (tronpb.WalletClient, tronpb.WalletSolidityClient) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	e.RegisterGRPC(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	conn, err := grpc.NewClient(ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			ctx = metadata.AppendToOutgoingContext(ctx, "tron-pro-api-key", "ignored-by-the-simulator")
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	})
	return tronpb.NewWalletClient(conn), tronpb.NewWalletSolidityClient(conn)
}

func grpcCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pbBlock converts a gRPC block, nil for the empty answer of a missing
// block.
func pbBlock(t testing.TB, b *tronpb.BlockExtention) *tron.Block {
	t.Helper()
	if len(b.GetBlockid()) == 0 {
		require.Nil(t, b.GetBlockHeader(), "an empty answer")
		return nil
	}
	out, err := tron.BlockFromPB(b)
	require.NoError(t, err)
	return out
}

func TestGRPC_Wallet(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 6, TxsPerBlock: 8, InitialBlocks: 150})
	w, sol := grpcClients(t, s.Endpoint())
	ctx := grpcCtx(t)
	head, headID := s.Head()

	now, err := w.GetNowBlock2(ctx, &tronpb.EmptyMessage{})
	require.NoError(t, err)
	b := pbBlock(t, now)
	require.Equal(t, headID, b.BlockID)
	require.NoError(t, verify(b))

	// A block equals the HTTP one, and so do its infos.
	n := head - 3
	hb, hinfos := fetchBlock(t, base, n)
	gb, err := w.GetBlockByNum2(ctx, &tronpb.NumberMessage{Num: n})
	require.NoError(t, err)
	require.Equal(t, &hb, pbBlock(t, gb))
	gi, err := w.GetTransactionInfoByBlockNum(ctx, &tronpb.NumberMessage{Num: n})
	require.NoError(t, err)
	infos, err := tron.TxInfosFromPB(gi.GetTransactionInfo())
	require.NoError(t, err)
	require.Equal(t, hinfos, infos)

	// Missing blocks: an empty message, as java-tron answers.
	for _, missing := range []int64{head + 1, 5} {
		gb, err = w.GetBlockByNum2(ctx, &tronpb.NumberMessage{Num: missing})
		require.NoError(t, err)
		require.Nil(t, pbBlock(t, gb), "block %d", missing)
		gi, err = w.GetTransactionInfoByBlockNum(ctx, &tronpb.NumberMessage{Num: missing})
		require.NoError(t, err)
		require.Empty(t, gi.GetTransactionInfo())
	}

	first := s.First()
	ranges := []struct {
		name       string
		start, end int64
		want       int
	}{
		{"end exclusive", first, first + 3, 3},
		{"exactly the cap", first, first + 100, 100},
		{"over the cap", first, first + 101, 0},
		{"reversed", first + 5, first + 1, 0},
		{"clipped at head", head - 1, head + 10, 2},
	}
	for _, r := range ranges {
		l, err := w.GetBlockByLimitNext2(ctx, &tronpb.BlockLimit{StartNum: r.start, EndNum: r.end})
		require.NoError(t, err, r.name)
		require.Len(t, l.GetBlock(), r.want, r.name)
		if r.want > 0 {
			require.Equal(t, r.start, l.GetBlock()[0].GetBlockHeader().GetRawData().GetNumber(), r.name)
		}
	}

	ni, err := w.GetNodeInfo(ctx, &tronpb.EmptyMessage{})
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("Num:%d,ID:%s", head, headID), ni.GetBlock())
	require.Equal(t, fmt.Sprintf("Num:%d,ID:%s", s.Solid(), blockID(t, s, s.Solid())), ni.GetSolidityBlock())
	require.Equal(t, first, ni.GetBeginSyncNum())
	require.NotEmpty(t, ni.GetConfigNodeInfo().GetCodeVersion())

	// The solidity service stops at the solidified block.
	sn, err := sol.GetNowBlock2(ctx, &tronpb.EmptyMessage{})
	require.NoError(t, err)
	require.Equal(t, s.Solid(), pbBlock(t, sn).BlockHeader.RawData.Number)
	sb, err := sol.GetBlockByNum2(ctx, &tronpb.NumberMessage{Num: s.Solid() + 1})
	require.NoError(t, err)
	require.Nil(t, pbBlock(t, sb))
	si, err := sol.GetTransactionInfoByBlockNum(ctx, &tronpb.NumberMessage{Num: s.Solid()})
	require.NoError(t, err)
	_, wantInfos, err := s.Block(s.Solid())
	require.NoError(t, err)
	require.Len(t, si.GetTransactionInfo(), len(wantInfos))
}

func blockID(t testing.TB, s *sim.Sim, n int64) string {
	t.Helper()
	b, _, err := s.Block(n)
	require.NoError(t, err)
	return b.BlockID
}

// TestGRPC_TriggerConstantContract: the gRPC answer says what the HTTP one
// does, for each kind of answer.
func TestGRPC_TriggerConstantContract(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 6, TxsPerBlock: 8, InitialBlocks: 30})
	w, _ := grpcClients(t, s.Endpoint())
	ctx := grpcCtx(t)
	usdt, err := tron.ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(t, err)
	owner, err := tron.ParseAddress("TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vx")
	require.NoError(t, err)
	tests := []struct {
		name     string
		contract tron.Address
		owner    *tron.Address
		data     string
	}{
		{"symbol", usdt, &owner, "95d89b41"},
		{"decimals without owner", usdt, nil, "313ce567"},
		{"balanceOf", usdt, &owner, "70a08231" + "000000000000000000000000" + owner.Hex()[2:]},
		{"unknown method reverts", usdt, &owner, "deadbeef"},
		{"no such contract", owner, &owner, "95d89b41"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"contract_address": tc.contract.Hex(), "data": tc.data}
			in := &tronpb.TriggerSmartContract{ContractAddress: tc.contract[:]}
			in.Data, _ = hex.DecodeString(tc.data)
			if tc.owner != nil {
				body["owner_address"] = tc.owner.Hex()
				in.OwnerAddress = tc.owner[:]
			}
			_, raw := call(t, base, "/wallet/triggerconstantcontract", body)
			var want struct {
				Result struct {
					Result  bool
					Code    string
					Message string
				}
				EnergyUsed     int64    `json:"energy_used"`
				ConstantResult []string `json:"constant_result"`
				Transaction    *struct {
					TxID       string `json:"txID"`
					RawDataHex string `json:"raw_data_hex"`
				}
			}
			require.NoError(t, json.Unmarshal(raw, &want))

			got, err := w.TriggerConstantContract(ctx, in)
			require.NoError(t, err)
			require.Equal(t, want.Result.Result, got.GetResult().GetResult())
			if want.Result.Code != "" {
				require.Equal(t, want.Result.Code, got.GetResult().GetCode().String())
			}
			require.Equal(t, want.Result.Message, hex.EncodeToString(got.GetResult().GetMessage()))
			require.Equal(t, want.EnergyUsed, got.GetEnergyUsed())
			require.Len(t, got.GetConstantResult(), len(want.ConstantResult))
			for i, r := range want.ConstantResult {
				require.Equal(t, r, hex.EncodeToString(got.GetConstantResult()[i]))
			}
			if want.Transaction == nil {
				require.Nil(t, got.GetTransaction())
				return
			}
			require.Equal(t, want.Transaction.TxID, hex.EncodeToString(got.GetTxid()))
			b, err := tron.BlockToPB(&tron.Block{Transactions: []tron.Transaction{{RawDataHex: want.Transaction.RawDataHex, TxID: want.Transaction.TxID}}})
			require.NoError(t, err)
			require.Equal(t, b.GetTransactions()[0].GetTransaction().GetRawData().String(), got.GetTransaction().GetRawData().String())
		})
	}
}

// TestGRPC_Faults sets each fault on its own on an endpoint and reads it
// over gRPC.
func TestGRPC_Faults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults sim.Faults
		check  func(t *testing.T, s *sim.Sim, e *sim.Endpoint, w tronpb.WalletClient, sol tronpb.WalletSolidityClient)
	}{
		{"error rate", sim.Faults{ErrorRate: 1}, func(t *testing.T, _ *sim.Sim, e *sim.Endpoint, w tronpb.WalletClient, sol tronpb.WalletSolidityClient) {
			seen := map[codes.Code]int{}
			for range 30 {
				_, err := w.GetNowBlock2(grpcCtx(t), &tronpb.EmptyMessage{})
				seen[grpcstatus.Code(err)]++
			}
			require.Equal(t, 30, seen[codes.Internal]+seen[codes.Unavailable], "%v", seen)
			require.Positive(t, seen[codes.Internal], "%v", seen)
			require.Positive(t, seen[codes.Unavailable], "%v", seen)
			require.Equal(t, int64(30), e.Status().ErrorsInjected)
			_, err := sol.GetNowBlock2(grpcCtx(t), &tronpb.EmptyMessage{})
			require.Error(t, err, "the solidity service too")
		}},
		{"latency", sim.Faults{Latency: 60 * time.Millisecond}, func(t *testing.T, _ *sim.Sim, _ *sim.Endpoint, w tronpb.WalletClient, _ tronpb.WalletSolidityClient) {
			start := time.Now()
			_, err := w.GetNodeInfo(grpcCtx(t), &tronpb.EmptyMessage{})
			require.NoError(t, err)
			require.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)
			// A call that gives up first ends with its deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			defer cancel()
			_, err = w.GetNodeInfo(ctx, &tronpb.EmptyMessage{})
			require.Equal(t, codes.DeadlineExceeded, grpcstatus.Code(err))
		}},
		{"rate limit", sim.Faults{RateLimit: 2}, func(t *testing.T, _ *sim.Sim, e *sim.Endpoint, w tronpb.WalletClient, _ tronpb.WalletSolidityClient) {
			limited := 0
			for range 6 {
				var header, trailer metadata.MD
				_, err := w.GetNowBlock2(grpcCtx(t), &tronpb.EmptyMessage{}, grpc.Header(&header), grpc.Trailer(&trailer))
				if grpcstatus.Code(err) == codes.ResourceExhausted {
					limited++
					require.Equal(t, []string{"1"}, header.Get("retry-after"))
					require.Equal(t, []string{"1"}, trailer.Get("retry-after"))
					continue
				}
				require.NoError(t, err)
			}
			require.GreaterOrEqual(t, limited, 3)
			require.Equal(t, int64(limited), e.Status().RateLimited)
		}},
		{"stall", sim.Faults{Stall: true}, func(t *testing.T, s *sim.Sim, _ *sim.Endpoint, w tronpb.WalletClient, sol tronpb.WalletSolidityClient) {
			stalled, _ := s.Head()
			s.Mine(25)
			now, err := w.GetNowBlock2(grpcCtx(t), &tronpb.EmptyMessage{})
			require.NoError(t, err)
			require.Equal(t, stalled, now.GetBlockHeader().GetRawData().GetNumber())
			b, err := w.GetBlockByNum2(grpcCtx(t), &tronpb.NumberMessage{Num: stalled + 1})
			require.NoError(t, err)
			require.Nil(t, pbBlock(t, b))
			ni, err := w.GetNodeInfo(grpcCtx(t), &tronpb.EmptyMessage{})
			require.NoError(t, err)
			require.Contains(t, ni.GetBlock(), fmt.Sprintf("Num:%d,", stalled))
			sn, err := sol.GetNowBlock2(grpcCtx(t), &tronpb.EmptyMessage{})
			require.NoError(t, err)
			require.LessOrEqual(t, sn.GetBlockHeader().GetRawData().GetNumber(), stalled)
		}},
		{"lag", sim.Faults{Lag: 20}, func(t *testing.T, s *sim.Sim, _ *sim.Endpoint, w tronpb.WalletClient, sol tronpb.WalletSolidityClient) {
			head, _ := s.Head()
			now, err := w.GetNowBlock2(grpcCtx(t), &tronpb.EmptyMessage{})
			require.NoError(t, err)
			require.Equal(t, head-20, now.GetBlockHeader().GetRawData().GetNumber())
			l, err := w.GetBlockByLimitNext2(grpcCtx(t), &tronpb.BlockLimit{StartNum: head - 25, EndNum: head + 1})
			require.NoError(t, err)
			require.Len(t, l.GetBlock(), 6)
			sn, err := sol.GetNowBlock2(grpcCtx(t), &tronpb.EmptyMessage{})
			require.NoError(t, err)
			require.Equal(t, head-20, sn.GetBlockHeader().GetRawData().GetNumber())
		}},
		{"corrupt blocks", sim.Faults{CorruptBlocks: true}, func(t *testing.T, s *sim.Sim, _ *sim.Endpoint, w tronpb.WalletClient, _ tronpb.WalletSolidityClient) {
			head, _ := s.Head()
			l, err := w.GetBlockByLimitNext2(grpcCtx(t), &tronpb.BlockLimit{StartNum: head - 5, EndNum: head + 1})
			require.NoError(t, err)
			now, err := w.GetNowBlock2(grpcCtx(t), &tronpb.EmptyMessage{})
			require.NoError(t, err)
			one, err := w.GetBlockByNum2(grpcCtx(t), &tronpb.NumberMessage{Num: head - 1})
			require.NoError(t, err)
			blocks := append(l.GetBlock(), now, one)
			require.Len(t, blocks, 8)
			for _, pb := range blocks {
				b := pbBlock(t, pb)
				require.ErrorIs(t, verify(b), tron.ErrIntegrity, "block %d", b.BlockHeader.RawData.Number)
			}
		}},
		{"corrupt receipts", sim.Faults{CorruptReceipts: true}, func(t *testing.T, s *sim.Sim, _ *sim.Endpoint, w tronpb.WalletClient, _ tronpb.WalletSolidityClient) {
			head, _ := s.Head()
			for n := head - 3; n <= head; n++ {
				pb, err := w.GetBlockByNum2(grpcCtx(t), &tronpb.NumberMessage{Num: n})
				require.NoError(t, err)
				b := pbBlock(t, pb)
				require.NoError(t, verify(b))
				gi, err := w.GetTransactionInfoByBlockNum(grpcCtx(t), &tronpb.NumberMessage{Num: n})
				require.NoError(t, err)
				infos, err := tron.TxInfosFromPB(gi.GetTransactionInfo())
				require.NoError(t, err)
				require.False(t, matches(b, infos), "block %d", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := sim.New(sim.Config{Seed: 5, TxsPerBlock: 6, InitialBlocks: 40, Instant: true})
			require.NoError(t, err)
			e := s.NewEndpoint(tc.faults)
			w, sol := grpcClients(t, e)
			tc.check(t, s, e, w, sol)

			// The default endpoint of the same chain is unaffected.
			dw, _ := grpcClients(t, s.Endpoint())
			head, headID := s.Head()
			now, err := dw.GetNowBlock2(grpcCtx(t), &tronpb.EmptyMessage{})
			require.NoError(t, err)
			require.Equal(t, headID, hex.EncodeToString(now.GetBlockid()))
			gi, err := dw.GetTransactionInfoByBlockNum(grpcCtx(t), &tronpb.NumberMessage{Num: head})
			require.NoError(t, err)
			infos, err := tron.TxInfosFromPB(gi.GetTransactionInfo())
			require.NoError(t, err)
			b := pbBlock(t, now)
			require.NoError(t, verify(b))
			require.True(t, matches(b, infos))
		})
	}
}
